// hnswlib 0.6.2 used the way its own examples use it: the baseline mnemo's index is measured against.
#include <hnswlib/hnswlib.h>

#include <thread>
#include <vector>

#include "hnsw_direct.h"

struct hd_index {
    hnswlib::L2Space space;
    hnswlib::HierarchicalNSW<float> index;
    hd_index(size_t dim, size_t cap, size_t M, size_t efc) : space(dim), index(&space, cap, M, efc, 100) {}
};

extern "C" hd_index *hd_create(size_t dim, size_t capacity, size_t M, size_t ef_construction)
{
    return new hd_index(dim, capacity, M, ef_construction);
}

extern "C" void hd_add(hd_index *h, const float *rows, size_t n, int threads)
{
    size_t dim = *static_cast<size_t *>(h->space.get_dist_func_param());
    std::atomic<size_t> next(0);
    auto work = [&] {
        for (size_t i; (i = next++) < n;)
            h->index.addPoint(rows + i * dim, i);
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; t++)
        pool.emplace_back(work);
    work();
    for (auto &t : pool)
        t.join();
}

extern "C" void hd_add_one(hd_index *h, const float *row, uint64_t label) { h->index.addPoint(row, label); }

extern "C" size_t hd_search(hd_index *h, const float *q, size_t k, size_t ef, uint64_t *labels)
{
    h->index.setEf(ef);
    auto res = h->index.searchKnn(q, k);
    size_t n = res.size();
    for (size_t i = n; i-- > 0;) {
        labels[i] = res.top().second;
        res.pop();
    }
    return n;
}

extern "C" size_t hd_memory(const hd_index *h)
{
    const auto &ix = h->index;
    size_t bytes = ix.max_elements_ * (ix.size_data_per_element_ + sizeof(void *) + sizeof(int) + sizeof(std::mutex));
    for (size_t i = 0; i < ix.cur_element_count; i++)
        bytes += ix.element_levels_[i] * ix.size_links_per_element_;
    return bytes + ix.label_lookup_.size() * 32 + ix.label_lookup_.bucket_count() * sizeof(void *);
}

extern "C" void hd_free(hd_index *h) { delete h; }
