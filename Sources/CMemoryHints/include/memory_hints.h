#ifndef MCSEC_MEMORY_HINTS_H
#define MCSEC_MEMORY_HINTS_H

// Swift has no spelling for a software prefetch. The streaming prediction reads a few random
// lines of tables of hundreds of megabytes per event; asking for them some events ahead lets
// their misses overlap the work on earlier events, where a plain read would stall until the
// line arrives.

/// Asks for the cache line holding `address`, to be written soon; never faults, never waits.
static inline __attribute__((always_inline)) void mcsec_prefetch(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

#endif
