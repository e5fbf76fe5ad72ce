/* The modules mnemo_open opens, in order: the one place the engine room names a module. */
#include "db/db.h"
#include "vector/vector.h"

const mnemo_module_open mnemo_db__module_opens[] = {
    {"vector", mnemo_vector__open}, /* checks the vector space and loads its index */
};
const unsigned mnemo_db__n_module_opens = sizeof mnemo_db__module_opens / sizeof mnemo_db__module_opens[0];
