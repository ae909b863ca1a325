/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_unsub.c - one-click unsubscribe tokens (gw_unsub.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gw_unsub.h"
#include "gw_util.h"

#define TOKEN_VERSION 0x02
#define TOKEN_BODY    26 /* version, recipient, created_at, channel, campaign */
#define TOKEN_TAG     16
#define TOKEN_RAW     (TOKEN_BODY + TOKEN_TAG)

/* The tag of body under the key derived from the master key (kept in the
 * store, derived once at open: GW_STORE_UNSUB_LABEL). */
static int token_tag(const struct gw_store *s, const uint8_t body[TOKEN_BODY],
                     uint8_t tag[TOKEN_TAG])
{
	uint8_t mac[32];
	unsigned int mlen = sizeof(mac);
	int rc = MQS_ERR_CRYPTO;

	if (HMAC(EVP_sha256(), s->unsub_key, sizeof(s->unsub_key), body, TOKEN_BODY, mac, &mlen) ==
	    NULL)
		goto out;
	memcpy(tag, mac, TOKEN_TAG);
	rc = MQS_OK;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/* Big-endian 64-bit store and load. */
static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Make a token. */
int gw_unsub_token_make(const struct gw_store *s, const struct gw_unsub_ref *ref,
                        char out[GW_UNSUB_TOKEN_LEN + 1])
{
	uint8_t raw[TOKEN_RAW];
	char b64[64];
	int n;

	if (ref->recipient_id <= 0 || ref->created_at < 0 || ref->channel < 0 ||
	    ref->channel >= GW_CH__COUNT || ref->campaign_id < 0)
		return MQS_ERR_INVAL;
	raw[0] = TOKEN_VERSION;
	put64(raw + 1, (uint64_t)ref->recipient_id);
	put64(raw + 9, (uint64_t)ref->created_at);
	raw[17] = (uint8_t)ref->channel;
	put64(raw + 18, (uint64_t)ref->campaign_id);
	if (token_tag(s, raw, raw + TOKEN_BODY) != MQS_OK)
		return MQS_ERR_CRYPTO;
	n = EVP_EncodeBlock((unsigned char *)b64, raw, TOKEN_RAW); /* 56, no padding */
	if (n != GW_UNSUB_TOKEN_LEN)
		return MQS_ERR_CRYPTO;
	for (int i = 0; i < GW_UNSUB_TOKEN_LEN; i++)
		out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	out[GW_UNSUB_TOKEN_LEN] = '\0';
	return MQS_OK;
}

/* Check a token. */
int gw_unsub_token_check(const struct gw_store *s, const char *token, size_t len,
                         struct gw_unsub_ref *ref)
{
	char b64[GW_UNSUB_TOKEN_LEN + 1], again[GW_UNSUB_TOKEN_LEN + 1];
	uint8_t raw[TOKEN_RAW + 2], tag[TOKEN_TAG];
	int n, ok;

	memset(ref, 0, sizeof(*ref));
	if (token == NULL || len != GW_UNSUB_TOKEN_LEN)
		return MQS_ERR_INVAL;
	for (size_t i = 0; i < len; i++) {
		char c = token[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return MQS_ERR_INVAL;
		b64[i] = c == '-' ? '+' : c == '_' ? '/' : c;
	}
	b64[len] = '\0';
	n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
	/* 56 characters decode to exactly 42 bytes: no padding, no spare bits */
	if (n != TOKEN_RAW || raw[0] != TOKEN_VERSION)
		return MQS_ERR_INVAL;
	/* canonical spelling only: the bytes must encode back to the token */
	if (EVP_EncodeBlock((unsigned char *)again, raw, TOKEN_RAW) != GW_UNSUB_TOKEN_LEN ||
	    CRYPTO_memcmp(again, b64, GW_UNSUB_TOKEN_LEN) != 0)
		return MQS_ERR_INVAL;
	if (token_tag(s, raw, tag) != MQS_OK)
		return MQS_ERR_INVAL;
	ok = CRYPTO_memcmp(tag, raw + TOKEN_BODY, TOKEN_TAG) == 0;
	OPENSSL_cleanse(tag, sizeof(tag));
	if (!ok || raw[17] >= GW_CH__COUNT || get64(raw + 1) == 0 ||
	    get64(raw + 1) > (uint64_t)INT64_MAX || get64(raw + 9) > (uint64_t)INT64_MAX ||
	    get64(raw + 18) > (uint64_t)INT64_MAX)
		return MQS_ERR_INVAL;
	ref->recipient_id = (int64_t)get64(raw + 1);
	ref->created_at = (int64_t)get64(raw + 9);
	ref->channel = raw[17];
	ref->campaign_id = (int64_t)get64(raw + 18);
	return MQS_OK;
}

/* The link of ref. */
int gw_unsub_url(const struct gw_store *s, const char *public_url, const struct gw_unsub_ref *ref,
                 char *out, size_t cap)
{
	char tok[GW_UNSUB_TOKEN_LEN + 1];
	int rc = gw_unsub_token_make(s, ref, tok);
	int n;

	if (rc != MQS_OK)
		return rc;
	n = snprintf(out, cap, "%s/u/%s", public_url, tok);
	return n < 0 || (size_t)n >= cap ? MQS_ERR_BUFSIZE : MQS_OK;
}
