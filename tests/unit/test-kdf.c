/* SPDX-License-Identifier: BSD-3-Clause */
/* test-kdf.c - HKDF-SHA256 against RFC 5869's test vectors, and the
 * derived keys of lib/mqs_kdf.c: distinct per purpose and per topic, and
 * bad arguments refused with the output wiped. */
#include "config.h"

#include <string.h>

#include "mqs_kdf.h"
#include "tap.h"

/* RFC 5869 A.1 */
static const uint8_t a1_okm[42] = {0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f,
                                   0x64, 0xd0, 0x36, 0x2f, 0x2a, 0x2d, 0x2d, 0x0a, 0x90, 0xcf, 0x1a,
                                   0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56, 0xec, 0xc4, 0xc5, 0xbf, 0x34,
                                   0x00, 0x72, 0x08, 0xd5, 0xb8, 0x87, 0x18, 0x58, 0x65};
/* RFC 5869 A.3 (empty salt and info) */
static const uint8_t a3_okm[42] = {0x8d, 0xa4, 0xe7, 0x75, 0xa5, 0x63, 0xc1, 0x8f, 0x71, 0x5f, 0x80,
                                   0x2a, 0x06, 0x3c, 0x5a, 0x31, 0xb8, 0xa1, 0x1f, 0x5c, 0x5e, 0xe1,
                                   0x87, 0x9e, 0xc3, 0x45, 0x4e, 0x5f, 0x3c, 0x73, 0x8d, 0x2d, 0x9d,
                                   0x20, 0x13, 0x95, 0xfa, 0xa4, 0xb6, 0x1a, 0x96, 0xc8};

int main(void)
{
	uint8_t ikm[22], salt[13], info[10], okm[42];
	uint8_t dk[MQS_KDF_KEY_LEN], a[MQS_KDF_KEY_LEN], b[MQS_KDF_KEY_LEN], c[MQS_KDF_KEY_LEN];
	uint8_t zero[MQS_KDF_KEY_LEN];
	size_t i;

	memset(ikm, 0x0b, sizeof(ikm));
	for (i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)i;
	for (i = 0; i < sizeof(info); i++)
		info[i] = (uint8_t)(0xf0 + i);
	tap_is_int(mqs_kdf_hkdf(ikm, sizeof(ikm), salt, sizeof(salt), info, sizeof(info), okm, 42),
	           MQS_OK, "rfc 5869 a.1 derives");
	tap_is_mem(okm, a1_okm, 42, "rfc 5869 a.1 output");
	tap_is_int(mqs_kdf_hkdf(ikm, sizeof(ikm), NULL, 0, NULL, 0, okm, 42), MQS_OK,
	           "rfc 5869 a.3 derives");
	tap_is_mem(okm, a3_okm, 42, "rfc 5869 a.3 output (empty salt and info)");

	memset(dk, 0x42, sizeof(dk));
	memset(zero, 0, sizeof(zero));
	tap_is_int(mqs_kdf_keys_answer(dk, a), MQS_OK, "key-answer key derives");
	tap_is_int(mqs_kdf_downlink(dk, "cmd/d1/set", 10, b), MQS_OK, "downlink key derives");
	tap_is_int(mqs_kdf_connect(dk, sizeof(dk), c), MQS_OK, "connect key derives");
	tap_ok(memcmp(a, b, 32) != 0 && memcmp(a, c, 32) != 0 && memcmp(b, c, 32) != 0 &&
	           memcmp(a, dk, 32) != 0,
	       "each purpose has its own key, none the raw key");
	tap_is_int(mqs_kdf_downlink(dk, "cmd/d2/set", 10, c), MQS_OK, "downlink of another topic");
	tap_ok(memcmp(b, c, 32) != 0, "each topic has its own downlink key");
	tap_is_int(
	    mqs_kdf_hkdf(dk, 32, NULL, 0, (const uint8_t *)"mqttsec-downlink-vcmd", 21, c, 32),
	    MQS_OK, "prefix-only derivation");

	memset(a, 0xaa, sizeof(a));
	tap_is_int(mqs_kdf_downlink(dk, "", 0, a), MQS_ERR_INVAL, "empty topic refused");
	tap_is_mem(a, zero, 32, "output wiped on refusal");
	memset(a, 0xaa, sizeof(a));
	tap_is_int(mqs_kdf_connect(dk, 129, a), MQS_ERR_INVAL, "a secret over 128 bytes refused");
	tap_is_mem(a, zero, 32, "output wiped on refusal");
	tap_is_int(mqs_kdf_hkdf(NULL, 0, NULL, 0, NULL, 0, a, 32), MQS_ERR_INVAL, "no ikm refused");
	tap_is_int(mqs_kdf_hkdf(dk, 32, NULL, 0, NULL, 0, a, 255 * 32 + 1), MQS_ERR_INVAL,
	           "too long an output refused");
	tap_done();
	return tap_exit();
}
