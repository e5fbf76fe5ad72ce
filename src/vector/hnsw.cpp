// The one C++ file of mnemo: a shim over Debian's header-only hnswlib 0.6.2 with a C interface
// (hnsw.h). hnswlib defines functions in its headers, so only this translation unit includes it.
// Every entry point catches every exception: nothing C++ crosses into C.
#include <hnswlib/hnswlib.h>

#include <immintrin.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <queue>
#include <string>
#include <vector>

extern "C" {
#include "core/alloc.h"
#include "core/error.h"
#include "mnemo/common.h"
}
#include "vector/hnsw.h"

using Index = hnswlib::HierarchicalNSW<float>;
using tableint = hnswlib::tableint;
using Pair = std::pair<float, tableint>;
using MaxHeap = std::priority_queue<Pair, std::vector<Pair>, Index::CompareByFirst>;

// ---- int8 codes (MNEMO_HNSW_SQ8) ----
// Each element is coded alone (inserts come one by one: no training pass to share a codebook):
// x[i] ~ m + s * c[i] with m the middle of the vector's range, s = range / 254 and c in -127..127.
// With sum = sum(c) and nrm = |x^|^2 (of the decoded vector) stored beside the codes, the dot
// product of two coded vectors is one integer dot product of their codes plus per-vector terms:
//   x^.y^ = dim*mx*my + mx*sy*sum_y + my*sx*sum_x + sx*sy*(cx.cy)
// so L2 = nrm_x + nrm_y - 2 x^.y^ and IP = 1 - x^.y^, both distances between the decoded vectors.
struct Sq8Head {
    float m, s, sum, nrm;
};
static_assert(sizeof(Sq8Head) == 16, "Sq8Head is the 16 bytes hnsw_layout.cpp counts");

struct Sq8Param {
    size_t dim;
    int32_t (*dot)(const int8_t *, const int8_t *, size_t);
    float (*qdot)(const float *, const int8_t *, size_t);
};

static int32_t dot_scalar(const int8_t *a, const int8_t *b, size_t n)
{
    int32_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc += (int32_t)a[i] * b[i];
    return acc;
}

// 32 codes a step: widened to 16 bits, multiplied and pair-summed to 32 bits (madd), exact.
__attribute__((target("avx2"))) static int32_t dot_avx2(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i x0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(a + i)));
        __m256i y0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(b + i)));
        __m256i x1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(a + i + 16)));
        __m256i y1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(b + i + 16)));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(x0, y0));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(x1, y1));
    }
    if (i + 16 <= n) {
        __m256i x0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(a + i)));
        __m256i y0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(b + i)));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(x0, y0));
        i += 16;
    }
    __m256i acc = _mm256_add_epi32(acc0, acc1);
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    int32_t r = _mm_cvtsi128_si32(s4);
    for (; i < n; i++)
        r += (int32_t)a[i] * b[i];
    return r;
}

static bool have_avx2()
{
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return yes;
}

// sum(q[i] * c[i]) of a float query and codes, 8 a step: codes widened to 32 bits, made floats, FMA.
__attribute__((target("avx2,fma"))) static float qdot_avx2(const float *q, const int8_t *c, size_t n)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(c + i))));
        __m256 c1 =
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(c + i + 8))));
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), c0, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), c1, acc1);
    }
    __m256 acc = _mm256_add_ps(acc0, acc1);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    s4 = _mm_add_ss(s4, _mm_shuffle_ps(s4, s4, 1));
    float r = _mm_cvtss_f32(s4);
    for (; i < n; i++)
        r += q[i] * c[i];
    return r;
}

static float qdot_scalar(const float *q, const int8_t *c, size_t n)
{
    float r = 0;
    for (size_t i = 0; i < n; i++)
        r += q[i] * c[i];
    return r;
}

// A search's query is not coded: its blob is a head with s = -1 (no element has a negative step),
// sum = sum(q), nrm = |q|^2, then the dim floats, so the graph ranks by the distance of the true
// query to each decoded vector (asymmetric: only the stored side carries quantization error).
// hnswlib passes the query first; an element pair (inserts) takes the integer kernel.
static inline double sq8_pair(const void *a, const void *b, const Sq8Param *p, double *nrm_sum)
{
    Sq8Head x, y;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    *nrm_sum = (double)x.nrm + y.nrm;
    if (x.s < 0) { // a: a float query
        const float *q = reinterpret_cast<const float *>(static_cast<const char *>(a) + sizeof x);
        const int8_t *c = static_cast<const int8_t *>(b) + sizeof y;
        return (double)y.m * x.sum + (double)y.s * p->qdot(q, c, p->dim);
    }
    const int8_t *cx = static_cast<const int8_t *>(a) + sizeof x, *cy = static_cast<const int8_t *>(b) + sizeof y;
    double idot = p->dot(cx, cy, p->dim);
    return (double)p->dim * x.m * y.m + (double)x.m * y.s * y.sum + (double)y.m * x.s * x.sum +
           (double)x.s * y.s * idot;
}

static float sq8_l2(const void *a, const void *b, const void *param)
{
    double nrm;
    double dot = sq8_pair(a, b, static_cast<const Sq8Param *>(param), &nrm);
    double d = nrm - 2 * dot;
    return d > 0 ? (float)d : 0.0f;
}

static float sq8_ip(const void *a, const void *b, const void *param)
{
    double nrm;
    return (float)(1.0 - sq8_pair(a, b, static_cast<const Sq8Param *>(param), &nrm));
}

// Codes vec (dim floats, finite) into out (16 + dim bytes; the padding after is the caller's). A
// constant vector (range 0) or one whose step is too small for a normal float gets step 0: every
// code 0, the vector decodes to m.
static void sq8_encode(char *out, const float *vec, size_t dim)
{
    float lo = vec[0], hi = vec[0];
    for (size_t i = 1; i < dim; i++) {
        lo = std::min(lo, vec[i]);
        hi = std::max(hi, vec[i]);
    }
    Sq8Head h;
    h.m = (float)(((double)lo + hi) / 2);
    h.s = (float)(((double)hi - lo) / 254);
    if (!std::isnormal(h.s))
        h.s = 0;
    int8_t *c = reinterpret_cast<int8_t *>(out + sizeof h);
    double sum = 0, sq = 0;
    for (size_t i = 0; i < dim; i++) {
        double q = h.s ? std::nearbyint(((double)vec[i] - h.m) / h.s) : 0;
        c[i] = (int8_t)std::max(-127.0, std::min(127.0, q));
        sum += c[i];
        sq += (double)c[i] * c[i];
    }
    h.sum = (float)sum; // exact: |sum| <= 127 * 65536 < 2^24
    h.nrm = (float)((double)dim * h.m * h.m + 2.0 * h.m * h.s * sum + (double)h.s * h.s * sq);
    memcpy(out, &h, sizeof h);
}

class Sq8Space : public hnswlib::SpaceInterface<float> {
    Sq8Param param_;
    hnswlib::DISTFUNC<float> f_;

public:
    Sq8Space(size_t dim, mnemo_hnsw_kind kind)
    {
        param_.dim = dim;
        param_.dot = have_avx2() ? dot_avx2 : dot_scalar;
        param_.qdot = have_avx2() ? qdot_avx2 : qdot_scalar;
        f_ = kind == MNEMO_HNSW_L2 ? sq8_l2 : sq8_ip;
    }
    size_t get_data_size() override { return mnemo_hnsw__sq8_bytes(param_.dim); }
    hnswlib::DISTFUNC<float> get_dist_func() override { return f_; }
    void *get_dist_func_param() override { return &param_; }
};

struct mnemo_hnsw {
    mnemo_hnsw_kind kind;
    size_t dim;
    bool sq8 = false;
    hnswlib::SpaceInterface<float> *space = nullptr;  // the graph's space (floats or codes)
    hnswlib::SpaceInterface<float> *fspace = nullptr; // float kernel of distance() (int8 index)
    Index *index = nullptr;
    std::vector<float> norms; // squared norm per slot, for exact scans (kept by add; float index)
    // label per slot, as hnswlib keeps it past the slot's vector: a filtered walk asks the label of
    // every node it meets, and a dense array makes that one load instead of a cache miss
    std::vector<uint64_t> labels;

    ~mnemo_hnsw()
    {
        delete index;
        delete space;
        delete fspace;
    }
};

static hnswlib::SpaceInterface<float> *make_fspace(mnemo_hnsw_kind kind, size_t dim)
{
    if (kind == MNEMO_HNSW_L2)
        return new hnswlib::L2Space(dim);
    return new hnswlib::InnerProductSpace(dim);
}

// Sets up h's spaces for kind (with or without MNEMO_HNSW_SQ8).
static void make_spaces(mnemo_hnsw *h, int kind, size_t dim)
{
    h->kind = static_cast<mnemo_hnsw_kind>(kind & ~MNEMO_HNSW_SQ8);
    h->dim = dim;
    h->sq8 = (kind & MNEMO_HNSW_SQ8) != 0;
    if (h->sq8) {
        h->space = new Sq8Space(dim, h->kind);
        h->fspace = make_fspace(h->kind, dim);
    } else {
        h->space = make_fspace(h->kind, dim);
    }
}

// A search query's blob (see sq8_pair) in buf; the floats themselves in a float index.
static const float *as_query(const mnemo_hnsw *h, const float *q, std::vector<char> &buf)
{
    if (!h->sq8)
        return q;
    buf.resize(sizeof(Sq8Head) + h->dim * sizeof(float));
    Sq8Head head;
    double sum = 0, nrm = 0;
    for (size_t i = 0; i < h->dim; i++) {
        sum += q[i];
        nrm += (double)q[i] * q[i];
    }
    head.m = 0;
    head.s = -1;
    head.sum = (float)sum;
    head.nrm = (float)nrm;
    memcpy(buf.data(), &head, sizeof head);
    memcpy(buf.data() + sizeof head, q, h->dim * sizeof(float));
    return reinterpret_cast<const float *>(buf.data());
}

// The query or element as the graph holds it: the floats, or their codes in buf.
static const void *as_stored(const mnemo_hnsw *h, const float *vec, std::vector<char> &buf)
{
    if (!h->sq8)
        return vec;
    buf.assign(mnemo_hnsw__sq8_bytes(h->dim), 0); // the padding is zero: snapshots and same() compare bytes
    sq8_encode(buf.data(), vec, h->dim);
    return buf.data();
}

// Runs f, turning exceptions into error codes.
template <typename F> static int guarded(const char *what, F f)
{
    try {
        return f();
    } catch (const std::bad_alloc &) {
        return mnemo__err_nomem(what);
    } catch (const std::exception &e) {
        return mnemo__err(MNEMO_ERROR, "%s: hnswlib: %s", what, e.what());
    } catch (...) {
        return mnemo__err(MNEMO_ERROR, "%s: hnswlib failed", what);
    }
}

extern "C" int mnemo_hnsw__create(mnemo_hnsw **out, mnemo_hnsw_kind kind, size_t dim, size_t capacity, size_t M,
                                  size_t ef_construction, uint64_t seed)
{
    return guarded("vector index", [&] {
        mnemo_hnsw *h = new mnemo_hnsw;
        try {
            make_spaces(h, kind, dim);
            h->index = new Index(h->space, capacity ? capacity : 1, M, ef_construction, seed);
            h->labels.resize(h->index->max_elements_);
            if (!h->sq8)
                h->norms.resize(h->index->max_elements_);
        } catch (...) {
            delete h;
            throw;
        }
        *out = h;
        return 0;
    });
}

extern "C" void mnemo_hnsw__free(mnemo_hnsw *h) { delete h; }

extern "C" int mnemo_hnsw__reserve(mnemo_hnsw *h, size_t capacity)
{
    if (capacity <= h->index->max_elements_)
        return 0;
    return guarded("vector index", [&] {
        if (!h->sq8)
            h->norms.resize(capacity);
        h->labels.resize(capacity);
        h->index->resizeIndex(capacity);
        return 0;
    });
}

extern "C" int mnemo_hnsw__add(mnemo_hnsw *h, const float *vec, uint64_t label)
{
    return guarded("vector index", [&] {
        // Adds hold the index alone (vector_impl.h rw), so no search reads labels meanwhile; distinct
        // slots per concurrent add: no race between adds.
        if (h->sq8) {
            std::vector<char> code;
            h->labels[h->index->addPoint(as_stored(h, vec, code), label, -1)] = label;
            return 0;
        }
        tableint slot = h->index->addPoint(vec, label, -1);
        h->labels[slot] = label;
        float n = 0;
        for (size_t i = 0; i < h->dim; i++)
            n += vec[i] * vec[i];
        h->norms[slot] = n;
        return 0;
    });
}

extern "C" int mnemo_hnsw__remove(mnemo_hnsw *h, uint64_t label)
{
    auto it = h->index->label_lookup_.find(label);
    if (it == h->index->label_lookup_.end() || h->index->isMarkedDeleted(it->second))
        return MNEMO_ENOTFOUND;
    return guarded("vector index", [&] {
        h->index->markDelete(label);
        return 0;
    });
}

extern "C" size_t mnemo_hnsw__slots(const mnemo_hnsw *h) { return h->index->cur_element_count; }
extern "C" size_t mnemo_hnsw__deleted(const mnemo_hnsw *h) { return h->index->num_deleted_; }
extern "C" size_t mnemo_hnsw__capacity(const mnemo_hnsw *h) { return h->index->max_elements_; }

extern "C" size_t mnemo_hnsw__memory(const mnemo_hnsw *h)
{
    const Index *ix = h->index;
    size_t bytes = ix->max_elements_ * (ix->size_data_per_element_ + sizeof(void *) + sizeof(int) +
                                        (h->sq8 ? 0 : sizeof(float)) + sizeof(uint64_t) + sizeof(std::mutex));
    for (size_t i = 0; i < ix->cur_element_count; i++)
        bytes += ix->element_levels_[i] * ix->size_links_per_element_;
    // the locks hnswlib keeps for updates of existing elements, a fixed 65,536 of them per index
    bytes += ix->link_list_update_locks_.size() * sizeof(std::mutex);
    // label table: a node per entry plus the bucket array
    bytes += ix->label_lookup_.size() * (sizeof(void *) + sizeof(hnswlib::labeltype) + sizeof(tableint) + 8) +
             ix->label_lookup_.bucket_count() * sizeof(void *);
    return bytes;
}

extern "C" int mnemo_hnsw__quantized(const mnemo_hnsw *h) { return h->sq8; }

extern "C" float mnemo_hnsw__step(const mnemo_hnsw *h, uint64_t label)
{
    auto it = h->index->label_lookup_.find(label);
    if (!h->sq8 || it == h->index->label_lookup_.end())
        return 0;
    Sq8Head head;
    memcpy(&head, h->index->getDataByInternalId(it->second), sizeof head);
    return head.s;
}

extern "C" int mnemo_hnsw__has(const mnemo_hnsw *h, uint64_t label)
{
    auto it = h->index->label_lookup_.find(label);
    return it != h->index->label_lookup_.end() && !h->index->isMarkedDeleted(it->second);
}

extern "C" int mnemo_hnsw__same(const mnemo_hnsw *h, uint64_t label, const float *vec)
{
    auto it = h->index->label_lookup_.find(label);
    if (it == h->index->label_lookup_.end() || h->index->isMarkedDeleted(it->second))
        return -1;
    size_t bytes = h->sq8 ? mnemo_hnsw__sq8_bytes(h->dim) : h->dim * sizeof(float);
    try {
        std::vector<char> code;
        return memcmp(h->index->getDataByInternalId(it->second), as_stored(h, vec, code), bytes) == 0;
    } catch (...) {
        return 0;
    }
}

extern "C" const float *mnemo_hnsw__vector(const mnemo_hnsw *h, uint64_t label)
{
    if (h->sq8)
        return nullptr;
    auto it = h->index->label_lookup_.find(label);
    if (it == h->index->label_lookup_.end() || h->index->isMarkedDeleted(it->second))
        return nullptr;
    return reinterpret_cast<const float *>(h->index->getDataByInternalId(it->second));
}

extern "C" const float *mnemo_hnsw__rows(const mnemo_hnsw *h, size_t *stride_floats, const float **norms)
{
    *stride_floats = h->index->size_data_per_element_ / sizeof(float);
    *norms = h->norms.data();
    if (h->sq8)
        return nullptr;
    return reinterpret_cast<const float *>(h->index->getDataByInternalId(0));
}

extern "C" int mnemo_hnsw__row_live(const mnemo_hnsw *h, size_t row)
{
    return !h->index->isMarkedDeleted(static_cast<tableint>(row));
}

extern "C" uint64_t mnemo_hnsw__row_label(const mnemo_hnsw *h, size_t row) { return h->labels[row]; }

extern "C" float mnemo_hnsw__distance(const mnemo_hnsw *h, const float *a, const float *b)
{
    if (h->sq8)
        return h->fspace->get_dist_func()(a, b, h->fspace->get_dist_func_param());
    return h->index->fstdistfunc_(a, b, h->index->dist_func_param_);
}

extern "C" int mnemo_hnsw__code_distances(const mnemo_hnsw *h, const float *query, const uint64_t *labels, size_t n,
                                          float *out)
{
    return guarded("vector search", [&] {
        std::vector<char> code;
        const float *q = as_query(h, query, code);
        const Index *ix = h->index;
        for (size_t i = 0; i < n; i++) {
            auto it = ix->label_lookup_.find(labels[i]);
            out[i] = it == ix->label_lookup_.end() || ix->isMarkedDeleted(it->second)
                         ? std::numeric_limits<float>::infinity()
                         : ix->fstdistfunc_(q, ix->getDataByInternalId(it->second), ix->dist_func_param_);
        }
        return 0;
    });
}

// Greedy descent through the upper layers to the entry point of layer 0.
static tableint descend(const Index *ix, const float *q)
{
    tableint cur = ix->enterpoint_node_;
    float curd = ix->fstdistfunc_(q, ix->getDataByInternalId(cur), ix->dist_func_param_);
    for (int level = ix->maxlevel_; level > 0; level--) {
        for (bool moved = true; moved;) {
            moved = false;
            unsigned int *ll = ix->get_linklist(cur, level);
            int n = ix->getListCount(ll);
            tableint *nb = reinterpret_cast<tableint *>(ll + 1);
            for (int i = 0; i < n; i++) {
                float d = ix->fstdistfunc_(q, ix->getDataByInternalId(nb[i]), ix->dist_func_param_);
                if (d < curd) {
                    curd = d;
                    cur = nb[i];
                    moved = true;
                }
            }
        }
    }
    return cur;
}

// Layer-0 beam search that admits into the result only live labels the filter accepts, while
// still walking through the others (hnswlib 0.6.2 has no filtered search of its own). With a
// selective filter the beam keeps expanding until ef accepted nodes are found or the graph runs
// out, which is what keeps recall up under filters.
//
// two_hop (for a filter that is cheap to ask and passes few): a neighbour the filter refuses is
// not measured but stepped over to its own neighbours, the accepted ones of which are measured
// in its place, at most M new ones per expansion (ACORN-1, Patel et al., SIGMOD 2024). The
// plain walk pays a distance (a whole vector read) for every refused node it passes, and must
// pass about ef / p of them; stepping over reads only the refused node's link list (and labels
// come from the dense array, not from past each node's vector).
static MaxHeap search_filtered(const mnemo_hnsw *h, tableint ep, const float *q, size_t ef,
                               mnemo_hnsw_filter filter, void *arg, bool two_hop)
{
    const Index *ix = h->index;
    hnswlib::VisitedList *vl = ix->visited_list_pool_->getFreeVisitedList();
    hnswlib::vl_type *visited = vl->mass;
    hnswlib::vl_type tag = vl->curV;
    MaxHeap top;        // accepted results, worst on top
    MaxHeap candidates; // to expand, stored negated so the nearest is on top
    const uint64_t *label = h->labels.data();
    bool any_deleted = ix->num_deleted_ != 0; // the deleted flag sits in the node's link list
    auto accept = [&](tableint id) { return (!any_deleted || !ix->isMarkedDeleted(id)) && filter(arg, label[id]); };
    float d = ix->fstdistfunc_(q, ix->getDataByInternalId(ep), ix->dist_func_param_);
    float bound = std::numeric_limits<float>::max();
    if (accept(ep)) {
        top.emplace(d, ep);
        bound = d;
    }
    candidates.emplace(-d, ep);
    visited[ep] = tag;
    // Measures nb; a candidate if it may improve the result, a result if accepted (known: ok).
    auto consider = [&](tableint nb, int ok) {
        float nd = ix->fstdistfunc_(q, ix->getDataByInternalId(nb), ix->dist_func_param_);
        if (top.size() < ef || nd < bound) {
            candidates.emplace(-nd, nb);
            if (ok > 0 || (ok < 0 && accept(nb))) {
                top.emplace(nd, nb);
                if (top.size() > ef)
                    top.pop();
                bound = top.top().first;
            }
        }
    };
    while (!candidates.empty()) {
        Pair c = candidates.top();
        if (-c.first > bound && top.size() >= ef)
            break;
        candidates.pop();
        int *ll = reinterpret_cast<int *>(ix->get_linklist0(c.second));
        size_t n = ix->getListCount(reinterpret_cast<unsigned int *>(ll));
        if (!two_hop) {
            for (size_t j = 1; j <= n; j++) {
                tableint nb = static_cast<tableint>(ll[j]);
                if (visited[nb] == tag)
                    continue;
                visited[nb] = tag;
                consider(nb, -1);
            }
            continue;
        }
        // Each neighbour's block is read next (its link list if refused, its vector if not): the
        // list's blocks are fetched together first, so their misses overlap.
        for (size_t j = 1; j <= n; j++)
            if (visited[ll[j]] != tag)
                __builtin_prefetch(ix->data_level0_memory_ + (size_t)ll[j] * ix->size_data_per_element_);
        size_t added = 0;
        for (size_t j = 1; j <= n && added < ix->maxM_; j++) {
            tableint nb = static_cast<tableint>(ll[j]);
            if (visited[nb] == tag)
                continue;
            visited[nb] = tag;
            if (accept(nb)) {
                consider(nb, 1);
                added++;
                continue;
            }
            int *l2 = reinterpret_cast<int *>(ix->get_linklist0(nb));
            size_t n2 = ix->getListCount(reinterpret_cast<unsigned int *>(l2));
            for (size_t i = 1; i <= n2 && added < ix->maxM_; i++) {
                tableint nb2 = static_cast<tableint>(l2[i]);
                if (visited[nb2] == tag || !accept(nb2))
                    continue; // a refused one stays unvisited: reached directly, it is stepped over too
                visited[nb2] = tag;
                consider(nb2, 1);
                added++;
            }
        }
    }
    ix->visited_list_pool_->releaseVisitedList(vl);
    return top;
}

extern "C" int mnemo_hnsw__search(const mnemo_hnsw *h, const float *query, size_t k, size_t ef,
                                  mnemo_hnsw_filter filter, void *arg, int two_hop, uint64_t *labels, float *dists,
                                  size_t *n)
{
    *n = 0;
    const Index *ix = h->index;
    if (ix->cur_element_count == 0 || k == 0)
        return 0;
    return guarded("vector search", [&] {
        size_t beam = std::max(ef, k);
        std::vector<char> code;
        const float *q = as_query(h, query, code);
        tableint ep = descend(ix, q);
        MaxHeap top;
        if (filter)
            top = search_filtered(h, ep, q, beam, filter, arg, two_hop != 0);
        else if (ix->num_deleted_)
            top = ix->searchBaseLayerST<true, false>(ep, q, beam);
        else
            top = ix->searchBaseLayerST<false, false>(ep, q, beam);
        while (top.size() > k)
            top.pop();
        size_t m = top.size();
        for (size_t i = m; i-- > 0;) { // the heap gives the farthest first
            labels[i] = ix->getExternalLabel(top.top().second);
            dists[i] = top.top().first;
            top.pop();
        }
        *n = m;
        return 0;
    });
}

// ---- persistence: hnswlib only saves to and loads from a path, so the bytes go through a memfd
// (memory only; nothing touches the disk outside RocksDB) ----

static std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

static size_t save_size(const Index *ix)
{
    size_t n = ix->cur_element_count, size = 10 * sizeof(size_t) + sizeof(int) + sizeof(tableint) + sizeof(double) +
                                             n * (ix->size_data_per_element_ + sizeof(unsigned));
    for (size_t i = 0; i < n; i++)
        size += ix->element_levels_[i] > 0 ? ix->size_links_per_element_ * (size_t)ix->element_levels_[i] : 0;
    return size;
}

extern "C" size_t mnemo_hnsw__save_size(const mnemo_hnsw *h) { return save_size(h->index); }

// Writes hnswlib's own saveIndex format straight into memory: a copy of the graph, so the index
// is held (shared) only for memcpys, not for file writes; load() reads the same bytes.
extern "C" int mnemo_hnsw__save_into(const mnemo_hnsw *h, char *b, size_t cap, size_t *len)
{
    const Index *ix = h->index;
    size_t n = ix->cur_element_count, size = save_size(ix);
    *len = size;
    if (size > cap)
        return MNEMO_ENOMEM; // the caller grows b and tries again
    char *p = b;
    auto put = [&p](const void *v, size_t l) {
        memcpy(p, v, l);
        p += l;
    };
    auto pods = [&put](const auto &...v) { (put(&v, sizeof v), ...); }; // saveIndex's header, in its order
    pods(ix->offsetLevel0_, ix->max_elements_, ix->cur_element_count, ix->size_data_per_element_, ix->label_offset_,
         ix->offsetData_, ix->maxlevel_, ix->enterpoint_node_, ix->maxM_, ix->maxM0_, ix->M_, ix->mult_,
         ix->ef_construction_);
    put(ix->data_level0_memory_, n * ix->size_data_per_element_);
    for (size_t i = 0; i < n; i++) {
        unsigned ls = ix->element_levels_[i] > 0 ? ix->size_links_per_element_ * ix->element_levels_[i] : 0;
        put(&ls, sizeof ls);
        if (ls)
            put(ix->linkLists_[i], ls);
    }
    return 0;
}

extern "C" int mnemo_hnsw__save(const mnemo_hnsw *h, char **buf, size_t *len)
{
    size_t size = save_size(h->index);
    char *b = static_cast<char *>(mnemo__malloc(size ? size : 1));
    if (!b)
        return mnemo__err_nomem("vector index save");
    (void)mnemo_hnsw__save_into(h, b, size, len);
    *buf = b;
    return 0;
}

extern "C" int mnemo_hnsw__load(mnemo_hnsw **out, mnemo_hnsw_kind kind, size_t dim, size_t M, const char *buf,
                                size_t len)
{
    int rc = mnemo_hnsw__check_layout(buf, len, dim, M, (kind & MNEMO_HNSW_SQ8) != 0);
    if (rc)
        return rc;
    int fd = memfd_create("mnemo-hnsw", MFD_CLOEXEC);
    if (fd < 0)
        return mnemo__err(MNEMO_EIO, "vector index: memfd_create failed: %s", strerror(errno));
    for (size_t done = 0; done < len;) {
        ssize_t w = pwrite(fd, buf + done, len - done, (off_t)done);
        if (w <= 0) {
            close(fd);
            return mnemo__err(MNEMO_EIO, "vector index load: %s", strerror(errno));
        }
        done += (size_t)w;
    }
    rc = guarded("vector index load", [&] {
        mnemo_hnsw *h = new mnemo_hnsw;
        try {
            make_spaces(h, kind, dim);
            // A fresh one-slot index gets every member initialised; loadIndex then replaces them.
            h->index = new Index(h->space, 1, M, 200, 100);
            free(h->index->data_level0_memory_);
            h->index->data_level0_memory_ = nullptr;
            free(h->index->linkLists_);
            h->index->linkLists_ = nullptr;
            delete h->index->visited_list_pool_;
            h->index->visited_list_pool_ = nullptr;
            h->index->num_deleted_ = 0;
            // Room for exactly the stored elements: the saved capacity is not trusted (a damaged
            // one would size every per-element table, up to terabytes); reserve() grows it.
            size_t count;
            memcpy(&count, buf + 2 * sizeof(size_t), sizeof count);
            h->index->loadIndex(fd_path(fd), h->space, count ? count : 1);
            h->labels.resize(h->index->max_elements_);
            for (size_t i = 0; i < h->index->cur_element_count; i++)
                h->labels[i] = h->index->getExternalLabel(static_cast<tableint>(i));
            if (h->sq8) {
                *out = h;
                return 0;
            }
            h->norms.resize(h->index->max_elements_);
            size_t stride = h->index->size_data_per_element_ / sizeof(float);
            const float *rows = reinterpret_cast<const float *>(h->index->getDataByInternalId(0));
            for (size_t i = 0; i < h->index->cur_element_count; i++) {
                float n = 0;
                for (size_t d = 0; d < dim; d++)
                    n += rows[i * stride + d] * rows[i * stride + d];
                h->norms[i] = n;
            }
        } catch (...) {
            delete h;
            throw;
        }
        *out = h;
        return 0;
    });
    close(fd);
    return rc;
}

extern "C" const char *mnemo_hnsw__simd(void)
{
#if defined(USE_AVX512)
    return "avx512";
#elif defined(USE_AVX)
    return "avx";
#elif defined(USE_SSE)
    return "sse";
#else
    return "none";
#endif
}

extern "C" const char *mnemo_hnsw__sq8_simd(void) { return have_avx2() ? "avx2" : "scalar"; }
