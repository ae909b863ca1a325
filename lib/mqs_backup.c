/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_backup.c - the backup file format of docs/backup.md ("File format"):
 * X25519 + HKDF-SHA256 + AES-256-GCM chunks + Ed25519, OpenSSL EVP only,
 * and the in-memory SQLite copies a backup carries. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "mqs_alloc.h"
#include "mqs_backup.h"
#include "mqs_kdf.h"
#include "mqs_util.h"

#define BK_MAGIC      "mqsbkup\n"
#define BK_MAGIC_LEN  8
#define BK_INFO       "mqttsec-backup-v1"
#define BK_SIG_PREFIX "mqttsec-backup-v1 signature"
#define BK_TAG_LEN    16
#define BK_IV_LEN     12
#define BK_REC_HEAD   5 /* u32 plaintext length, u8 flags */
#define BK_FLAG_LAST  0x01
#define BK_AAD_LEN    (sizeof(BK_INFO) - 1 + 1 + 2 + MQS_BACKUP_KEY_LEN + 8 + 1 + 4)
#define BK_RETRIES    20

/* Big-endian stores and loads. */
static void put_u16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

static uint32_t get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
	return ((uint64_t)get_u32(p) << 32) | get_u32(p + 4);
}

/* A new key pair of type (EVP_PKEY_X25519 or EVP_PKEY_ED25519). */
static int bk_keygen(int type, uint8_t priv[MQS_BACKUP_KEY_LEN], uint8_t pub[MQS_BACKUP_KEY_LEN])
{
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	size_t n1 = MQS_BACKUP_KEY_LEN, n2 = MQS_BACKUP_KEY_LEN;
	int rc = MQS_ERR_CRYPTO;

	pctx = EVP_PKEY_CTX_new_id(type, NULL);
	if (pctx == NULL || EVP_PKEY_keygen_init(pctx) != 1 || EVP_PKEY_keygen(pctx, &pkey) != 1)
		goto out;
	if (EVP_PKEY_get_raw_private_key(pkey, priv, &n1) != 1 || n1 != MQS_BACKUP_KEY_LEN ||
	    EVP_PKEY_get_raw_public_key(pkey, pub, &n2) != 1 || n2 != MQS_BACKUP_KEY_LEN)
		goto out;
	rc = MQS_OK;
out:
	if (rc != MQS_OK) {
		OPENSSL_cleanse(priv, MQS_BACKUP_KEY_LEN);
		OPENSSL_cleanse(pub, MQS_BACKUP_KEY_LEN);
	}
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(pctx);
	return rc;
}

/* X25519 key pair (mqs_backup.h). */
int mqs_backup_x25519_keygen(uint8_t priv[MQS_BACKUP_KEY_LEN], uint8_t pub[MQS_BACKUP_KEY_LEN])
{
	return bk_keygen(EVP_PKEY_X25519, priv, pub);
}

/* Ed25519 key pair (mqs_backup.h). */
int mqs_backup_ed25519_keygen(uint8_t priv[MQS_BACKUP_KEY_LEN], uint8_t pub[MQS_BACKUP_KEY_LEN])
{
	return bk_keygen(EVP_PKEY_ED25519, priv, pub);
}

/* Public half of a private key (mqs_backup.h). */
int mqs_backup_public(int ed, const uint8_t priv[MQS_BACKUP_KEY_LEN],
                      uint8_t pub[MQS_BACKUP_KEY_LEN])
{
	EVP_PKEY *pkey;
	size_t n = MQS_BACKUP_KEY_LEN;
	int rc = MQS_ERR_CRYPTO;

	pkey = EVP_PKEY_new_raw_private_key(ed ? EVP_PKEY_ED25519 : EVP_PKEY_X25519, NULL, priv,
	                                    MQS_BACKUP_KEY_LEN);
	if (pkey == NULL)
		goto out;
	if (EVP_PKEY_get_raw_public_key(pkey, pub, &n) != 1 || n != MQS_BACKUP_KEY_LEN)
		goto out;
	rc = MQS_OK;
out:
	EVP_PKEY_free(pkey);
	return rc;
}

/* Key id: SHA-256(pub)[0..8) (mqs_backup.h). */
int mqs_backup_key_id(const uint8_t pub[MQS_BACKUP_KEY_LEN], uint8_t id[MQS_BACKUP_ID_LEN])
{
	uint8_t md[32];
	unsigned int n = 0;

	if (EVP_Digest(pub, MQS_BACKUP_KEY_LEN, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return MQS_ERR_CRYPTO;
	memcpy(id, md, MQS_BACKUP_ID_LEN);
	return MQS_OK;
}

/* The chunk key: HKDF(X25519(priv, peer), info | eph_pub | rcpt_pub). */
static int bk_derive(const uint8_t priv[MQS_BACKUP_KEY_LEN], const uint8_t peer[MQS_BACKUP_KEY_LEN],
                     const uint8_t eph_pub[MQS_BACKUP_KEY_LEN],
                     const uint8_t rcpt_pub[MQS_BACKUP_KEY_LEN], uint8_t key[32])
{
	EVP_PKEY *mine = NULL, *theirs = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t shared[32], info[sizeof(BK_INFO) - 1 + 2 * MQS_BACKUP_KEY_LEN];
	size_t n = sizeof(shared);
	int rc = MQS_ERR_CRYPTO;

	mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, MQS_BACKUP_KEY_LEN);
	theirs = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, MQS_BACKUP_KEY_LEN);
	if (mine == NULL || theirs == NULL)
		goto out;
	pctx = EVP_PKEY_CTX_new(mine, NULL);
	if (pctx == NULL || EVP_PKEY_derive_init(pctx) != 1 ||
	    EVP_PKEY_derive_set_peer(pctx, theirs) != 1 || EVP_PKEY_derive(pctx, shared, &n) != 1 ||
	    n != sizeof(shared))
		goto out;
	memcpy(info, BK_INFO, sizeof(BK_INFO) - 1);
	memcpy(info + sizeof(BK_INFO) - 1, eph_pub, MQS_BACKUP_KEY_LEN);
	memcpy(info + sizeof(BK_INFO) - 1 + MQS_BACKUP_KEY_LEN, rcpt_pub, MQS_BACKUP_KEY_LEN);
	rc = mqs_kdf_hkdf(shared, sizeof(shared), NULL, 0, info, sizeof(info), key, 32);
out:
	OPENSSL_cleanse(shared, sizeof(shared));
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(mine);
	EVP_PKEY_free(theirs);
	return rc;
}

/* The AAD and nonce of chunk index. */
static void bk_aad(uint8_t aad[BK_AAD_LEN], uint8_t iv[BK_IV_LEN], unsigned kind,
                   const uint8_t eph_pub[MQS_BACKUP_KEY_LEN], uint64_t index, int last,
                   uint32_t len)
{
	uint8_t *p = aad;

	memcpy(p, BK_INFO, sizeof(BK_INFO) - 1);
	p += sizeof(BK_INFO) - 1;
	*p++ = (uint8_t)kind;
	put_u16(p, MQS_BACKUP_VERSION);
	p += 2;
	memcpy(p, eph_pub, MQS_BACKUP_KEY_LEN);
	p += MQS_BACKUP_KEY_LEN;
	put_u64(p, index);
	p += 8;
	*p++ = last ? BK_FLAG_LAST : 0;
	put_u32(p, len);
	memset(iv, 0, 4);
	put_u64(iv + 4, index);
}

/* Seal (enc = 1) or open one chunk in place; tag is written or checked. */
static int bk_gcm(int enc, const uint8_t key[32], const uint8_t iv[BK_IV_LEN],
                  const uint8_t aad[BK_AAD_LEN], uint8_t *buf, size_t len, uint8_t tag[BK_TAG_LEN])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, rc = MQS_ERR_CRYPTO;

	if (c == NULL || EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv, enc) != 1 ||
	    EVP_CipherUpdate(c, NULL, &n, aad, BK_AAD_LEN) != 1)
		goto out;
	if (len > 0 && EVP_CipherUpdate(c, buf, &n, buf, (int)len) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, BK_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(c, buf + len, &n) != 1) {
		rc = enc ? MQS_ERR_CRYPTO : MQS_ERR_ENV_AUTH;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, BK_TAG_LEN, tag) != 1)
		goto out;
	rc = MQS_OK;
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

/* The Ed25519 message: prefix | SHA-512(header | chunks). */
static int bk_sig_msg(EVP_MD_CTX *h, uint8_t msg[sizeof(BK_SIG_PREFIX) - 1 + 64])
{
	unsigned int n = 0;

	memcpy(msg, BK_SIG_PREFIX, sizeof(BK_SIG_PREFIX) - 1);
	if (EVP_DigestFinal_ex(h, msg + sizeof(BK_SIG_PREFIX) - 1, &n) != 1 || n != 64)
		return MQS_ERR_CRYPTO;
	return MQS_OK;
}

/* Write len bytes to fd and into the running hash. */
static int bk_emit(int fd, EVP_MD_CTX *h, const uint8_t *p, size_t len)
{
	if (EVP_DigestUpdate(h, p, len) != 1)
		return MQS_ERR_CRYPTO;
	return mqs_write_all(fd, p, len);
}

/* Encode a header. */
static void bk_header_put(uint8_t out[MQS_BACKUP_HEADER_LEN], const struct mqs_backup_header *hd)
{
	size_t hl = strlen(hd->host);

	memset(out, 0, MQS_BACKUP_HEADER_LEN);
	memcpy(out, BK_MAGIC, BK_MAGIC_LEN);
	put_u16(out + 8, hd->version);
	out[10] = (uint8_t)hd->kind;
	put_u64(out + 12, (uint64_t)hd->created);
	out[20] = (uint8_t)hl;
	memcpy(out + 21, hd->host, hl);
	memcpy(out + 85, hd->eph_pub, MQS_BACKUP_KEY_LEN);
	memcpy(out + 117, hd->recipient_id, MQS_BACKUP_ID_LEN);
	memcpy(out + 125, hd->signer_id, MQS_BACKUP_ID_LEN);
	put_u32(out + 133, hd->chunk_size);
}

/* Decode a header; MQS_ERR_PARSE or MQS_ERR_ENV_VERSION. */
static int bk_header_get(const uint8_t in[MQS_BACKUP_HEADER_LEN], struct mqs_backup_header *hd,
                         const char **why)
{
	size_t hl;

	if (memcmp(in, BK_MAGIC, BK_MAGIC_LEN) != 0) {
		*why = "not an mqttsec backup";
		return MQS_ERR_PARSE;
	}
	hd->version = ((unsigned)in[8] << 8) | in[9];
	if (hd->version != MQS_BACKUP_VERSION) {
		*why = "unsupported backup format version";
		return MQS_ERR_ENV_VERSION;
	}
	hd->kind = in[10];
	hd->created = (int64_t)get_u64(in + 12);
	hl = in[20];
	if (in[11] != 0 || hl > MQS_BACKUP_HOST_MAX || hd->created < 0) {
		*why = "malformed backup header";
		return MQS_ERR_PARSE;
	}
	for (size_t i = 0; i < MQS_BACKUP_HOST_MAX; i++) {
		uint8_t c = in[21 + i];

		if ((i < hl && (c < 0x21 || c > 0x7e)) || (i >= hl && c != 0)) {
			*why = "malformed backup header";
			return MQS_ERR_PARSE;
		}
	}
	memcpy(hd->host, in + 21, hl);
	hd->host[hl] = '\0';
	memcpy(hd->eph_pub, in + 85, MQS_BACKUP_KEY_LEN);
	memcpy(hd->recipient_id, in + 117, MQS_BACKUP_ID_LEN);
	memcpy(hd->signer_id, in + 125, MQS_BACKUP_ID_LEN);
	hd->chunk_size = get_u32(in + 133);
	if (hd->chunk_size == 0 || hd->chunk_size > MQS_BACKUP_CHUNK_MAX) {
		*why = "malformed backup header";
		return MQS_ERR_PARSE;
	}
	return MQS_OK;
}

/* Copy n bytes of the logical plaintext (mk_len byte, mk, image) starting
 * at off into dst. */
static void bk_plain_copy(uint8_t *dst, uint64_t off, size_t n, const uint8_t *mk, size_t mk_len,
                          const uint8_t *image)
{
	while (n > 0) {
		if (off == 0) {
			*dst++ = (uint8_t)mk_len;
			off++;
			n--;
		} else if (off < 1 + mk_len) {
			size_t k = 1 + mk_len - (size_t)off;

			k = k < n ? k : n;
			memcpy(dst, mk + (off - 1), k);
			dst += k;
			off += k;
			n -= k;
		} else {
			memcpy(dst, image + (off - 1 - mk_len), n);
			n = 0;
		}
	}
}

/* Write a backup (mqs_backup.h). */
int mqs_backup_write(int fd, unsigned kind, int64_t created, const char *host,
                     const uint8_t recipient_pub[MQS_BACKUP_KEY_LEN],
                     const uint8_t sign_priv[MQS_BACKUP_KEY_LEN], const uint8_t *mk, size_t mk_len,
                     const uint8_t *image, size_t img_len, uint32_t chunk_size)
{
	struct mqs_backup_header hd;
	uint8_t eph_priv[MQS_BACKUP_KEY_LEN], key[32], sign_pub[MQS_BACKUP_KEY_LEN];
	uint8_t head[MQS_BACKUP_HEADER_LEN], aad[BK_AAD_LEN], iv[BK_IV_LEN], rec[BK_REC_HEAD];
	uint8_t tag[BK_TAG_LEN], msg[sizeof(BK_SIG_PREFIX) - 1 + 64], sig[MQS_BACKUP_SIG_LEN];
	uint8_t *buf = NULL;
	EVP_MD_CTX *h = NULL, *s = NULL;
	EVP_PKEY *sk = NULL;
	uint64_t total, off = 0, index = 0;
	size_t siglen = sizeof(sig), hl;
	int rc = MQS_ERR_INVAL;

	memset(&hd, 0, sizeof(hd));
	if (fd < 0 || (kind != MQS_BACKUP_KIND_BROKER && kind != MQS_BACKUP_KIND_GATEWAY) ||
	    host == NULL || recipient_pub == NULL || sign_priv == NULL || mk == NULL ||
	    mk_len == 0 || mk_len > MQS_BACKUP_MK_MAX || (image == NULL && img_len != 0) ||
	    created < 0 || chunk_size > MQS_BACKUP_CHUNK_MAX)
		goto out;
	rc = MQS_ERR_TOOBIG;
	if ((uint64_t)img_len > MQS_BACKUP_PLAIN_MAX - 1 - mk_len)
		goto out;
	total = 1 + (uint64_t)mk_len + img_len;
	if (chunk_size == 0)
		chunk_size = MQS_BACKUP_CHUNK;
	hd.version = MQS_BACKUP_VERSION;
	hd.kind = kind;
	hd.created = created;
	hl = strlen(host);
	hl = hl > MQS_BACKUP_HOST_MAX ? MQS_BACKUP_HOST_MAX : hl;
	for (size_t i = 0; i < hl; i++)
		hd.host[i] = host[i] > 0x20 && host[i] < 0x7f ? host[i] : '_';
	hd.chunk_size = chunk_size;
	rc = mqs_backup_x25519_keygen(eph_priv, hd.eph_pub);
	if (rc != MQS_OK)
		goto out;
	rc = mqs_backup_key_id(recipient_pub, hd.recipient_id);
	if (rc != MQS_OK)
		goto out;
	rc = mqs_backup_public(1, sign_priv, sign_pub);
	if (rc != MQS_OK)
		goto out;
	rc = mqs_backup_key_id(sign_pub, hd.signer_id);
	if (rc != MQS_OK)
		goto out;
	rc = bk_derive(eph_priv, recipient_pub, hd.eph_pub, recipient_pub, key);
	if (rc != MQS_OK)
		goto out;
	rc = MQS_ERR_NOMEM;
	buf = mqs_malloc((size_t)chunk_size + BK_TAG_LEN);
	h = EVP_MD_CTX_new();
	s = EVP_MD_CTX_new();
	if (buf == NULL || h == NULL || s == NULL)
		goto out;
	rc = MQS_ERR_CRYPTO;
	if (EVP_DigestInit_ex(h, EVP_sha512(), NULL) != 1)
		goto out;
	bk_header_put(head, &hd);
	rc = bk_emit(fd, h, head, sizeof(head));
	while (rc == MQS_OK) {
		uint64_t left = total - off;
		size_t n = left > chunk_size ? chunk_size : (size_t)left;
		int last = left <= chunk_size;

		bk_plain_copy(buf, off, n, mk, mk_len, image);
		bk_aad(aad, iv, kind, hd.eph_pub, index, last, (uint32_t)n);
		rc = bk_gcm(1, key, iv, aad, buf, n, tag);
		if (rc != MQS_OK)
			break;
		put_u32(rec, (uint32_t)n);
		rec[4] = last ? BK_FLAG_LAST : 0;
		rc = bk_emit(fd, h, rec, sizeof(rec));
		if (rc == MQS_OK)
			rc = bk_emit(fd, h, buf, n);
		if (rc == MQS_OK)
			rc = bk_emit(fd, h, tag, sizeof(tag));
		off += n;
		index++;
		if (last)
			break;
	}
	if (rc != MQS_OK)
		goto out;
	rc = bk_sig_msg(h, msg);
	if (rc != MQS_OK)
		goto out;
	rc = MQS_ERR_CRYPTO;
	sk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sign_priv, MQS_BACKUP_KEY_LEN);
	if (sk == NULL || EVP_DigestSignInit(s, NULL, NULL, NULL, sk) != 1 ||
	    EVP_DigestSign(s, sig, &siglen, msg, sizeof(msg)) != 1 || siglen != sizeof(sig))
		goto out;
	rc = mqs_write_all(fd, sig, sizeof(sig));
out:
	OPENSSL_cleanse(eph_priv, sizeof(eph_priv));
	OPENSSL_cleanse(key, sizeof(key));
	if (buf != NULL)
		mqs_secret_free(buf, (size_t)chunk_size + BK_TAG_LEN);
	EVP_MD_CTX_free(h);
	EVP_MD_CTX_free(s);
	EVP_PKEY_free(sk);
	return rc;
}

/* Read exactly len bytes; MQS_ERR_ENV_TRUNCATED at end of file. */
static int bk_read_exact(int fd, uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return MQS_ERR_IO;
		if (n == 0)
			return MQS_ERR_ENV_TRUNCATED;
		p += n;
		len -= (size_t)n;
	}
	return MQS_OK;
}

/* Read the signature that ends a backup into sig and check that nothing
 * follows it.  MQS_OK, or an error with the reason in *why. */
static int bk_read_sig(int fd, uint8_t sig[MQS_BACKUP_SIG_LEN], const char **why)
{
	uint8_t extra;
	int rc = bk_read_exact(fd, sig, MQS_BACKUP_SIG_LEN);

	if (rc == MQS_ERR_ENV_TRUNCATED)
		*why = "truncated backup (no signature)";
	if (rc != MQS_OK)
		return rc;
	rc = bk_read_exact(fd, &extra, 1);
	if (rc == MQS_ERR_ENV_TRUNCATED)
		return MQS_OK;
	*why = rc == MQS_OK ? "damaged backup (data after the signature)" : "cannot read backup";
	return rc == MQS_OK ? MQS_ERR_ENV_AUTH : rc;
}

/* Read len bytes and add them to the running hash. */
static int bk_take(int fd, EVP_MD_CTX *h, uint8_t *p, size_t len)
{
	int rc = bk_read_exact(fd, p, len);

	if (rc == MQS_OK && EVP_DigestUpdate(h, p, len) != 1)
		rc = MQS_ERR_CRYPTO;
	return rc;
}

/* Verify the Ed25519 signature (signer_pub) over an Ed25519 message. */
static int bk_sig_check(const uint8_t signer_pub[MQS_BACKUP_KEY_LEN],
                        const uint8_t msg[sizeof(BK_SIG_PREFIX) - 1 + 64],
                        const uint8_t sig[MQS_BACKUP_SIG_LEN])
{
	EVP_PKEY *pk;
	EVP_MD_CTX *v = EVP_MD_CTX_new();
	int rc = MQS_ERR_CRYPTO;

	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, signer_pub, MQS_BACKUP_KEY_LEN);
	if (pk == NULL || v == NULL || EVP_DigestVerifyInit(v, NULL, NULL, NULL, pk) != 1)
		goto out;
	rc = EVP_DigestVerify(v, sig, MQS_BACKUP_SIG_LEN, msg, sizeof(BK_SIG_PREFIX) - 1 + 64) == 1
	         ? MQS_OK
	         : MQS_ERR_PERM;
out:
	EVP_MD_CTX_free(v);
	EVP_PKEY_free(pk);
	return rc;
}

/* First pass over a seekable file, right after the header: the chunk
 * structure, the size (*total, at most max_plain), nothing after the
 * signature, and the signature, with one chunk of memory and no
 * decryption; then back to the first chunk.  So a forged file (anyone can
 * encrypt to the public recovery key) is refused before any plaintext
 * exists or grows in memory. */
static int bk_prepass(int fd, const struct mqs_backup_header *hd,
                      const uint8_t head[MQS_BACKUP_HEADER_LEN],
                      const uint8_t signer_pub[MQS_BACKUP_KEY_LEN], uint64_t max_plain,
                      uint64_t *total, const char **why)
{
	uint8_t rec[BK_REC_HEAD], msg[sizeof(BK_SIG_PREFIX) - 1 + 64], sig[MQS_BACKUP_SIG_LEN];
	uint8_t *buf = NULL;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	int rc = MQS_ERR_NOMEM, last = 0;

	*total = 0;
	*why = "out of memory";
	buf = mqs_malloc((size_t)hd->chunk_size + BK_TAG_LEN);
	if (h == NULL || buf == NULL)
		goto out;
	rc = MQS_ERR_CRYPTO;
	*why = "crypto failure";
	if (EVP_DigestInit_ex(h, EVP_sha512(), NULL) != 1 ||
	    EVP_DigestUpdate(h, head, MQS_BACKUP_HEADER_LEN) != 1)
		goto out;
	while (!last) {
		uint32_t n;

		rc = bk_take(fd, h, rec, sizeof(rec));
		if (rc != MQS_OK)
			break;
		n = get_u32(rec);
		last = (rec[4] & BK_FLAG_LAST) != 0;
		if ((rec[4] & ~BK_FLAG_LAST) != 0 || n > hd->chunk_size ||
		    (!last && n != hd->chunk_size)) {
			*why = "damaged backup (bad chunk header)";
			rc = MQS_ERR_ENV_AUTH;
			break;
		}
		if (*total + n > max_plain) {
			*why = "backup too large";
			rc = MQS_ERR_TOOBIG;
			break;
		}
		*total += n;
		rc = bk_take(fd, h, buf, (size_t)n + BK_TAG_LEN);
		if (rc != MQS_OK)
			break;
	}
	if (rc == MQS_ERR_ENV_TRUNCATED)
		*why = "truncated backup";
	if (rc != MQS_OK)
		goto out;
	rc = bk_read_sig(fd, sig, why);
	if (rc != MQS_OK)
		goto out;
	rc = bk_sig_msg(h, msg);
	if (rc == MQS_OK)
		rc = bk_sig_check(signer_pub, msg, sig);
	if (rc == MQS_ERR_PERM)
		*why = "backup signature does not verify (damaged, or not made by this box)";
	if (rc == MQS_OK && lseek(fd, MQS_BACKUP_HEADER_LEN, SEEK_SET) != MQS_BACKUP_HEADER_LEN) {
		*why = "cannot read backup";
		rc = MQS_ERR_IO;
	}
out:
	mqs_free(buf); /* ciphertext only */
	EVP_MD_CTX_free(h);
	return rc;
}

/* Read and verify a backup (mqs_backup.h). */
int mqs_backup_read(int fd, unsigned kind, const uint8_t recipient_priv[MQS_BACKUP_KEY_LEN],
                    const uint8_t signer_pub[MQS_BACKUP_KEY_LEN], uint64_t max_plain,
                    struct mqs_backup_header *hdr, uint8_t **mk, size_t *mk_len, uint8_t **image,
                    size_t *img_len, const char **why)
{
	struct mqs_backup_header hd;
	uint8_t rcpt_pub[MQS_BACKUP_KEY_LEN], id[MQS_BACKUP_ID_LEN], key[32];
	uint8_t head[MQS_BACKUP_HEADER_LEN], aad[BK_AAD_LEN], iv[BK_IV_LEN], rec[BK_REC_HEAD];
	uint8_t tag[BK_TAG_LEN], msg[sizeof(BK_SIG_PREFIX) - 1 + 64], sig[MQS_BACKUP_SIG_LEN];
	uint8_t *plain = NULL;
	size_t cap = 0, used = 0, mkl;
	EVP_MD_CTX *h = NULL;
	uint64_t index = 0;
	const char *dummy;
	int rc = MQS_ERR_INVAL, last = 0;

	if (why == NULL)
		why = &dummy;
	*why = "invalid arguments";
	memset(&hd, 0, sizeof(hd));
	if (mk != NULL)
		*mk = NULL;
	if (image != NULL)
		*image = NULL;
	if (mk_len != NULL)
		*mk_len = 0;
	if (img_len != NULL)
		*img_len = 0;
	if (fd < 0 || recipient_priv == NULL || signer_pub == NULL || mk == NULL ||
	    mk_len == NULL || image == NULL || img_len == NULL)
		goto out;
	if (max_plain == 0 || max_plain > MQS_BACKUP_PLAIN_MAX)
		max_plain = MQS_BACKUP_PLAIN_MAX;
	rc = MQS_ERR_NOMEM;
	*why = "out of memory";
	h = EVP_MD_CTX_new();
	if (h == NULL)
		goto out;
	rc = MQS_ERR_CRYPTO;
	*why = "crypto failure";
	if (EVP_DigestInit_ex(h, EVP_sha512(), NULL) != 1)
		goto out;
	rc = bk_take(fd, h, head, sizeof(head));
	if (rc == MQS_ERR_ENV_TRUNCATED) {
		*why = "not an mqttsec backup (too short)";
		rc = MQS_ERR_PARSE;
	}
	if (rc != MQS_OK)
		goto out;
	rc = bk_header_get(head, &hd, why);
	if (rc != MQS_OK)
		goto out;
	if (hd.kind != kind) {
		*why = hd.kind == MQS_BACKUP_KIND_BROKER
		           ? "backup of a broker database, not this kind"
		       : hd.kind == MQS_BACKUP_KIND_GATEWAY
		           ? "backup of a gateway database, not this kind"
		           : "backup of an unknown kind";
		rc = MQS_ERR_INVAL;
		goto out;
	}
	rc = mqs_backup_public(0, recipient_priv, rcpt_pub);
	if (rc == MQS_OK)
		rc = mqs_backup_key_id(rcpt_pub, id);
	if (rc != MQS_OK)
		goto out;
	if (CRYPTO_memcmp(id, hd.recipient_id, sizeof(id)) != 0) {
		*why = "backup encrypted to another recovery key";
		rc = MQS_ERR_ENV_KEYID;
		goto out;
	}
	rc = mqs_backup_key_id(signer_pub, id);
	if (rc != MQS_OK)
		goto out;
	if (CRYPTO_memcmp(id, hd.signer_id, sizeof(id)) != 0) {
		*why = "backup not signed by this box's backup key";
		rc = MQS_ERR_PERM;
		goto out;
	}
	/* a regular file: signature first, then exactly the memory it needs */
	if (lseek(fd, 0, SEEK_CUR) == MQS_BACKUP_HEADER_LEN) {
		uint64_t total = 0;

		rc = bk_prepass(fd, &hd, head, signer_pub, max_plain, &total, why);
		if (rc != MQS_OK)
			goto out;
		cap = (size_t)total + BK_TAG_LEN;
		plain = mqs_malloc(cap);
		if (plain == NULL) {
			*why = "out of memory";
			rc = MQS_ERR_NOMEM;
			goto out;
		}
	}
	rc = bk_derive(recipient_priv, hd.eph_pub, hd.eph_pub, rcpt_pub, key);
	if (rc != MQS_OK) {
		*why = "backup's ephemeral key is invalid";
		rc = MQS_ERR_ENV_AUTH;
		goto out;
	}
	while (!last) {
		uint32_t n;

		rc = bk_take(fd, h, rec, sizeof(rec));
		if (rc != MQS_OK)
			break;
		n = get_u32(rec);
		last = (rec[4] & BK_FLAG_LAST) != 0;
		if ((rec[4] & ~BK_FLAG_LAST) != 0 || n > hd.chunk_size ||
		    (!last && n != hd.chunk_size)) {
			*why = "damaged backup (bad chunk header)";
			rc = MQS_ERR_ENV_AUTH;
			break;
		}
		if ((uint64_t)used + n > max_plain) {
			*why = "backup too large";
			rc = MQS_ERR_TOOBIG;
			break;
		}
		if (used + n + BK_TAG_LEN > cap) {
			size_t ncap = cap == 0 ? (size_t)hd.chunk_size * 4 : cap * 2;
			uint8_t *np;

			while (ncap < used + n + BK_TAG_LEN)
				ncap *= 2;
			np = mqs_malloc(ncap);
			if (np == NULL) {
				*why = "out of memory";
				rc = MQS_ERR_NOMEM;
				break;
			}
			if (plain != NULL) {
				memcpy(np, plain, used);
				mqs_secret_free(plain, cap);
			}
			plain = np;
			cap = ncap;
		}
		rc = bk_take(fd, h, plain + used, n);
		if (rc == MQS_OK)
			rc = bk_take(fd, h, tag, sizeof(tag));
		if (rc != MQS_OK)
			break;
		bk_aad(aad, iv, kind, hd.eph_pub, index, last, n);
		rc = bk_gcm(0, key, iv, aad, plain + used, n, tag);
		if (rc == MQS_ERR_ENV_AUTH)
			*why =
			    "damaged, reordered or forged backup (a chunk does not authenticate)";
		if (rc != MQS_OK)
			break;
		used += n;
		index++;
	}
	if (rc == MQS_ERR_ENV_TRUNCATED)
		*why = "truncated backup";
	if (rc != MQS_OK)
		goto out;
	rc = bk_read_sig(fd, sig, why);
	if (rc != MQS_OK)
		goto out;
	rc = bk_sig_msg(h, msg);
	if (rc != MQS_OK)
		goto out;
	rc = bk_sig_check(signer_pub, msg, sig);
	if (rc == MQS_ERR_PERM)
		*why = "backup signature does not verify (damaged, or not made by this box)";
	if (rc != MQS_OK)
		goto out;
	mkl = used > 0 ? plain[0] : 0;
	if (mkl == 0 || mkl > MQS_BACKUP_MK_MAX || used < 1 + mkl) {
		*why = "malformed backup contents";
		rc = MQS_ERR_PARSE;
		goto out;
	}
	rc = MQS_ERR_NOMEM;
	*why = "out of memory";
	*mk = malloc(mkl);
	*image = malloc(used - 1 - mkl + 1);
	if (*mk == NULL || *image == NULL)
		goto out;
	memcpy(*mk, plain + 1, mkl);
	*mk_len = mkl;
	memcpy(*image, plain + 1 + mkl, used - 1 - mkl);
	*img_len = used - 1 - mkl;
	rc = MQS_OK;
	*why = "";
out:
	if (rc != MQS_OK && mk != NULL && image != NULL) {
		/* only the allocation can fail after these are set: nothing copied yet */
		mqs_free(*mk);
		mqs_free(*image);
		*mk = NULL;
		*image = NULL;
	}
	if (hdr != NULL)
		*hdr = hd;
	if (plain != NULL)
		mqs_secret_free(plain, cap);
	OPENSSL_cleanse(key, sizeof(key));
	EVP_MD_CTX_free(h);
	return rc;
}

/* Run sqlite3_backup from src to dst in one step, retrying while busy. */
static int bk_db_copy(sqlite3 *dst, sqlite3 *src)
{
	sqlite3_backup *b;
	int rc = MQS_ERR_DB, src_rc = SQLITE_BUSY;

	for (int i = 0; i < BK_RETRIES && (src_rc == SQLITE_BUSY || src_rc == SQLITE_LOCKED); i++) {
		b = sqlite3_backup_init(dst, "main", src, "main");
		if (b == NULL)
			goto out;
		src_rc = sqlite3_backup_step(b, -1);
		if (sqlite3_backup_finish(b) != SQLITE_OK && src_rc == SQLITE_DONE)
			src_rc = SQLITE_ERROR;
		if (src_rc == SQLITE_BUSY || src_rc == SQLITE_LOCKED)
			sqlite3_sleep(100);
	}
	if (src_rc == SQLITE_DONE)
		rc = MQS_OK;
out:
	return rc;
}

/* A serialized online copy of live (mqs_backup.h). */
int mqs_backup_db_image(sqlite3 *live, uint8_t **image, size_t *img_len)
{
	sqlite3 *mem = NULL;
	unsigned char *ser = NULL;
	sqlite3_int64 sz = 0;
	int rc = MQS_ERR_INVAL;

	if (image != NULL)
		*image = NULL;
	if (img_len != NULL)
		*img_len = 0;
	if (live == NULL || image == NULL || img_len == NULL)
		goto out;
	rc = MQS_ERR_DB;
	if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK)
		goto out;
	rc = bk_db_copy(mem, live);
	if (rc != MQS_OK)
		goto out;
	rc = MQS_ERR_NOMEM;
	ser = sqlite3_serialize(mem, "main", &sz, 0);
	if (ser == NULL || sz <= 100)
		goto out;
	/* an in-memory copy is never in WAL mode: file format bytes 18/19 = 1 */
	ser[18] = 1;
	ser[19] = 1;
	*image = malloc((size_t)sz);
	if (*image == NULL)
		goto out;
	memcpy(*image, ser, (size_t)sz);
	*img_len = (size_t)sz;
	rc = MQS_OK;
out:
	if (ser != NULL) {
		OPENSSL_cleanse(ser, (size_t)sz);
		sqlite3_free(ser);
	}
	if (mem != NULL)
		sqlite3_close_v2(mem);
	return rc;
}

/* An in-memory database from an image (mqs_backup.h). */
int mqs_backup_db_open(const uint8_t *image, size_t img_len, sqlite3 **mem)
{
	static const char sqlite_magic[] = "SQLite format 3";
	sqlite3_stmt *st = NULL;
	unsigned char *copy = NULL;
	sqlite3 *db = NULL;
	int rc = MQS_ERR_INVAL;

	if (mem != NULL)
		*mem = NULL;
	if (image == NULL || mem == NULL)
		goto out;
	rc = MQS_ERR_PARSE;
	if (img_len < 512 || memcmp(image, sqlite_magic, sizeof(sqlite_magic)) != 0)
		goto out;
	rc = MQS_ERR_DB;
	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK)
		goto out;
	rc = MQS_ERR_NOMEM;
	copy = sqlite3_malloc64(img_len);
	if (copy == NULL)
		goto out;
	memcpy(copy, image, img_len);
	copy[18] = 1;
	copy[19] = 1;
	rc = MQS_ERR_PARSE;
	/* sqlite3_deserialize owns copy from here, also on failure */
	if (sqlite3_deserialize(db, "main", copy, (sqlite3_int64)img_len, (sqlite3_int64)img_len,
	                        SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE) !=
	    SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW || sqlite3_column_text(st, 0) == NULL ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
		goto out;
	*mem = db;
	db = NULL;
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	if (db != NULL)
		sqlite3_close_v2(db);
	return rc;
}

/* Replace live's database with mem's in one step (mqs_backup.h). */
int mqs_backup_db_install(sqlite3 *mem, sqlite3 *live)
{
	if (mem == NULL || live == NULL)
		return MQS_ERR_INVAL;
	return bk_db_copy(live, mem);
}

/* 64 hex digits into key (mqs_backup.h). */
int mqs_backup_key_parse(const char *text, uint8_t key[MQS_BACKUP_KEY_LEN])
{
	size_t n = 0;

	while (*text == ' ' || *text == '\t')
		text++;
	for (n = 0; n < 2 * MQS_BACKUP_KEY_LEN; n += 2) {
		int hi = mqs_hex_digit((unsigned char)text[n]);
		int lo = hi < 0 ? -1 : mqs_hex_digit((unsigned char)text[n + 1]);

		if (hi < 0 || lo < 0) {
			OPENSSL_cleanse(key, MQS_BACKUP_KEY_LEN);
			return MQS_ERR_PARSE;
		}
		key[n / 2] = (uint8_t)(hi << 4 | lo);
	}
	text += n;
	while (*text == ' ' || *text == '\t' || *text == '\r' || *text == '\n')
		text++;
	if (*text != '\0') {
		OPENSSL_cleanse(key, MQS_BACKUP_KEY_LEN);
		return MQS_ERR_PARSE;
	}
	return MQS_OK;
}

/* Write the recovery key file (mqs_backup.h). */
int mqs_backup_recovery_write(const char *path, const uint8_t x_priv[MQS_BACKUP_KEY_LEN],
                              const uint8_t ed_pub[MQS_BACKUP_KEY_LEN])
{
	char text[512], h1[65], h2[65], h3[65];
	uint8_t x_pub[MQS_BACKUP_KEY_LEN];
	int rc, n;

	rc = mqs_backup_public(0, x_priv, x_pub);
	if (rc != MQS_OK)
		return rc;
	mqs_hex_encode(x_priv, MQS_BACKUP_KEY_LEN, h1);
	mqs_hex_encode(x_pub, MQS_BACKUP_KEY_LEN, h2);
	mqs_hex_encode(ed_pub, MQS_BACKUP_KEY_LEN, h3);
	n = snprintf(text, sizeof(text),
	             "# mqttsec backup recovery key (docs/backup.md): keep it offline\n"
	             "x25519-private %s\nx25519-public %s\ned25519-public %s\n",
	             h1, h2, h3);
	rc = n > 0 && (size_t)n < sizeof(text) ? mqs_file_write_secret(path, text, (size_t)n, 1)
	                                       : MQS_ERR_IO;
	OPENSSL_cleanse(text, sizeof(text));
	OPENSSL_cleanse(h1, sizeof(h1));
	return rc;
}

/* Read the recovery key file (mqs_backup.h). */
int mqs_backup_recovery_read(const char *path, uint8_t x_priv[MQS_BACKUP_KEY_LEN],
                             uint8_t ed_pub[MQS_BACKUP_KEY_LEN])
{
	uint8_t *data = NULL, x_pub[MQS_BACKUP_KEY_LEN], want[MQS_BACKUP_KEY_LEN];
	size_t len = 0;
	char *line, *save = NULL;
	int rc, have = 0;

	rc = mqs_file_read(path, 1024, 1, &data, &len);
	if (rc != MQS_OK)
		goto out;
	rc = MQS_ERR_PARSE;
	for (line = strtok_r((char *)data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || line[0] == '\0' || line[0] == '\r')
			continue;
		if (strncmp(line, "x25519-private ", 15) == 0) {
			if (mqs_backup_key_parse(line + 15, x_priv) != MQS_OK)
				goto out;
			have |= 1;
		} else if (strncmp(line, "x25519-public ", 14) == 0) {
			if (mqs_backup_key_parse(line + 14, want) != MQS_OK)
				goto out;
			have |= 2;
		} else if (strncmp(line, "ed25519-public ", 15) == 0) {
			if (mqs_backup_key_parse(line + 15, ed_pub) != MQS_OK)
				goto out;
			have |= 4;
		} else {
			goto out;
		}
	}
	if (have != 7 || mqs_backup_public(0, x_priv, x_pub) != MQS_OK ||
	    memcmp(x_pub, want, sizeof(want)) != 0)
		goto out;
	rc = MQS_OK;
out:
	if (rc != MQS_OK)
		OPENSSL_cleanse(x_priv, MQS_BACKUP_KEY_LEN);
	mqs_secret_free(data, len);
	return rc;
}

#define BK_SIGN_AAD "mqttsec-backup-sign-v1"

/* Wrap the signing key as hex (mqs_backup.h). */
int mqs_backup_sign_wrap(const uint8_t mk[MQS_MASTER_KEY_LEN],
                         const uint8_t priv[MQS_BACKUP_KEY_LEN], char hex[MQS_BACKUP_SIGN_HEX + 1])
{
	uint8_t wrapped[MQS_BACKUP_KEY_LEN + MQS_WRAP_OVERHEAD];
	size_t wl = 0;

	if (mqs_wrap_seal(mk, BK_SIGN_AAD, priv, MQS_BACKUP_KEY_LEN, wrapped, sizeof(wrapped),
	                  &wl) != MQS_OK ||
	    wl != sizeof(wrapped))
		return MQS_ERR_CRYPTO;
	mqs_hex_encode(wrapped, wl, hex);
	return MQS_OK;
}

/* Unwrap the signing key from hex (mqs_backup.h). */
int mqs_backup_sign_unwrap(const uint8_t mk[MQS_MASTER_KEY_LEN], const char *hex,
                           uint8_t priv[MQS_BACKUP_KEY_LEN])
{
	uint8_t wrapped[MQS_BACKUP_KEY_LEN + MQS_WRAP_OVERHEAD];
	size_t n = 0;

	OPENSSL_cleanse(priv, MQS_BACKUP_KEY_LEN);
	if (hex == NULL || strlen(hex) != MQS_BACKUP_SIGN_HEX)
		return MQS_ERR_PARSE;
	for (size_t i = 0; i < sizeof(wrapped); i++) {
		int hi = mqs_hex_digit((unsigned char)hex[2 * i]);
		int lo = mqs_hex_digit((unsigned char)hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return MQS_ERR_PARSE;
		wrapped[i] = (uint8_t)(hi << 4 | lo);
	}
	if (mqs_wrap_open(mk, BK_SIGN_AAD, wrapped, sizeof(wrapped), priv, MQS_BACKUP_KEY_LEN,
	                  &n) != MQS_OK ||
	    n != MQS_BACKUP_KEY_LEN) {
		OPENSSL_cleanse(priv, MQS_BACKUP_KEY_LEN);
		return MQS_ERR_UNWRAP;
	}
	return MQS_OK;
}

/* The staged master key file of path into out (MQS_ERR_TOOBIG: too long). */
static int bk_mk_staged(const char *path, char *out, size_t outlen)
{
	if (path == NULL || snprintf(out, outlen, "%s.new", path) >= (int)outlen)
		return MQS_ERR_TOOBIG;
	return MQS_OK;
}

/* Stage a master key file (mqs_backup.h). */
int mqs_backup_mk_stage(const char *path, const uint8_t mk[MQS_MASTER_KEY_LEN])
{
	char hex[2 * MQS_MASTER_KEY_LEN + 2], staged[4096];
	int rc;

	mqs_hex_encode(mk, MQS_MASTER_KEY_LEN, hex);
	hex[2 * MQS_MASTER_KEY_LEN] = '\n';
	hex[2 * MQS_MASTER_KEY_LEN + 1] = '\0';
	rc = bk_mk_staged(path, staged, sizeof(staged));
	if (rc == MQS_OK)
		rc = mqs_file_write_secret(staged, hex, 2 * MQS_MASTER_KEY_LEN + 1, 0);
	OPENSSL_cleanse(hex, sizeof(hex));
	return rc;
}

/* Commit or discard a staged master key file (mqs_backup.h). */
int mqs_backup_mk_commit(const char *path, int discard)
{
	char staged[4096];
	int rc;

	rc = bk_mk_staged(path, staged, sizeof(staged));
	if (rc != MQS_OK)
		goto out;
	if (discard) {
		if (unlink(staged) != 0 && errno != ENOENT)
			rc = MQS_ERR_IO;
		goto out;
	}
	if (rename(staged, path) != 0)
		rc = MQS_ERR_IO;
out:
	return rc;
}

/* Write a backup file of a live database (mqs_backup.h). */
int mqs_backup_file_write(const char *path, unsigned kind, int64_t created, const char *host,
                          const uint8_t recipient_pub[MQS_BACKUP_KEY_LEN],
                          const uint8_t sign_priv[MQS_BACKUP_KEY_LEN], const uint8_t *mk,
                          size_t mk_len, sqlite3 *live, long long *size, const char **why)
{
	uint8_t *image = NULL;
	size_t img_len = 0;
	char tmp[4096];
	const char *dummy;
	struct stat sb;
	int fd = -1, rc, saved = 0;

	if (why == NULL)
		why = &dummy;
	if (size != NULL)
		*size = 0;
	tmp[0] = '\0';
	*why = "backup path too long";
	rc = MQS_ERR_TOOBIG;
	if (path == NULL ||
	    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp)) {
		tmp[0] = '\0';
		goto out;
	}
	*why = "cannot copy the database";
	rc = mqs_backup_db_image(live, &image, &img_len);
	if (rc != MQS_OK)
		goto out;
	*why = "cannot create the backup file";
	rc = MQS_ERR_IO;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		tmp[0] = '\0';
		goto out;
	}
	rc = mqs_backup_write(fd, kind, created, host, recipient_pub, sign_priv, mk, mk_len, image,
	                      img_len, 0);
	if (rc == MQS_ERR_CRYPTO)
		*why = "cannot encrypt to that recipient key";
	else if (rc != MQS_OK)
		*why = "cannot write the backup file";
	if (rc == MQS_OK && (fsync(fd) != 0 || fstat(fd, &sb) != 0))
		rc = MQS_ERR_IO;
	if (close(fd) != 0 && rc == MQS_OK)
		rc = MQS_ERR_IO;
	fd = -1;
	if (rc == MQS_OK && rename(tmp, path) != 0)
		rc = MQS_ERR_IO;
	if (rc == MQS_OK && size != NULL)
		*size = (long long)sb.st_size;
out:
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (rc != MQS_OK && tmp[0] != '\0')
		unlink(tmp);
	mqs_secret_free(image, img_len);
	errno = saved;
	return rc;
}

/* Read, verify and open a backup file (mqs_backup.h). */
int mqs_backup_file_read(const char *path, unsigned kind, const char *key_path,
                         struct mqs_backup_header *hdr, uint8_t mk[MQS_MASTER_KEY_LEN],
                         sqlite3 **mem, const char **why)
{
	uint8_t x_priv[MQS_BACKUP_KEY_LEN], ed_pub[MQS_BACKUP_KEY_LEN];
	uint8_t *m = NULL, *image = NULL;
	size_t mk_len = 0, img_len = 0;
	int fd = -1, rc;

	*mem = NULL;
	rc = mqs_backup_recovery_read(key_path, x_priv, ed_pub);
	if (rc != MQS_OK) {
		*why = rc == MQS_ERR_PARSE   ? "the recovery key file is not a recovery key"
		       : rc == MQS_ERR_NOENT ? "no such recovery key file"
		       : rc == MQS_ERR_PERM ? "the recovery key file is readable by group or others"
		                            : "cannot read the recovery key file";
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ? MQS_ERR_NOENT : MQS_ERR_IO;
		*why = rc == MQS_ERR_NOENT ? "no such backup file" : "cannot open the backup file";
		goto out;
	}
	rc = mqs_backup_read(fd, kind, x_priv, ed_pub, 0, hdr, &m, &mk_len, &image, &img_len, why);
	if (rc != MQS_OK)
		goto out;
	if (mk_len != MQS_MASTER_KEY_LEN) {
		*why = "the master key in the backup has a bad length";
		rc = MQS_ERR_PARSE;
		goto out;
	}
	rc = mqs_backup_db_open(image, img_len, mem);
	if (rc != MQS_OK) {
		*why = "the database in the backup is not sound";
		goto out;
	}
	memcpy(mk, m, MQS_MASTER_KEY_LEN);
out:
	if (fd >= 0)
		close(fd);
	mqs_secret_free(m, mk_len);
	mqs_secret_free(image, img_len);
	OPENSSL_cleanse(x_priv, sizeof(x_priv));
	return rc;
}
