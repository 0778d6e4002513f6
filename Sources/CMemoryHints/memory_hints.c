// The hints are inline functions of the header; this file makes the target a C library.
#include "memory_hints.h"
