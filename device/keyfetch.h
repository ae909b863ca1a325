/* SPDX-License-Identifier: BSD-3-Clause */
/* keyfetch.h - online topic keys on the device side
 * (docs/payload-encryption.md, "Online keys"): send a request on
 * mqttsec/keys/req, recognise the answers (and pushes) on
 * mqttsec/keys/<username>, merge their keys into the credentials in memory
 * and into the credentials file.
 *
 * Ownership: struct dev_keys_answer is caller-owned; dev_keys_answer_release()
 * wipes its keys and frees it.  Nothing else is kept.
 */
#ifndef DEV_KEYFETCH_H
#define DEV_KEYFETCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mqs_creds.h"
#include "mqs_error.h"

#define DEV_KEYS_REQ_TOPIC "mqttsec/keys/req"
#define DEV_KEYS_PREFIX    "mqttsec/keys/"
#define DEV_KEYS_NONCE_LEN 16
#define DEV_KEYS_MAX       64 /* filters per request (the broker's cap) */

struct dev_conn;

struct dev_keys_answer {
	struct mqs_creds keys; /* topic keys and "protected" of the granted filters */
	char *refused[DEV_KEYS_MAX];
	size_t nrefused;
	uint8_t nonce[DEV_KEYS_NONCE_LEN]; /* all zero: a push */
};

/* The answer topic of the credentials' user into buf (cap bytes); NULL when
 * it does not fit. */
const char *dev_keys_topic(const struct mqs_creds *cr, char *buf, size_t cap);

/* Seal a request for the n filters (1..DEV_KEYS_MAX) with the device key
 * and publish it at QoS 0 on c; the fresh nonce goes to nonce.  Returns a
 * sysexits code; prints the reason. */
int dev_keys_request(struct dev_conn *c, const char *const *filters, size_t n,
                     uint8_t nonce[DEV_KEYS_NONCE_LEN]);

/* Open and parse a message on the answer topic (payload len bytes) with the
 * answer key derived from the credentials' device key.  Returns MQS_OK
 * (out filled), or an error (out released): not an answer for us. */
MQS_MUST_CHECK int dev_keys_answer_open(const struct mqs_creds *cr, const char *topic,
                                        const uint8_t *payload, size_t len,
                                        struct dev_keys_answer *out);

/* Wipe and free. */
void dev_keys_answer_release(struct dev_keys_answer *a);

/* Replace the topic keys of every filter the answer grants in cr with the
 * answer's, and add its protected filters.  Returns MQS_OK or an error of
 * mqs_creds_add_key (cr keeps what it had then). */
MQS_MUST_CHECK int dev_keys_merge(struct mqs_creds *cr, const struct dev_keys_answer *a);

/* Merge the answer into the credentials file path too (read again, so keys
 * of -K files never land in it; written 0600, atomically).  Returns a
 * sysexits code; prints the reason. */
int dev_keys_save(const char *path, const struct dev_keys_answer *a);

/* Automatic fetching in `subscribe` (docs/payload-encryption.md, "Online
 * keys"): missing keys at start, again when a sealed message carries a key
 * id the credentials do not hold (at most one request every
 * DEV_KEYS_AUTO_EVERY_S seconds; such messages wait, at most
 * DEV_KEYS_AUTO_HELD of them, and are handed back once the answer is
 * merged), and keys pushed by the broker after a rotation.  Answers are
 * merged in memory and into the credentials file. */
#define DEV_KEYS_AUTO_EVERY_S 3
#define DEV_KEYS_AUTO_HELD    256

struct mosquitto_message;

struct dev_keys_held {
	char *topic;
	uint8_t *payload;
	size_t len;
};

struct dev_keys_auto {
	int enabled;
	char topic[MQS_CREDS_USERNAME_MAX + sizeof(DEV_KEYS_PREFIX)]; /* answers */
	const char *filter;                                           /* the subscription */
	uint8_t nonce[DEV_KEYS_NONCE_LEN];
	int waiting;     /* a request is out */
	time_t last_req; /* when the last request went out */
	struct dev_keys_held held[DEV_KEYS_AUTO_HELD];
	size_t nheld;
};

/* Subscribe to the answer topic on c and, when the credentials lack keys
 * for filter (or for a filter they list as protected), ask for them.  Does
 * nothing when a is not enabled or the credentials have no device key.
 * Returns a sysexits code; prints the reason. */
int dev_keys_auto_start(struct dev_keys_auto *a, struct dev_conn *c, const char *filter);

/* 1 when m is on the answer topic or the request topic (consumed: an answer or a push is merged,
 * anything else ignored), else 0. */
int dev_keys_auto_message(struct dev_keys_auto *a, struct dev_conn *c,
                          const struct mosquitto_message *m);

/* A sealed message whose key id the credentials lack: keep a copy and ask
 * for keys.  1 when kept (it comes back from dev_keys_auto_next), 0 when
 * not (fetching off, or too many kept). */
int dev_keys_auto_unknown(struct dev_keys_auto *a, struct dev_conn *c,
                          const struct mosquitto_message *m);

/* The next kept message to deliver again now that an answer came (or the
 * wait ran out), or 0 when none: fills topic, payload and len (free both with
 * free()). */
int dev_keys_auto_next(struct dev_keys_auto *a, char **topic, uint8_t **payload, size_t *len);

/* Free what is kept. */
void dev_keys_auto_release(struct dev_keys_auto *a);

#endif
