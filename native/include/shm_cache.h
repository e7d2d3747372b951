/* shm_cache.h: the public header of native/alloc/shm_cache.c, on the include path that
 * require('mempools/gyp').include_dir names (native/include). */
#include "../alloc/shm_cache.h"
