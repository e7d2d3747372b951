/* shm_pool.h: the public header of native/alloc/shm_pool.c, on the include path that
 * require('mempools/gyp').include_dir names (native/include). */
#include "../alloc/shm_pool.h"
