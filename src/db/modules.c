/* The modules mnemo_open opens, in order: the one place the engine room names a module. The order
 * is also the order of their record listeners (record.h): edges, then the embedding, then postings
 * go with a deleted record. */
#include "db/db.h"
#include "graph/graph.h"
#include "record/record.h"
#include "text/text.h"
#include "vector/vector.h"

const mnemo_module_open mnemo_db__module_opens[] = {
    {"graph", mnemo_graph__open},   /* its record listener: edges die with their records */
    {"vector", mnemo_vector__open}, /* checks the vector space, loads its index; its record listener */
    {"text", mnemo_text__open},     /* its record listener: postings follow their records */
};
const unsigned mnemo_db__n_module_opens = sizeof mnemo_db__module_opens / sizeof mnemo_db__module_opens[0];

const mnemo_module_open mnemo_db__reclaim_opens[] = {
    {"graph", mnemo_graph__open},
};
const unsigned mnemo_db__n_reclaim_opens = sizeof mnemo_db__reclaim_opens / sizeof mnemo_db__reclaim_opens[0];

int mnemo_db__reclaim_records(mnemo_db *db, mnemo_txn *txn, size_t max, size_t *removed)
{
    return mnemo_record__remove_some(db, txn, max, removed);
}

void mnemo_db__module_stats(mnemo_db *db, mnemo_stats *out)
{
    mnemo_vector__residency(db, &out->collection_indexes_loaded, &out->collection_index_bytes,
                            &out->collection_index_evictions);
}
