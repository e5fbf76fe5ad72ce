/* check_rooms.sh must reject this: a directory of src/ missing from the room order. */
#include "core/error.h"
