/* libFuzzer target: the SNAP edge-list reader (mnemo_graph_import_edgelist). Any file must import
 * or fail with MNEMO_EINVAL naming a line, and leave the graph consistent (both directions, every
 * endpoint a record). One database per process; the first byte picks the batch size and whether
 * the import is undirected. */
#include <stdint.h>

#include "fuzz_common.h"

static mnemo_db *db;
static char file[400];

static void close_db(void) { mnemo_close(db); }

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[400];
    snprintf(path, sizeof path, "%s/db", fz_scratch());
    snprintf(file, sizeof file, "%s/edges.txt", fz_scratch());
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    if (mnemo_open(&db, path, &o))
        abort();
    atexit(close_db);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    FILE *f = fopen(file, "wb");
    if (!f)
        abort();
    if (size > 1 && fwrite(data + 1, 1, size - 1, f) != size - 1)
        abort();
    fclose(f);
    mnemo_graph_import_options o = MNEMO_GRAPH_IMPORT_OPTIONS_INIT;
    o.batch = 1 + (data[0] & 3);
    o.undirected = (data[0] >> 2) & 1;
    o.label = (data[0] & 8) ? "knows" : NULL;
    mnemo_graph_import_stats st = MNEMO_GRAPH_IMPORT_STATS_INIT;
    int rc = mnemo_graph_import_edgelist(db, file, &o, &st);
    fz_check_rc(rc, "import");
    if (rc == MNEMO_EINVAL && !strstr(mnemo_errmsg(), "line"))
        abort();
    if (st.lines > size)
        abort();
    fz_graph_check(db);
    return 0;
}
