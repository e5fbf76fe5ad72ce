/* Internal API of the engine room (src/db/), for its own files: mnemo_open opens the store, then
 * the modules in the fixed order of the table in modules.c. The modules keep their per-database
 * state through the txn room (txn/txn.h: mnemo_db__module), so they never include this header. */
#ifndef MNEMO_DB_INTERNAL_H
#define MNEMO_DB_INTERNAL_H

#include "mnemo/db.h"

/* What mnemo_open runs once the store is open, in this order (modules.c): each checks or loads
 * what its module keeps in the database. A failure fails the open. */
typedef struct mnemo_module_open {
    const char *name;
    int (*open)(mnemo_db *db);
} mnemo_module_open;
extern const mnemo_module_open mnemo_db__module_opens[];
extern const unsigned mnemo_db__n_module_opens;

#endif
