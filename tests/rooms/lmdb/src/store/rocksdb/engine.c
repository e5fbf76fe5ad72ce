/* check_rooms.sh must reject this: only src/store/lmdb/ includes the LMDB header. */
#include <lmdb.h>
