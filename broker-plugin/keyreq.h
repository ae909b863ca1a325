/* SPDX-License-Identifier: BSD-3-Clause */
/* keyreq.h - online topic keys (docs/payload-encryption.md, "Online keys"):
 * the request a device sends on mqttsec/keys/req and the answer the plugin
 * builds for it.  No broker call in here (keysvc.h does the MQTT side), so
 * it is tested on its own.
 *
 * Request (plaintext of an envelope sealed with the device key for topic
 * mqttsec/keys/req, at most MQSP_KEYREQ_PLAIN_MAX bytes):
 *   {"filters": ["site1/#", ...], "nonce": "<16 bytes, base64>"}
 * 1..MQSP_KEYREQ_FILTERS_MAX filters of 1..MQSP_KEYREQ_FILTER_LEN bytes;
 * duplicates count once.  Anything else is malformed.
 *
 * Answer (plaintext of an envelope sealed, for topic mqttsec/keys/<user>,
 * with HKDF(device key, "mqttsec-keys-v1") under the device key's id): a
 * credentials fragment (docs/acl.md, "Devices")
 *   {"username": U, "keys": [{"id", "key", "use": "topic", "topic"}...],
 *    "protected": [granted filters], "refused": [filters], "nonce": N}
 * with every active key (announced ones included) and every key still in
 * its grace of each requested filter that is protected, has an active key
 * and that the device may read (mqs_keyaccess.h, the rule of key export);
 * the rest are listed in "refused".  Each granted key goes into key_grants
 * (via 'online') and the answer into the audit table ("key fetch": user,
 * granted filters and key ids, number refused) in one transaction, before
 * the answer leaves: handing out keys is on record first.
 *
 * Ownership: struct mqsp_keyreq and struct mqsp_keyreq_answer are
 * caller-owned; the _release functions free them (the answer's JSON is
 * wiped first: it holds keys).  On failure they are left released.
 */
#ifndef MQSP_KEYREQ_H
#define MQSP_KEYREQ_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "mqs_master_key.h"
#include "mqs_error.h"

#define MQSP_KEYREQ_TOPIC       "mqttsec/keys/req"
#define MQSP_KEYREQ_PREFIX      "mqttsec/keys/" /* + username: the answers */
#define MQSP_KEYREQ_NONCE_LEN   16
#define MQSP_KEYREQ_FILTERS_MAX 64
#define MQSP_KEYREQ_FILTER_LEN  4096
#define MQSP_KEYREQ_PLAIN_MAX   (64u * 1024u)
#define MQSP_KEYREQ_BUSY_MS     50 /* a request's answer may wait this long for mqttsec-acl's lock */

struct mqsp_keyreq {
	char **filters; /* nfilters malloc'd strings, distinct */
	size_t nfilters;
	uint8_t nonce[MQSP_KEYREQ_NONCE_LEN];
};

struct mqsp_keyreq_answer {
	char *json; /* the answer plaintext, NUL-terminated (secret) */
	size_t json_len;
	char **granted; /* filters whose keys are in json (malloc'd) */
	size_t ngranted;
	size_t nrefused;
	size_t nkeys;
};

/* Parse a request plaintext.  Returns MQS_OK, MQS_ERR_PARSE (malformed),
 * MQS_ERR_TOOBIG (over a cap) or MQS_ERR_NOMEM. */
MQS_MUST_CHECK int mqsp_keyreq_parse(const uint8_t *plain, size_t len, struct mqsp_keyreq *out);

/* Free a request.  NULL is fine. */
void mqsp_keyreq_release(struct mqsp_keyreq *r);

/* Longest client id and peer address recorded with a grant (longer ones
 * are recorded as unknown: NULL). */
#define MQSP_KEYREQ_CID_MAX  256
#define MQSP_KEYREQ_ADDR_MAX 64

/* Build the answer of device user for req on db (the plugin's writer
 * connection: waits at most busy_ms for a lock, then puts the busy timeout
 * back to 0), keys unwrapped with mk, key states judged at now (Unix
 * seconds), and record it (key_grants, with the requesting client id cid
 * and peer address addr, either NULL when unknown; audit).  The answer is to be sealed
 * for device key dk_id: in the same transaction it must still be a device
 * key of user that opens at now (active, or in its grace), else nothing is
 * recorded nor sent.  Returns MQS_OK, MQS_ERR_DB (nothing recorded, nothing
 * to send; locked: sqlite3_errcode(db) is SQLITE_BUSY), MQS_ERR_NOENT
 * (dk_id no longer opens), MQS_ERR_UNWRAP (a key does not open: nothing
 * sent), MQS_ERR_NOMEM; a lowercase message in err. */
MQS_MUST_CHECK int mqsp_keyreq_answer(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN],
                                      const char *user, const char *cid, const char *addr,
                                      uint32_t dk_id, const struct mqsp_keyreq *req, int64_t now,
                                      int busy_ms, struct mqsp_keyreq_answer *out, char *err,
                                      size_t errlen);

/* Wipe and free an answer.  NULL is fine. */
void mqsp_keyreq_answer_release(struct mqsp_keyreq_answer *a);

#endif
