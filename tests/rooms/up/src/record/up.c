/* check_rooms.sh must reject this: the record room includes the graph room, above it. */
#include "graph/graph.h"
