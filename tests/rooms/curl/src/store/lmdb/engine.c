/* check_rooms.sh must reject this: only src/store/etcd/ includes the libcurl headers. */
#include <curl/curl.h>
