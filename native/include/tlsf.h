/* tlsf.h: the public header of native/alloc/tlsf.c, on the include path that
 * require('mempools/gyp').include_dir names (native/include). */
#include "../alloc/tlsf.h"
