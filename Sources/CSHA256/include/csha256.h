#ifndef MCSEC_CSHA256_H
#define MCSEC_CSHA256_H

#include <stddef.h>
#include <stdint.h>

/// Nonzero when this CPU has the x86 SHA extensions (plus the SSSE3/SSE4.1 the code needs).
int mcsec_sha256_accelerated_supported(void);

/// Runs the SHA-256 compression function over `blocks` consecutive 64-byte blocks at `data`,
/// updating the eight chaining words in `state` (host order, H0 first). Call only when
/// `mcsec_sha256_accelerated_supported()` returned nonzero.
void mcsec_sha256_accelerated_compress(uint32_t state[8], const uint8_t *data, size_t blocks);

#endif
