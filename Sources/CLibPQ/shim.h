#ifndef SWITCHYARD_CLIBPQ_SHIM_H
#define SWITCHYARD_CLIBPQ_SHIM_H
// libpq has no variadic calls we use; the shim only pulls in the header that pkg-config locates.
#include <libpq-fe.h>
#endif
