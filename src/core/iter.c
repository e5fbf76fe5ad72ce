#include "core/iter.h"

#include "core/error.h"

static int lacks(const mnemo_iter *it, const char *fn)
{
    return mnemo__err(MNEMO_EINVAL, "%s: a %s iterator has no such operation", fn, it->ops->kind);
}

static int is_live(const mnemo_iter *it) { return __atomic_load_n(it->live, __ATOMIC_ACQUIRE) != 0; }

/* 1 with the run's next entry made current, 0 when the run is spent or no longer live. */
static int take_run_entry(mnemo_iter *it)
{
    if (it->run_i >= it->run_n || !is_live(it))
        return 0;
    it->cur_k = it->run_k[it->run_i];
    it->cur_v = it->run_v[it->run_i];
    it->run_i++;
    return 1;
}

/* The current entry of a live iterator, lent to the caller. */
static int lend_entry(const mnemo_iter *it, const void **key, size_t *klen, const void **val, size_t *vlen)
{
    *key = it->cur_k.data;
    *klen = it->cur_k.len;
    *val = it->cur_v.data;
    *vlen = it->cur_v.len;
    return 0;
}

int mnemo_iter_next(mnemo_iter *it)
{
    if (!it)
        return mnemo__err(MNEMO_EINVAL, "mnemo_iter_next: iterator is NULL");
    return take_run_entry(it) ? 0 : it->ops->next(it);
}

int mnemo_iter_seek(mnemo_iter *it, const void *key, size_t klen)
{
    if (!it)
        return mnemo__err(MNEMO_EINVAL, "mnemo_iter_seek: iterator is NULL");
    if (!key && klen)
        return mnemo__err(MNEMO_EINVAL, "mnemo_iter_seek: key is NULL");
    return it->ops->seek ? it->ops->seek(it, key, klen) : lacks(it, "mnemo_iter_seek");
}

/* An entry served from the base (see iter.h); fn names the call for the message. */
static int served(mnemo_iter *it, const mnemo_slice *s, const void **data, size_t *len, const char *fn)
{
    if (!it->on_entry || !is_live(it))
        return mnemo__err(MNEMO_EINVAL, "%s: iterator is not on an entry", fn);
    *data = s->data;
    *len = s->len;
    return 0;
}

int mnemo_iter_key(mnemo_iter *it, const void **key, size_t *klen)
{
    if (!it || !key || !klen)
        return mnemo__err(MNEMO_EINVAL, "mnemo_iter_key: %s is NULL", !it ? "iterator" : "an out-parameter");
    if (it->live)
        return served(it, &it->cur_k, key, klen, "mnemo_iter_key");
    return it->ops->key ? it->ops->key(it, key, klen) : lacks(it, "mnemo_iter_key");
}

int mnemo_iter_value(mnemo_iter *it, const void **val, size_t *vlen)
{
    if (!it || !val || !vlen)
        return mnemo__err(MNEMO_EINVAL, "mnemo_iter_value: %s is NULL", !it ? "iterator" : "an out-parameter");
    if (it->live)
        return served(it, &it->cur_v, val, vlen, "mnemo_iter_value");
    return it->ops->value ? it->ops->value(it, val, vlen) : lacks(it, "mnemo_iter_value");
}

/* mnemo_iter_next_kv past the run: checks, the module's move, the accessors. */
__attribute__((noinline)) static int next_kv_slow(mnemo_iter *it, const void **key, size_t *klen, const void **val,
                                                  size_t *vlen)
{
    if (!it || !key || !klen || !val || !vlen)
        return mnemo__err(MNEMO_EINVAL, "mnemo_iter_next_kv: %s is NULL", !it ? "iterator" : "an out-parameter");
    if (!it->live && (!it->ops->key || !it->ops->value)) /* refused before it moves */
        return lacks(it, "mnemo_iter_next_kv");
    int rc = it->ops->next(it); /* the run is spent or no longer live: the module moves */
    if (rc)
        return rc;
    if (!it->live)
        return (rc = it->ops->key(it, key, klen)) ? rc : it->ops->value(it, val, vlen);
    return lend_entry(it, key, klen, val, vlen);
}

int mnemo_iter_next_kv(mnemo_iter *it, const void **key, size_t *klen, const void **val, size_t *vlen)
{
    /* A scan's common case in one call and no module: an entry of the run (iter.h). */
    if (it && key && klen && val && vlen && take_run_entry(it))
        return lend_entry(it, key, klen, val, vlen);
    return next_kv_slow(it, key, klen, val, vlen);
}

void mnemo_iter_free(mnemo_iter *it)
{
    if (it)
        it->ops->free(it);
}
