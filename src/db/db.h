/* Internal API of the engine room (src/db/): per-database state of the modules. mnemo_open opens
 * the store, then the modules in the fixed order of the table in modules.c. */
#ifndef MNEMO_DB_INTERNAL_H
#define MNEMO_DB_INTERNAL_H

#include "mnemo/db.h"

/* Per-database state of the modules (records, graph, vectors), created on first use so the rooms
 * below need to know nothing of them. destroy runs in mnemo_close after open transactions were
 * rolled back and before the store closes, so it may still write (without a transaction). */
typedef enum mnemo_module { MNEMO_MOD_RECORD = 0, MNEMO_MOD_GRAPH, MNEMO_MOD_VECTOR, MNEMO_MOD_COUNT } mnemo_module;
typedef struct mnemo_module_ops {
    int (*init)(mnemo_db *db, void **state);
    void (*destroy)(mnemo_db *db, void *state);
} mnemo_module_ops;
int mnemo_db__module(void **state, mnemo_db *db, mnemo_module m, const mnemo_module_ops *ops);
/* The module's state if it was created, else NULL (never creates it). */
void *mnemo_db__module_peek(mnemo_db *db, mnemo_module m);

/* What mnemo_open runs once the store is open, in this order (modules.c): each checks or loads
 * what its module keeps in the database. A failure fails the open. */
typedef struct mnemo_module_open {
    const char *name;
    int (*open)(mnemo_db *db);
} mnemo_module_open;
extern const mnemo_module_open mnemo_db__module_opens[];
extern const unsigned mnemo_db__n_module_opens;

#endif
