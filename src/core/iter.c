#include "core/iter.h"

#include "core/error.h"

static int lacks(const mnemo_iter *it, const char *fn)
{
    return mnemo__err(MNEMO_EINVAL, "%s: a %s iterator has no such operation", fn, it->ops->kind);
}

int mnemo_iter_next(mnemo_iter *it)
{
    if (!it)
        return mnemo__err(MNEMO_EINVAL, "mnemo_iter_next: iterator is NULL");
    return it->ops->next(it);
}

int mnemo_iter_seek(mnemo_iter *it, const void *key, size_t klen)
{
    if (!it)
        return mnemo__err(MNEMO_EINVAL, "mnemo_iter_seek: iterator is NULL");
    if (!key && klen)
        return mnemo__err(MNEMO_EINVAL, "mnemo_iter_seek: key is NULL");
    return it->ops->seek ? it->ops->seek(it, key, klen) : lacks(it, "mnemo_iter_seek");
}

int mnemo_iter_key(mnemo_iter *it, const void **key, size_t *klen)
{
    if (!it || !key || !klen)
        return mnemo__err(MNEMO_EINVAL, "mnemo_iter_key: %s is NULL", !it ? "iterator" : "an out-parameter");
    return it->ops->key ? it->ops->key(it, key, klen) : lacks(it, "mnemo_iter_key");
}

int mnemo_iter_value(mnemo_iter *it, const void **val, size_t *vlen)
{
    if (!it || !val || !vlen)
        return mnemo__err(MNEMO_EINVAL, "mnemo_iter_value: %s is NULL", !it ? "iterator" : "an out-parameter");
    return it->ops->value ? it->ops->value(it, val, vlen) : lacks(it, "mnemo_iter_value");
}

void mnemo_iter_free(mnemo_iter *it)
{
    if (it)
        it->ops->free(it);
}
