/* heap_pool.h: the public header of native/alloc/heap_pool.c, on the include path that
 * require('mempools/gyp').include_dir names (native/include). */
#include "../alloc/heap_pool.h"
