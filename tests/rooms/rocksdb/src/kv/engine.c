/* check_rooms.sh must reject this: only src/store/rocksdb/ includes RocksDB headers. */
#include <rocksdb/db.h>
