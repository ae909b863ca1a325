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

#endif
