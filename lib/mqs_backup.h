/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_backup.h - the encrypted, signed backup file (docs/backup.md, "File
 * format") and the SQLite copies it carries.
 *
 * A backup is a header, chunks of AES-256-GCM under
 * HKDF-SHA256(X25519(ephemeral, recipient), info "mqttsec-backup-v1" |
 * ephemeral public | recipient public), each chunk's AAD binding kind,
 * format version, ephemeral public key, chunk index and last-chunk flag,
 * then an Ed25519 signature of the box's backup key over the SHA-512 of the
 * header and every chunk.  The plaintext is the master key followed by a
 * serialized SQLite database.
 *
 * Ownership: callers own every buffer they pass.  mqs_backup_read() and
 * mqs_backup_db_image() hand back malloc'd buffers holding secrets: free
 * them with mqs_secret_free(p, len).  On failure every out-parameter is
 * NULL/0 and nothing secret is left in memory.  mqs_backup_db_open() hands
 * back an in-memory connection the caller closes with sqlite3_close_v2().
 * Reason strings are static.
 */
#ifndef MQS_BACKUP_H
#define MQS_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "mqs_error.h"
#include "mqs_master_key.h"

#define MQS_BACKUP_KIND_BROKER  1
#define MQS_BACKUP_KIND_GATEWAY 2
#define MQS_BACKUP_VERSION      1
#define MQS_BACKUP_KEY_LEN      32 /* X25519 and Ed25519 keys, public and private */
#define MQS_BACKUP_SIG_LEN      64
#define MQS_BACKUP_ID_LEN       8
#define MQS_BACKUP_HOST_MAX     64
#define MQS_BACKUP_HEADER_LEN   137
#define MQS_BACKUP_CHUNK        65536         /* plaintext bytes per chunk written */
#define MQS_BACKUP_CHUNK_MAX    (1024 * 1024) /* largest chunk size a reader accepts */
#define MQS_BACKUP_MK_MAX       64            /* master key bytes carried */
#define MQS_BACKUP_SIGN_HEX     (2 * (MQS_BACKUP_KEY_LEN + MQS_WRAP_OVERHEAD))
#define MQS_BACKUP_PLAIN_MAX    (1ULL << 34) /* 16 GiB: the largest backup read */

/* The header of a backup (docs/backup.md). */
struct mqs_backup_header {
	unsigned version;
	unsigned kind;   /* MQS_BACKUP_KIND_BROKER or _GATEWAY */
	int64_t created; /* Unix seconds */
	char host[MQS_BACKUP_HOST_MAX + 1];
	uint8_t eph_pub[MQS_BACKUP_KEY_LEN];
	uint8_t recipient_id[MQS_BACKUP_ID_LEN];
	uint8_t signer_id[MQS_BACKUP_ID_LEN];
	uint32_t chunk_size;
};

/* A new X25519 key pair (priv, pub).  Returns MQS_OK or MQS_ERR_CRYPTO
 * (both wiped). */
MQS_MUST_CHECK int mqs_backup_x25519_keygen(uint8_t priv[MQS_BACKUP_KEY_LEN],
                                            uint8_t pub[MQS_BACKUP_KEY_LEN]);

/* A new Ed25519 key pair (priv is the 32-byte seed).  Returns MQS_OK or
 * MQS_ERR_CRYPTO (both wiped). */
MQS_MUST_CHECK int mqs_backup_ed25519_keygen(uint8_t priv[MQS_BACKUP_KEY_LEN],
                                             uint8_t pub[MQS_BACKUP_KEY_LEN]);

/* The public half of an X25519 (ed = 0) or Ed25519 (ed = 1) private key.
 * Returns MQS_OK or MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int mqs_backup_public(int ed, const uint8_t priv[MQS_BACKUP_KEY_LEN],
                                     uint8_t pub[MQS_BACKUP_KEY_LEN]);

/* The 8-byte id of a public key: the first bytes of its SHA-256. */
MQS_MUST_CHECK int mqs_backup_key_id(const uint8_t pub[MQS_BACKUP_KEY_LEN],
                                     uint8_t id[MQS_BACKUP_ID_LEN]);

/* Write the recovery key file path (mode 0600, atomically, never over an
 * existing file): the X25519 private and public keys and the box's Ed25519
 * public key, as lines "x25519-private HEX", "x25519-public HEX",
 * "ed25519-public HEX" after a comment line.  Returns MQS_OK,
 * MQS_ERR_EXISTS, MQS_ERR_IO, MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int mqs_backup_recovery_write(const char *path,
                                             const uint8_t x_priv[MQS_BACKUP_KEY_LEN],
                                             const uint8_t ed_pub[MQS_BACKUP_KEY_LEN]);

/* Read a recovery key file (0600; at most 1 KiB): x_priv and ed_pub.  The
 * public X25519 line must match the private key.  Returns MQS_OK,
 * MQS_ERR_NOENT, MQS_ERR_PERM, MQS_ERR_IO, MQS_ERR_TOOBIG, MQS_ERR_PARSE;
 * on failure x_priv is wiped. */
MQS_MUST_CHECK int mqs_backup_recovery_read(const char *path, uint8_t x_priv[MQS_BACKUP_KEY_LEN],
                                            uint8_t ed_pub[MQS_BACKUP_KEY_LEN]);

/* Parse 64 hexadecimal digits (surrounding blanks ignored) into key.
 * Returns MQS_OK or MQS_ERR_PARSE. */
MQS_MUST_CHECK int mqs_backup_key_parse(const char *text, uint8_t key[MQS_BACKUP_KEY_LEN]);

/* Write a backup of kind (MQS_BACKUP_KIND_BROKER or _GATEWAY) made at created on host (at
 * most MQS_BACKUP_HOST_MAX bytes; longer names are cut) to fd: mk (1..
 * MQS_BACKUP_MK_MAX bytes) and image (img_len bytes, at most
 * MQS_BACKUP_PLAIN_MAX - mk_len - 1), encrypted to recipient_pub and signed
 * with sign_priv, in chunks of chunk_size bytes (1..MQS_BACKUP_CHUNK_MAX;
 * 0 means MQS_BACKUP_CHUNK).  Memory used is one chunk.  Returns MQS_OK,
 * MQS_ERR_INVAL, MQS_ERR_TOOBIG, MQS_ERR_CRYPTO (e.g. a low-order recipient
 * key) or MQS_ERR_IO; on failure fd holds an incomplete file the caller
 * removes. */
MQS_MUST_CHECK int mqs_backup_write(int fd, unsigned kind, int64_t created, const char *host,
                                    const uint8_t recipient_pub[MQS_BACKUP_KEY_LEN],
                                    const uint8_t sign_priv[MQS_BACKUP_KEY_LEN], const uint8_t *mk,
                                    size_t mk_len, const uint8_t *image, size_t img_len,
                                    uint32_t chunk_size);

/* Read and verify the whole backup on fd: the header, every chunk (in
 * order, the last one flagged, nothing after the signature), the kind
 * (must be kind), the recipient (recipient_priv) and the signature
 * (signer_pub, the box's backup key).  At most max_plain bytes of
 * plaintext (0 or above MQS_BACKUP_PLAIN_MAX: MQS_BACKUP_PLAIN_MAX).
 * On success *mk, *mk_len, *image and *img_len hold the contents and hdr
 * (may be NULL) the header.  Errors: MQS_ERR_PARSE (not a backup, bad
 * header), MQS_ERR_ENV_VERSION (other format version), MQS_ERR_INVAL
 * (other kind), MQS_ERR_ENV_KEYID (encrypted to another recovery key),
 * MQS_ERR_ENV_TRUNCATED (file ends early), MQS_ERR_ENV_AUTH (a chunk does
 * not open: damaged, reordered, forged), MQS_ERR_PERM (signature does not
 * verify: damaged, or not made by this box), MQS_ERR_TOOBIG, MQS_ERR_IO,
 * MQS_ERR_NOMEM, MQS_ERR_CRYPTO.  *why (may be NULL) gets a static
 * lowercase reason on failure; hdr is filled as far as it was read.  A
 * seekable fd is read twice: the structure and the signature first with
 * one chunk of memory and nothing decrypted, then the chunks into one
 * buffer of the exact size (a forged file never makes plaintext or takes
 * more memory); a pipe is read once, the signature checked last. */
MQS_MUST_CHECK int mqs_backup_read(int fd, unsigned kind,
                                   const uint8_t recipient_priv[MQS_BACKUP_KEY_LEN],
                                   const uint8_t signer_pub[MQS_BACKUP_KEY_LEN], uint64_t max_plain,
                                   struct mqs_backup_header *hdr, uint8_t **mk, size_t *mk_len,
                                   uint8_t **image, size_t *img_len, const char **why);

/* A consistent copy of the "main" database of live (SQLite's online backup
 * into memory, then serialized): *image (malloc'd, *img_len bytes).  Never
 * touches the disk.  Returns MQS_OK, MQS_ERR_DB (busy after retries, or
 * another failure), MQS_ERR_NOMEM. */
MQS_MUST_CHECK int mqs_backup_db_image(sqlite3 *live, uint8_t **image, size_t *img_len);

/* Open image (img_len bytes, copied) as an in-memory database, writable,
 * after checking that it is an SQLite database that passes quick_check.
 * Returns MQS_OK, MQS_ERR_PARSE (not a sound database), MQS_ERR_DB,
 * MQS_ERR_NOMEM; *mem is NULL on failure. */
MQS_MUST_CHECK int mqs_backup_db_open(const uint8_t *image, size_t img_len, sqlite3 **mem);

/* Replace the "main" database of live with mem's, in one step of SQLite's
 * backup API (one write transaction on live: readers see the old or the
 * new database, never a mix).  Returns MQS_OK or MQS_ERR_DB (live left as
 * it was). */
MQS_MUST_CHECK int mqs_backup_db_install(sqlite3 *mem, sqlite3 *live);

/* The box's signing key priv wrapped under the master key mk (AAD
 * "mqttsec-backup-sign-v1") as MQS_BACKUP_SIGN_HEX hex digits and a NUL in
 * hex, for a settings/kv row.  Returns MQS_OK or MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int mqs_backup_sign_wrap(const uint8_t mk[MQS_MASTER_KEY_LEN],
                                        const uint8_t priv[MQS_BACKUP_KEY_LEN],
                                        char hex[MQS_BACKUP_SIGN_HEX + 1]);

/* Unwrap a signing key row (hex, as mqs_backup_sign_wrap wrote it) into
 * priv.  Returns MQS_OK, MQS_ERR_PARSE (not such a row) or MQS_ERR_UNWRAP
 * (another master key, or damaged); priv is wiped on failure. */
MQS_MUST_CHECK int mqs_backup_sign_unwrap(const uint8_t mk[MQS_MASTER_KEY_LEN], const char *hex,
                                          uint8_t priv[MQS_BACKUP_KEY_LEN]);

/* Stage mk as the next master key file for path: write it to path + ".new"
 * (64 hex digits and a newline, 0600, atomically); path itself is not
 * touched.  A restore stages the key, installs the database, then commits
 * (docs/backup.md), so a crash never leaves the new key with the old
 * database.  Returns MQS_OK, MQS_ERR_TOOBIG (path too long) or MQS_ERR_IO
 * (errno kept). */
MQS_MUST_CHECK int mqs_backup_mk_stage(const char *path, const uint8_t mk[MQS_MASTER_KEY_LEN]);

/* Commit a staged master key: rename path + ".new" over path.  When
 * discard is non-zero remove the staged file instead.  Returns MQS_OK,
 * MQS_ERR_TOOBIG or MQS_ERR_IO (errno kept). */
MQS_MUST_CHECK int mqs_backup_mk_commit(const char *path, int discard);

/* Write a backup file of live's "main" database (mqs_backup_db_image)
 * and mk to path: written to "path.PID.tmp" (0600), fsync'd, then renamed
 * over path; removed on failure.  The other arguments are those of
 * mqs_backup_write.  *size (may be NULL) gets the file size; *why (may be
 * NULL) a static reason on failure.  Returns MQS_OK, MQS_ERR_DB (copy),
 * MQS_ERR_IO (errno kept), MQS_ERR_CRYPTO, MQS_ERR_TOOBIG, MQS_ERR_NOMEM. */
MQS_MUST_CHECK int mqs_backup_file_write(const char *path, unsigned kind, int64_t created,
                                         const char *host,
                                         const uint8_t recipient_pub[MQS_BACKUP_KEY_LEN],
                                         const uint8_t sign_priv[MQS_BACKUP_KEY_LEN],
                                         const uint8_t *mk, size_t mk_len, sqlite3 *live,
                                         long long *size, const char **why);

/* Read the recovery key file key_path, then read and verify the whole
 * backup file path (mqs_backup_read, of kind) and open its database in
 * memory (mqs_backup_db_open): *mem (close with sqlite3_close_v2) and mk.
 * hdr (may be NULL) gets the header as far as read.  *why gets a static
 * reason on failure.  Returns MQS_OK or the error of the step that failed
 * (MQS_ERR_NOENT: no such backup or key file). */
MQS_MUST_CHECK int mqs_backup_file_read(const char *path, unsigned kind, const char *key_path,
                                        struct mqs_backup_header *hdr,
                                        uint8_t mk[MQS_MASTER_KEY_LEN], sqlite3 **mem,
                                        const char **why);

#endif
