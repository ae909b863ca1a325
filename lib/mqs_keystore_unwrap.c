/* mqs_keystore_unwrap.c - unwrap one key row without querying it again. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mqs_error.h"
#include "mqs_keystore.h"
#include "mqs_keystore_unwrap.h"

/* Unwrap one row's key; the AAD must stay the one mqs_keystore.c binds. */
int mqs_keystore_unwrap(const uint8_t mk[MQS_MASTER_KEY_LEN], uint32_t id, const char *purpose,
                        const uint8_t *wrapped, size_t wrapped_len,
                        uint8_t key[MQS_ENVELOPE_KEY_LEN])
{
	char aad[64];
	size_t n = 0;
	int rc;

	if (mk == NULL || key == NULL || wrapped == NULL || purpose == NULL ||
	    (strcmp(purpose, MQS_KEY_DEVICE) != 0 && strcmp(purpose, MQS_KEY_TOPIC) != 0))
		return MQS_ERR_INVAL;
	snprintf(aad, sizeof(aad), "mqttsec-key:%u:%s", (unsigned)id, purpose);
	rc = mqs_wrap_open(mk, aad, wrapped, wrapped_len, key, MQS_ENVELOPE_KEY_LEN, &n);
	if (rc == MQS_OK && n != MQS_ENVELOPE_KEY_LEN)
		rc = MQS_ERR_UNWRAP;
	if (rc != MQS_OK)
		OPENSSL_cleanse(key, MQS_ENVELOPE_KEY_LEN);
	return rc == MQS_ERR_BUFSIZE ? MQS_ERR_UNWRAP : rc;
}
