/* check_rooms.sh must reject this: text and vector are on one level. */
#include "vector/vector.h"
