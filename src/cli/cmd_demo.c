/* demo: placeholder */
#include "cli/cli.h"
const cli_cmd cli_demo_cmds[] = {
    {NULL, NULL, NULL, NULL, {{NULL, 0}}, 0, 0, NULL},
};
