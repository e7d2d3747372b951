/* region_pool.h: the public header of native/alloc/region_pool.c, on the include path that
 * require('mempools/gyp').include_dir names (native/include). */
#include "../alloc/region_pool.h"
