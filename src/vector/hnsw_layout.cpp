// Structural check of a saved hnswlib 0.6.2 index, kept apart from the shim (hnsw.cpp) so that it
// is built like the rest of mnemo, with AddressSanitizer in the sanitizer and fuzz builds: the shim
// itself cannot be (see meson.build), and this is the code that reads untrusted bytes.
// The layout mirrors hnswlib's saveIndex: header fields, level-0 block, then per element the size
// and bytes of its upper-layer link lists.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

extern "C" {
#include "core/error.h"
#include "mnemo/common.h"
}
#include "vector/hnsw.h"

using tableint = unsigned int;  // hnswlib::tableint
using labeltype = size_t;       // hnswlib::labeltype

namespace {
// Reads hnswlib's header fields in their saved order.
struct Reader {
    const char *p, *end;
    template <typename T> bool get(T &v)
    {
        if ((size_t)(end - p) < sizeof v)
            return false;
        memcpy(&v, p, sizeof v);
        p += sizeof v;
        return true;
    }
};
} // namespace

// Checks that buf is a well-formed hnswlib 0.6.2 index for this space, so loadIndex (which trusts
// its input and cannot be safely abandoned half-way) never throws or reads out of bounds.
// One link list (u16 count, then tableints): at most max links, each to a slot below count that,
// when level is given, has at least min_level layers.
static int check_list(const char *ll, size_t max, size_t count, const unsigned char *level, size_t min_level,
                      size_t element)
{
    unsigned short n;
    memcpy(&n, ll, sizeof n);
    if (n > max)
        return mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: element %zu has a bad link list", element);
    for (unsigned j = 1; j <= n; j++) {
        tableint nb;
        memcpy(&nb, ll + j * sizeof(tableint), sizeof nb);
        if (nb >= count || (level && level[nb] < min_level))
            return mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: element %zu links outside", element);
    }
    return 0;
}

// Rounded up to 4 bytes: hnswlib lays elements end to end, and each starts with its u32 link count.
extern "C" size_t mnemo_hnsw__sq8_bytes(size_t dim) { return (4 * sizeof(float) + dim + 3) & ~(size_t)3; }

extern "C" int mnemo_hnsw__check_layout(const char *buf, size_t len, size_t dim, size_t M, int sq8)
{
    // An element's data: dim floats, or (int8 index) the four floats m, s, sum, nrm, dim codes and
    // padding to 4 bytes.
    size_t data_bytes = sq8 ? mnemo_hnsw__sq8_bytes(dim) : dim * sizeof(float);
    size_t n_floats = sq8 ? 4 : dim;
    int rc;
    Reader r{buf, buf + len};
    size_t offset0, max_el, count, per_el, label_off, data_off, maxM, maxM0, m, efc;
    int maxlevel;
    tableint ep;
    double mult;
    if (!r.get(offset0) || !r.get(max_el) || !r.get(count) || !r.get(per_el) || !r.get(label_off) ||
        !r.get(data_off) || !r.get(maxlevel) || !r.get(ep) || !r.get(maxM) || !r.get(maxM0) || !r.get(m) ||
        !r.get(mult) || !r.get(efc))
        return mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: header truncated");
    size_t links0 = maxM0 * sizeof(tableint) + sizeof(unsigned int);
    size_t links = maxM * sizeof(tableint) + sizeof(unsigned int);
    if (offset0 != 0 || m != M || maxM != M || maxM0 != 2 * M || data_off != links0 ||
        label_off != links0 + data_bytes || per_el != label_off + sizeof(labeltype) ||
        count > max_el || count > (1u << 31) || maxlevel < (count ? 0 : -1) || maxlevel > 64 ||
        (count && ep >= count) || (!count && (maxlevel != -1 || ep != (tableint)-1)))
        return mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: header does not fit the vector space");
    // The level multiplier draws every later insert's level (-log(u) * mult): hnswlib saves
    // 1 / log(M); anything else (negative, NaN, huge) makes addPoint size a link block from a
    // negative or giant level. ef_construction bounds each insert's search.
    double want_mult = 1.0 / std::log(1.0 * M);
    if (!(std::fabs(mult - want_mult) <= 1e-9 * want_mult) || efc == 0 || efc > 100000)
        return mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: level multiplier or ef_construction damaged");
    if ((size_t)(r.end - r.p) / per_el < count)
        return mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: truncated (%zu elements announced)", count);
    const char *level0 = r.p;
    r.p += count * per_el;
    // Labels must be distinct (hnswlib keeps one slot per label: a second one would be searched
    // but never updated or removed) and components finite (puts refuse NaN and infinities).
    std::vector<labeltype> labels(count);
    for (size_t i = 0; i < count; i++) {
        memcpy(&labels[i], level0 + i * per_el + label_off, sizeof labels[i]);
        for (size_t d = 0; d < n_floats; d++) {
            float f;
            memcpy(&f, level0 + i * per_el + data_off + d * sizeof f, sizeof f);
            if (!std::isfinite(f))
                return mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: element %zu is not finite", i);
        }
    }
    std::sort(labels.begin(), labels.end());
    if (std::adjacent_find(labels.begin(), labels.end()) != labels.end())
        return mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: a label is on two elements");
    for (size_t i = 0; i < count; i++) // level-0 neighbours must be valid slots
        if ((rc = check_list(level0 + i * per_el, maxM0, count, nullptr, 0, i)) != 0)
            return rc;
    // Upper layers: first every element's level, then every link must point at an element that
    // has that layer (the greedy descent reads the neighbour's list at the same level).
    std::vector<unsigned char> level(count);
    std::vector<const char *> upper(count);
    for (size_t i = 0; i < count; i++) {
        unsigned int size;
        if (!r.get(size) || size % links || size / links > 64 || (size_t)(r.end - r.p) < size)
            return mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: upper links of element %zu damaged", i);
        level[i] = (unsigned char)(size / links);
        upper[i] = r.p;
        r.p += size;
    }
    if (r.p != r.end)
        return mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: %zu stray bytes", (size_t)(r.end - r.p));
    if (count && level[ep] != maxlevel)
        return mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: entry point is not on the top level");
    for (size_t i = 0; i < count; i++)
        for (size_t lv = 0; lv < level[i]; lv++)
            if ((rc = check_list(upper[i] + lv * links, maxM, count, level.data(), lv + 1, i)) != 0)
                return rc;
    return 0;
}

