/* sha256.c: SHA-256 through BearSSL (the only TLS/crypto library we link). */
#include <bearssl_hash.h>

#include "util.h"

void sha256_raw(const void *data, size_t len, uint8_t out[32])
{
	br_sha256_context ctx;

	br_sha256_init(&ctx);
	br_sha256_update(&ctx, data, len);
	br_sha256_out(&ctx, out);
}

void sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t d[br_sha256_SIZE];

	sha256_raw(data, len, d);
	for (size_t i = 0; i < sizeof(d); i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
}
