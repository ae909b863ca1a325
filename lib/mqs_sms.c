/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_sms.c - the secure SMS envelope M1 (mqs_sms.h; docs/sms-envelope.md)
 * and the SMS segment count (docs/channels.md). */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "mqs_kdf.h"
#include "mqs_sms.h"
#include "mqs_util.h"
#include "mqs_utf8.h"

/* Write v big-endian into p (2 or 4 bytes). */
static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* K_msg of (key, header): HKDF-SHA256(key, salt = nonce, info =
 * "mqttsec-sms-v1" | key id | timestamp).  hdr is the 18-byte header. */
static int kmsg_derive(const uint8_t key[MQS_SMS_KEY_LEN], const uint8_t hdr[MQS_SMS_HDR_LEN],
                       uint8_t kmsg[MQS_SMS_KEY_LEN])
{
	uint8_t info[sizeof(MQS_SMS_INFO) - 1 + 6];

	memcpy(info, MQS_SMS_INFO, sizeof(MQS_SMS_INFO) - 1);
	memcpy(info + sizeof(MQS_SMS_INFO) - 1, hdr, 6);
	return mqs_kdf_hkdf(key, MQS_SMS_KEY_LEN, hdr + 6, MQS_SMS_NONCE_LEN, info, sizeof(info),
	                    kmsg, MQS_SMS_KEY_LEN);
}

/* AES-256-GCM over in (n bytes) into out under kmsg with the nonce of hdr
 * and AAD "#M1" | hdr | to.  enc 1 seals (writes the tag), 0 opens (checks
 * it).  Returns MQS_OK, MQS_ERR_ENV_AUTH (open only) or MQS_ERR_CRYPTO. */
static int gcm_run(int enc, const uint8_t kmsg[MQS_SMS_KEY_LEN], const uint8_t hdr[MQS_SMS_HDR_LEN],
                   const char *to, size_t to_len, const uint8_t *in, size_t n, uint8_t *out,
                   uint8_t tag[MQS_SMS_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0;
	int rc = MQS_ERR_CRYPTO;

	if (ctx == NULL)
		goto out;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, MQS_SMS_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, kmsg, hdr + 6, enc) != 1)
		goto out;
	if (EVP_CipherUpdate(ctx, NULL, &len, (const uint8_t *)MQS_SMS_PREFIX,
	                     MQS_SMS_PREFIX_LEN) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &len, hdr, MQS_SMS_HDR_LEN) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &len, (const uint8_t *)to, (int)to_len) != 1)
		goto out;
	if (n > 0 && EVP_CipherUpdate(ctx, out, &len, in, (int)n) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, MQS_SMS_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + n, &len) != 1) {
		rc = enc ? MQS_ERR_CRYPTO : MQS_ERR_ENV_AUTH;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, MQS_SMS_TAG_LEN, tag) != 1)
		goto out;
	rc = MQS_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* Sealed length; see header. */
size_t mqs_sms_sealed_len(size_t component_len, size_t text_len)
{
	size_t raw;

	if (component_len > MQS_SMS_COMPONENT_MAX || text_len > MQS_SMS_TEXT_MAX)
		return 0;
	raw = MQS_SMS_HDR_LEN + 2 + component_len + text_len + MQS_SMS_TAG_LEN;
	if (raw > MQS_SMS_RAW_MAX)
		return 0;
	return MQS_SMS_PREFIX_LEN + mqs_base64url_len(raw);
}

/* E.164 check; see header. */
int mqs_sms_to_valid(const char *to, size_t to_len)
{
	if (to == NULL || to_len < 2 || to_len > MQS_SMS_TO_MAX || to[0] != '+')
		return 0;
	for (size_t i = 1; i < to_len; i++) {
		if (to[i] < '0' || to[i] > '9')
			return 0;
	}
	return 1;
}

/* Seal; see header. */
int mqs_sms_seal(const uint8_t key[MQS_SMS_KEY_LEN], uint16_t key_id, uint32_t timestamp,
                 const uint8_t *nonce, const char *to, size_t to_len, uint8_t action,
                 const char *component, size_t component_len, const char *text, size_t text_len,
                 char *out, size_t out_cap, size_t *out_len)
{
	uint8_t raw[MQS_SMS_RAW_MAX];
	uint8_t plain[MQS_SMS_PLAIN_MAX];
	uint8_t kmsg[MQS_SMS_KEY_LEN];
	size_t need, plain_len = 0;
	int rc = MQS_ERR_INVAL;

	if (out_len != NULL)
		*out_len = 0;
	if (out != NULL && out_cap > 0)
		out[0] = '\0';
	if (key == NULL || out == NULL || out_len == NULL || action >= MQS_SMS_ACTION__COUNT ||
	    !mqs_sms_to_valid(to, to_len) || (component == NULL && component_len > 0) ||
	    (text == NULL && text_len > 0))
		goto out;
	rc = MQS_ERR_TOOBIG;
	need = mqs_sms_sealed_len(component_len, text_len);
	if (need == 0)
		goto out;
	rc = MQS_ERR_INVAL;
	if (!mqs_utf8_valid((const uint8_t *)component, component_len, 0) ||
	    !mqs_utf8_valid((const uint8_t *)text, text_len, 0))
		goto out;
	rc = MQS_ERR_BUFSIZE;
	if (out_cap < need + 1)
		goto out;
	put_be16(raw, key_id);
	put_be32(raw + 2, timestamp);
	rc = MQS_ERR_CRYPTO;
	if (nonce != NULL)
		memcpy(raw + 6, nonce, MQS_SMS_NONCE_LEN);
	else if (RAND_bytes(raw + 6, MQS_SMS_NONCE_LEN) != 1)
		goto out;
	plain[0] = action;
	plain[1] = (uint8_t)component_len;
	if (component_len > 0)
		memcpy(plain + 2, component, component_len);
	if (text_len > 0)
		memcpy(plain + 2 + component_len, text, text_len);
	plain_len = 2 + component_len + text_len;
	rc = kmsg_derive(key, raw, kmsg);
	if (rc != MQS_OK)
		goto out;
	rc = gcm_run(1, kmsg, raw, to, to_len, plain, plain_len, raw + MQS_SMS_HDR_LEN,
	             raw + MQS_SMS_HDR_LEN + plain_len);
	if (rc != MQS_OK)
		goto out;
	memcpy(out, MQS_SMS_PREFIX, MQS_SMS_PREFIX_LEN);
	mqs_base64url_encode(raw, MQS_SMS_HDR_LEN + plain_len + MQS_SMS_TAG_LEN,
	                     out + MQS_SMS_PREFIX_LEN);
	out[need] = '\0';
	*out_len = need;
out:
	OPENSSL_cleanse(plain, sizeof(plain));
	OPENSSL_cleanse(kmsg, sizeof(kmsg));
	return rc;
}

/* "#M1" prefix check; see header. */
int mqs_sms_is_sealed(const char *body, size_t body_len)
{
	return body != NULL && body_len >= MQS_SMS_PREFIX_LEN &&
	       memcmp(body, MQS_SMS_PREFIX, MQS_SMS_PREFIX_LEN) == 0;
}

/* Decode body into raw (MQS_SMS_RAW_MAX bytes). */
static int body_decode(const char *body, size_t body_len, uint8_t *raw, size_t *raw_len)
{
	int rc;

	*raw_len = 0;
	if (body == NULL)
		return MQS_ERR_INVAL;
	if (body_len > MQS_SMS_BODY_MAX)
		return MQS_ERR_TOOBIG;
	if (!mqs_sms_is_sealed(body, body_len))
		return MQS_ERR_PARSE;
	rc = mqs_base64url_decode(body + MQS_SMS_PREFIX_LEN, body_len - MQS_SMS_PREFIX_LEN, raw,
	                          MQS_SMS_RAW_MAX, raw_len);
	if (rc == MQS_OK && *raw_len < MQS_SMS_HDR_LEN + 2 + MQS_SMS_TAG_LEN)
		rc = MQS_ERR_PARSE;
	return rc;
}

/* Header fields of raw into msg. */
static void header_read(const uint8_t *raw, struct mqs_sms_msg *msg)
{
	msg->key_id = (uint16_t)(((unsigned)raw[0] << 8) | raw[1]);
	msg->timestamp =
	    ((uint32_t)raw[2] << 24) | ((uint32_t)raw[3] << 16) | ((uint32_t)raw[4] << 8) | raw[5];
	memcpy(msg->nonce, raw + 6, MQS_SMS_NONCE_LEN);
}

/* Parse; see header. */
int mqs_sms_parse(const char *body, size_t body_len, struct mqs_sms_msg *msg)
{
	uint8_t raw[MQS_SMS_RAW_MAX];
	size_t raw_len = 0;
	int rc = MQS_ERR_INVAL;

	if (msg == NULL)
		goto out;
	rc = body_decode(body, body_len, raw, &raw_len);
	if (rc != MQS_OK)
		goto out;
	header_read(raw, msg);
out:
	return rc;
}

/* Open; see header. */
int mqs_sms_open(const uint8_t key[MQS_SMS_KEY_LEN], const char *body, size_t body_len,
                 const char *to, size_t to_len, struct mqs_sms_msg *msg)
{
	uint8_t raw[MQS_SMS_RAW_MAX];
	uint8_t plain[MQS_SMS_PLAIN_MAX];
	uint8_t kmsg[MQS_SMS_KEY_LEN];
	size_t raw_len = 0, plain_len = 0, clen, tlen;
	int rc = MQS_ERR_INVAL;

	if (msg == NULL)
		goto out;
	memset(msg, 0, sizeof(*msg));
	if (key == NULL || !mqs_sms_to_valid(to, to_len))
		goto out;
	rc = body_decode(body, body_len, raw, &raw_len);
	if (rc != MQS_OK)
		goto out;
	header_read(raw, msg);
	plain_len = raw_len - MQS_SMS_HDR_LEN - MQS_SMS_TAG_LEN;
	rc = kmsg_derive(key, raw, kmsg);
	if (rc != MQS_OK)
		goto out;
	rc = gcm_run(0, kmsg, raw, to, to_len, raw + MQS_SMS_HDR_LEN, plain_len, plain,
	             raw + MQS_SMS_HDR_LEN + plain_len);
	if (rc != MQS_OK)
		goto out;
	rc = MQS_ERR_PARSE;
	clen = plain[1];
	if (plain[0] >= MQS_SMS_ACTION__COUNT || clen > MQS_SMS_COMPONENT_MAX ||
	    clen > plain_len - 2)
		goto out;
	tlen = plain_len - 2 - clen;
	if (!mqs_utf8_valid(plain + 2, clen, 0) || !mqs_utf8_valid(plain + 2 + clen, tlen, 0))
		goto out;
	msg->action = plain[0];
	memcpy(msg->component, plain + 2, clen);
	msg->component[clen] = '\0';
	msg->component_len = clen;
	memcpy(msg->text, plain + 2 + clen, tlen);
	msg->text[tlen] = '\0';
	msg->text_len = tlen;
	rc = MQS_OK;
out:
	OPENSSL_cleanse(plain, sizeof(plain));
	OPENSSL_cleanse(kmsg, sizeof(kmsg));
	if (rc != MQS_OK)
		mqs_sms_msg_wipe(msg);
	return rc;
}

/* Wipe; see header. */
void mqs_sms_msg_wipe(struct mqs_sms_msg *msg)
{
	if (msg != NULL)
		OPENSSL_cleanse(msg, sizeof(*msg));
}

/* Septets of code point cp in GSM-7 (1 basic set, 2 extension table), or 0
 * when cp has no GSM-7 form. */
static unsigned gsm7_septets(uint32_t cp)
{
	/* basic set beyond the ASCII letters, digits and the punctuation below */
	static const uint16_t basic[] = {
	    0x00A3, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, 0x00F2, 0x00C7, 0x00D8, 0x00F8,
	    0x00C5, 0x00E5, 0x0394, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, 0x03A3,
	    0x0398, 0x039E, 0x00C6, 0x00E6, 0x00DF, 0x00C9, 0x00A4, 0x00A1, 0x00C4, 0x00D6,
	    0x00D1, 0x00DC, 0x00A7, 0x00BF, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0};
	static const char ext[] = "^{}\\[~]|\f";

	if ((cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9'))
		return 1;
	if (cp == '\n' || cp == '\r' || (cp >= ' ' && cp <= '/') || (cp >= ':' && cp <= '@') ||
	    cp == '_')
		return 1;
	if (cp == 0x20AC)
		return 2;
	if (cp < 0x80 && cp != 0 && strchr(ext, (int)cp) != NULL)
		return 2;
	for (size_t i = 0; i < sizeof(basic) / sizeof(basic[0]); i++) {
		if (basic[i] == cp)
			return 1;
	}
	return 0;
}

/* Segments of n units with single/part capacities one/part. */
static unsigned segments_of(size_t n, size_t one, size_t part)
{
	if (n == 0)
		return 0;
	if (n <= one)
		return 1;
	return (unsigned)((n + part - 1) / part);
}

/* Segment count; see header. */
unsigned mqs_sms_segments(const char *text, size_t len, int *ucs2)
{
	const uint8_t *s = (const uint8_t *)text;
	size_t septets = 0, units = 0, i = 0;
	int gsm = 1;

	if (ucs2 != NULL)
		*ucs2 = 0;
	if (text == NULL || len == 0)
		return 0;
	while (i < len) {
		uint32_t cp = 0;
		size_t n = mqs_utf8_decode(s + i, len - i, &cp);
		unsigned sep;

		if (n == 0) {
			gsm = 0;
			units++;
			i++;
			continue;
		}
		sep = gsm7_septets(cp);
		if (sep == 0)
			gsm = 0;
		septets += sep;
		units += cp > 0xFFFF ? 2 : 1;
		i += n;
	}
	if (!gsm && ucs2 != NULL)
		*ucs2 = 1;
	return gsm ? segments_of(septets, 160, 153) : segments_of(units, 70, 67);
}
