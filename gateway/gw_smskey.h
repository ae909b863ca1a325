/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_smskey.h - the per-recipient SMS key tables of the secure SMS envelope
 * M1 in the gateway store (docs/sms-envelope.md, "Key tables"): table
 * sms_keys (recipient, key id 1..65535, the 32-byte key wrapped under the
 * gateway master key with recipient and key id in the associated data,
 * created_at, expires_at).
 *
 * A recipient has at most one active key (expires_at NULL), which seals;
 * `rotate` gives the active key an expiry (now + grace) and adds the next
 * key id, which becomes active.  Keys past their expiry are deleted by the
 * next add or rotate and never returned.  Key ids count up per recipient
 * (1, 2, ...).
 *
 * Pure store module: no struct gw_gateway.  Key bytes never reach a log.
 *
 * Ownership: keys are written into caller structs; the caller wipes them
 * (OPENSSL_cleanse) when done.  Return values are enum mqs_err codes with a
 * lowercase reason in err where one is taken.
 */
#ifndef GW_SMSKEY_H
#define GW_SMSKEY_H

#include <stddef.h>
#include <stdint.h>

#include "gw_store.h"
#include "mqs_error.h"

#define GW_SMSKEY_LEN 32
#define GW_SMSKEY_MAX 64 /* keys of one recipient returned at most */
#define GW_SMSKEY_AAD "sms-key"

/* One SMS key of a recipient. */
struct gw_smskey {
	uint16_t id;
	int64_t created_ms;
	int64_t expires_ms; /* 0: the active key */
	uint8_t key[GW_SMSKEY_LEN];
};

/* Give recipient name its first SMS key (id one above any it had).
 * Returns MQS_OK, MQS_ERR_NOENT (no such recipient), MQS_ERR_EXISTS (it
 * has an active key: rotate), MQS_ERR_TOOBIG (key ids used up), MQS_ERR_DB
 * or MQS_ERR_CRYPTO.  *id (may be NULL) gets the new key id. */
MQS_MUST_CHECK int gw_smskey_add(struct gw_store *s, const char *name, uint16_t *id, char *err,
                                 size_t errlen);

/* Rotate: the active key of name expires in grace_ms (0: now, removed),
 * a new key becomes active.  Returns as gw_smskey_add, MQS_ERR_NOENT also
 * when name has no active key. */
MQS_MUST_CHECK int gw_smskey_rotate(struct gw_store *s, const char *name, int64_t grace_ms,
                                    uint16_t *id, char *err, size_t errlen);

/* The active key of name into *out.  Returns MQS_OK, MQS_ERR_NOENT (no
 * recipient or no active key), MQS_ERR_UNWRAP (wrong master key, or a row
 * moved) or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_smskey_active(struct gw_store *s, const char *name, struct gw_smskey *out);

/* 1 when name has an active key, 0 when not, -1 on a database error (no
 * unwrapping). */
int gw_smskey_has(struct gw_store *s, const char *name);

/* Every unexpired key of name, newest first, into out[max]; *n their
 * count.  Returns MQS_OK, MQS_ERR_NOENT (no recipient), MQS_ERR_UNWRAP or
 * MQS_ERR_DB; on failure out[] is wiped. */
MQS_MUST_CHECK int gw_smskey_all(struct gw_store *s, const char *name, struct gw_smskey *out,
                                 size_t max, size_t *n);

#endif
