/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_creds.h - the credentials file (docs/acl.md, "Devices"): username, TOTP parameters
 * and secret, device and topic keys, as JSON.
 *
 * Ownership: struct mqs_creds is caller-owned; initialise with
 * mqs_creds_init(), release with mqs_creds_release() which wipes every
 * secret and frees every string.  Parsing fills a released struct on failure.
 * Readers ignore unknown fields.  Files are written with mode 0600.
 */
#ifndef MQS_CREDS_H
#define MQS_CREDS_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_envelope.h"
#include "mqs_totp.h"
#include "mqs_error.h"

#define MQS_CREDS_FILE_MAX     (256u * 1024u)
#define MQS_CREDS_KEYS_MAX     1024
#define MQS_CREDS_USERNAME_MAX 255

enum mqs_creds_use { MQS_CREDS_USE_DEVICE = 0, MQS_CREDS_USE_TOPIC, MQS_CREDS_USE_RECORD };

#define MQS_CREDS_NAME_MAX 64 /* name of a record key (docs/medical.md, "Record keys") */

struct mqs_creds_key {
	uint32_t id;
	int use;     /* enum mqs_creds_use */
	char *topic; /* topic filter for MQS_CREDS_USE_TOPIC, else NULL */
	char *name;  /* sender name for MQS_CREDS_USE_RECORD (1..MQS_CREDS_NAME_MAX
	              * bytes of [A-Za-z0-9._-]), else NULL */
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
};

struct mqs_creds {
	char *username;
	int has_totp;
	struct mqs_totp_params totp;
	uint8_t totp_secret[MQS_TOTP_SECRET_MAX];
	size_t totp_secret_len;
	struct mqs_creds_key *keys;
	size_t nkeys;
	/* "protected": topic filters whose payloads are sealed (an mqttsec
	 * extension of the credentials file; publishers seal on a matching topic) */
	char **protected_filters;
	size_t nprotected;
	/* "connect_tokens": true when the broker that wrote the file accepts
	 * connect tokens (docs/broker-plugin.md, "Connect tokens"); clients
	 * then connect with a fresh token per attempt */
	int connect_tokens;
	/* "keys_issued_ms": the broker time (ms since the epoch) of the newest
	 * key answer or push whose keys were taken (docs/payload-encryption.md,
	 * "Online keys", freshness); 0: none.  In an answer: when it was built */
	uint64_t keys_issued_ms;
};

/* Zero c. */
void mqs_creds_init(struct mqs_creds *c);

/* Wipe secrets and free everything c owns; c is left initialised.  NULL is fine. */
void mqs_creds_release(struct mqs_creds *c);

/* Parse JSON text (len bytes, at most MQS_CREDS_FILE_MAX).  Returns MQS_OK,
 * MQS_ERR_PARSE (with a lowercase reason in errbuf when not NULL),
 * MQS_ERR_TOOBIG, MQS_ERR_NOMEM. */
MQS_MUST_CHECK int mqs_creds_parse(const char *json, size_t len, struct mqs_creds *c, char *errbuf,
                                   size_t errlen);

/* Read and parse path.  A file readable by group or others is refused with
 * MQS_ERR_PERM.  Other returns as mqs_creds_parse and mqs_file_read. */
MQS_MUST_CHECK int mqs_creds_load(const char *path, struct mqs_creds *c, char *errbuf,
                                  size_t errlen);

/* Serialise c into a new NUL-terminated JSON string *json (free with
 * mqs_secret_free(*json, strlen(*json))).  Record keys carry "name"; with no
 * username (a key file) "username" is left out. */
int mqs_creds_to_json(const struct mqs_creds *c, char **json);

/* 1 when the key push (or answer) a is older than what held already took
 * (docs/payload-encryption.md, "Online keys", freshness): a issued before
 * held->keys_issued_ms, or for a filter a grants, held has a topic key of a
 * higher id than every key a carries for it (a key id only grows: a newer
 * key of the filter is known, so a's keys are retired).  A replayed old
 * push must not roll a client back.  0 otherwise. */
int mqs_creds_push_stale(const struct mqs_creds *held, const struct mqs_creds *a);

/* 1 when the answer a (to the client's own request) is older than what
 * held already took by the key id rule alone: for a filter a grants, held
 * has a topic key of a higher id than every key a carries.  Its time is
 * not compared (a broker whose clock is behind still answers); the nonce
 * makes an answer fresh, this makes a delayed one harmless.  0 otherwise. */
int mqs_creds_answer_stale(const struct mqs_creds *held, const struct mqs_creds *a);

/* Serialise and write to path with mode 0600 (atomic replace). */
MQS_MUST_CHECK int mqs_creds_save(const char *path, const struct mqs_creds *c);

/* Set username (copied, at most MQS_CREDS_USERNAME_MAX bytes). */
int mqs_creds_set_username(struct mqs_creds *c, const char *username);

/* Append a key (topic copied, NULL for device keys).  Returns MQS_OK,
 * MQS_ERR_INVAL, MQS_ERR_TOOBIG, MQS_ERR_NOMEM. */
int mqs_creds_add_key(struct mqs_creds *c, uint32_t id, int use, const char *topic,
                      const uint8_t key[MQS_ENVELOPE_KEY_LEN]);

/* Append a record key of sender name (copied; checked as for
 * MQS_CREDS_NAME_MAX).  Returns MQS_OK, MQS_ERR_INVAL, MQS_ERR_EXISTS (a
 * key with this id or a record key with this name is already there),
 * MQS_ERR_TOOBIG, MQS_ERR_NOMEM. */
MQS_MUST_CHECK int mqs_creds_add_record_key(struct mqs_creds *c, uint32_t id, const char *name,
                                            const uint8_t key[MQS_ENVELOPE_KEY_LEN]);

/* Parse a key file (a credentials file whose "username" and "totp" are
 * optional, e.g. a record key export {"keys": [...]}) and append its keys
 * to c.  Keys whose id is already in c are refused (MQS_ERR_EXISTS, nothing
 * appended).  Returns as mqs_creds_parse; on failure c is unchanged. */
MQS_MUST_CHECK int mqs_creds_parse_keys(const char *json, size_t len, struct mqs_creds *c,
                                        char *errbuf, size_t errlen);

/* Read path (same permission rule as mqs_creds_load) and append its keys
 * with mqs_creds_parse_keys. */
MQS_MUST_CHECK int mqs_creds_load_keys(const char *path, struct mqs_creds *c, char *errbuf,
                                       size_t errlen);

/* The record key of sender name, or NULL. */
const struct mqs_creds_key *mqs_creds_record_key(const struct mqs_creds *c, const char *name);

/* Append a protected topic filter (copied).  Returns MQS_OK, MQS_ERR_INVAL,
 * MQS_ERR_TOOBIG, MQS_ERR_NOMEM. */
int mqs_creds_add_protected(struct mqs_creds *c, const char *filter);

/* Return 1 when topic matches a protected filter or a topic key's filter. */
int mqs_creds_topic_protected(const struct mqs_creds *c, const char *topic);

/* The topic key that opens an envelope with key id for topic: same id and
 * (for topic keys) a filter matching topic; the device key with that id
 * also qualifies.  NULL when none. */
const struct mqs_creds_key *mqs_creds_key_for(const struct mqs_creds *c, uint32_t id,
                                              const char *topic);

/* The first device key, or NULL.  Neither this nor mqs_creds_key_for()
 * ever returns a record key: a record key opens records only. */
const struct mqs_creds_key *mqs_creds_device_key(const struct mqs_creds *c);

/* The key with this id, or NULL (any use, record keys included: callers
 * check ->use). */
const struct mqs_creds_key *mqs_creds_find_key(const struct mqs_creds *c, uint32_t id);

#endif
