// The one C++ file of mnemo: a shim over Debian's header-only hnswlib 0.6.2 with a C interface
// (hnsw.h). hnswlib defines functions in its headers, so only this translation unit includes it.
// Every entry point catches every exception: nothing C++ crosses into C.
#include <hnswlib/hnswlib.h>

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

struct mnemo_hnsw {
    mnemo_hnsw_kind kind;
    size_t dim;
    hnswlib::SpaceInterface<float> *space = nullptr;
    Index *index = nullptr;
    std::vector<float> norms; // squared norm per slot, for exact scans (kept by add)

    ~mnemo_hnsw()
    {
        delete index;
        delete space;
    }
};

static hnswlib::SpaceInterface<float> *make_space(mnemo_hnsw_kind kind, size_t dim)
{
    if (kind == MNEMO_HNSW_L2)
        return new hnswlib::L2Space(dim);
    return new hnswlib::InnerProductSpace(dim);
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
        h->kind = kind;
        h->dim = dim;
        try {
            h->space = make_space(kind, dim);
            h->index = new Index(h->space, capacity ? capacity : 1, M, ef_construction, seed);
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
        h->norms.resize(capacity);
        h->index->resizeIndex(capacity);
        return 0;
    });
}

extern "C" int mnemo_hnsw__add(mnemo_hnsw *h, const float *vec, uint64_t label)
{
    return guarded("vector index", [&] {
        tableint slot = h->index->addPoint(vec, label, -1);
        float n = 0;
        for (size_t i = 0; i < h->dim; i++)
            n += vec[i] * vec[i];
        h->norms[slot] = n; // distinct slots per concurrent add: no race
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
    size_t bytes = ix->max_elements_ * (ix->size_data_per_element_ + sizeof(void *) + sizeof(int) + sizeof(float) +
                                        sizeof(std::mutex));
    for (size_t i = 0; i < ix->cur_element_count; i++)
        bytes += ix->element_levels_[i] * ix->size_links_per_element_;
    // label table: a node per entry plus the bucket array
    bytes += ix->label_lookup_.size() * (sizeof(void *) + sizeof(hnswlib::labeltype) + sizeof(tableint) + 8) +
             ix->label_lookup_.bucket_count() * sizeof(void *);
    return bytes;
}

extern "C" const float *mnemo_hnsw__vector(const mnemo_hnsw *h, uint64_t label)
{
    auto it = h->index->label_lookup_.find(label);
    if (it == h->index->label_lookup_.end() || h->index->isMarkedDeleted(it->second))
        return nullptr;
    return reinterpret_cast<const float *>(h->index->getDataByInternalId(it->second));
}

extern "C" const float *mnemo_hnsw__rows(const mnemo_hnsw *h, size_t *stride_floats, const float **norms)
{
    *stride_floats = h->index->size_data_per_element_ / sizeof(float);
    *norms = h->norms.data();
    return reinterpret_cast<const float *>(h->index->getDataByInternalId(0));
}

extern "C" int mnemo_hnsw__row_live(const mnemo_hnsw *h, size_t row)
{
    return !h->index->isMarkedDeleted(static_cast<tableint>(row));
}

extern "C" uint64_t mnemo_hnsw__row_label(const mnemo_hnsw *h, size_t row)
{
    return h->index->getExternalLabel(static_cast<tableint>(row));
}

extern "C" float mnemo_hnsw__distance(const mnemo_hnsw *h, const float *a, const float *b)
{
    return h->index->fstdistfunc_(a, b, h->index->dist_func_param_);
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
static MaxHeap search_filtered(const Index *ix, tableint ep, const float *q, size_t ef, mnemo_hnsw_filter filter,
                               void *arg)
{
    hnswlib::VisitedList *vl = ix->visited_list_pool_->getFreeVisitedList();
    hnswlib::vl_type *visited = vl->mass;
    hnswlib::vl_type tag = vl->curV;
    MaxHeap top;        // accepted results, worst on top
    MaxHeap candidates; // to expand, stored negated so the nearest is on top
    auto accept = [&](tableint id) {
        return !ix->isMarkedDeleted(id) && filter(arg, ix->getExternalLabel(id));
    };
    float d = ix->fstdistfunc_(q, ix->getDataByInternalId(ep), ix->dist_func_param_);
    float bound = std::numeric_limits<float>::max();
    if (accept(ep)) {
        top.emplace(d, ep);
        bound = d;
    }
    candidates.emplace(-d, ep);
    visited[ep] = tag;
    while (!candidates.empty()) {
        Pair c = candidates.top();
        if (-c.first > bound && top.size() >= ef)
            break;
        candidates.pop();
        int *ll = reinterpret_cast<int *>(ix->get_linklist0(c.second));
        size_t n = ix->getListCount(reinterpret_cast<unsigned int *>(ll));
        for (size_t j = 1; j <= n; j++) {
            tableint nb = static_cast<tableint>(ll[j]);
            if (visited[nb] == tag)
                continue;
            visited[nb] = tag;
            float nd = ix->fstdistfunc_(q, ix->getDataByInternalId(nb), ix->dist_func_param_);
            if (top.size() < ef || nd < bound) {
                candidates.emplace(-nd, nb);
                if (accept(nb)) {
                    top.emplace(nd, nb);
                    if (top.size() > ef)
                        top.pop();
                    bound = top.top().first;
                }
            }
        }
    }
    ix->visited_list_pool_->releaseVisitedList(vl);
    return top;
}

extern "C" int mnemo_hnsw__search(const mnemo_hnsw *h, const float *query, size_t k, size_t ef,
                                  mnemo_hnsw_filter filter, void *arg, uint64_t *labels, float *dists, size_t *n)
{
    *n = 0;
    const Index *ix = h->index;
    if (ix->cur_element_count == 0 || k == 0)
        return 0;
    return guarded("vector search", [&] {
        size_t beam = std::max(ef, k);
        tableint ep = descend(ix, query);
        MaxHeap top;
        if (filter)
            top = search_filtered(ix, ep, query, beam, filter, arg);
        else if (ix->num_deleted_)
            top = ix->searchBaseLayerST<true, false>(ep, query, beam);
        else
            top = ix->searchBaseLayerST<false, false>(ep, query, beam);
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
    int rc = mnemo_hnsw__check_layout(buf, len, dim, M);
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
        h->kind = kind;
        h->dim = dim;
        try {
            h->space = make_space(kind, dim);
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
