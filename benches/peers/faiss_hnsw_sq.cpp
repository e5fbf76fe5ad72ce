// Copied from the team's peers harness (peers/faiss_hnsw.cpp) and made to measure FAISS
// IndexHNSWSQ (8-bit scalar quantizer, QT_8bit: per-dimension ranges trained on the base set; no
// re-ranking, distances of the codes) beside IndexHNSWFlat, the peers of bench_vector's
// "search_int8" lines. One thread (omp_set_num_threads(1)), L2, k = 10, timing loop repeated to
// >= 0.5 s, index memory from the code and link sizes.
// usage: faiss_hnsw_sq BASE.fvecs QUERY.fvecs GT.ivecs M EFC ef1,ef2,... [flat,sq8]
// Version: Debian libfaiss-dev 1.7.3 (as in the peers README). Build:
//   g++ -O2 -march=native -o faiss_hnsw_sq faiss_hnsw_sq.cpp -lfaiss -fopenmp -lopenblas
#include <faiss/IndexHNSW.h>
#include <faiss/IndexScalarQuantizer.h>
#include <omp.h>
#include <sys/resource.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>
template <class T> static std::vector<T> read_vecs(const char *p, int *dim, size_t *n) {
  FILE *f = fopen(p, "rb"); if (!f) { perror(p); exit(1); }
  std::vector<T> out; int d; *n = 0;
  while (fread(&d, 4, 1, f) == 1) { size_t o = out.size(); out.resize(o + d);
    if (fread(out.data() + o, 4, d, f) != (size_t)d) exit(2); *dim = d; (*n)++; }
  fclose(f); return out;
}
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
static double rss_mb() { struct rusage u; getrusage(RUSAGE_SELF, &u); return u.ru_maxrss / 1024.0; }
// Bytes of the graph (neighbour ids, offsets, levels) plus the stored codes.
static size_t index_bytes(const faiss::IndexHNSW &idx, size_t code_size) {
  const faiss::HNSW &h = idx.hnsw;
  return h.neighbors.size() * sizeof(h.neighbors[0]) + h.offsets.size() * sizeof(h.offsets[0]) +
         h.levels.size() * sizeof(h.levels[0]) + (size_t)idx.ntotal * code_size;
}
int main(int argc, char **argv) {
  if (argc < 7) { fprintf(stderr, "usage: faiss_hnsw_sq BASE QUERY GT M EFC ef1,ef2,... [flat,sq8]\n"); return 1; }
  omp_set_num_threads(1);
  int dim, qdim, gdim; size_t n, nq, ng;
  auto base = read_vecs<float>(argv[1], &dim, &n);
  auto q = read_vecs<float>(argv[2], &qdim, &nq);
  auto gt = read_vecs<int>(argv[3], &gdim, &ng);
  int M = atoi(argv[4]), efc = atoi(argv[5]);
  std::string kinds = argc > 7 ? argv[7] : "flat,sq8";
  double rss0 = rss_mb();
  std::stringstream ks(kinds); std::string kind;
  while (std::getline(ks, kind, ',')) {
    std::unique_ptr<faiss::IndexHNSW> idx;
    size_t code_size;
    if (kind == "sq8") { idx.reset(new faiss::IndexHNSWSQ(dim, faiss::ScalarQuantizer::QT_8bit, M)); code_size = dim; }
    else { idx.reset(new faiss::IndexHNSWFlat(dim, M)); code_size = dim * sizeof(float); }
    idx->hnsw.efConstruction = efc;
    double t0 = now();
    if (kind == "sq8") idx->train(n, base.data());
    idx->add(n, base.data());
    double build = now() - t0;
    std::stringstream ss(argv[6]); std::string tok;
    std::vector<float> dist(10); std::vector<faiss::Index::idx_t> lab(10);
    while (std::getline(ss, tok, ',')) {
      int ef = atoi(tok.c_str()); idx->hnsw.efSearch = ef;
      int reps = 0; double t1 = now(), el; size_t hits = 0;
      do { hits = 0;
        for (size_t i = 0; i < nq; i++) {
          idx->search(1, q.data() + i * dim, 10, dist.data(), lab.data());
          std::unordered_set<int> top(gt.begin() + i * gdim, gt.begin() + i * gdim + 10);
          for (int j = 0; j < 10; j++) if (top.count((int)lab[j])) hits++;
        }
        reps++; el = now() - t1; } while (el < 0.5 && reps < 1000);
      printf("{\"peer\":\"%s\",\"version\":\"%d.%d.%d\",\"n\":%zu,\"dim\":%d,\"M\":%d,\"efc\":%d,\"ef\":%d,\"threads\":1,"
             "\"build_s\":%.3f,\"recall_at_10\":%.4f,\"qps\":%.0f,\"index_bytes\":%zu,\"peak_rss_mb\":%.1f,\"data_rss_mb\":%.1f}\n",
             kind == "sq8" ? "faiss_hnswsq8" : "faiss_hnswflat", FAISS_VERSION_MAJOR, FAISS_VERSION_MINOR,
             FAISS_VERSION_PATCH, n, dim, M, efc, ef, build, hits / (10.0 * nq), nq * reps / el,
             index_bytes(*idx, code_size), rss_mb(), rss0);
      fflush(stdout);
    }
  }
  return 0;
}
