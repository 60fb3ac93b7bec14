// The engine reaches OpenBLAS only through this header (Debian: libopenblas-dev).
#include <cblas.h>
