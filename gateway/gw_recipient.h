/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_recipient.h - recipients: data access (docs/gateway.md, Recipients).
 *
 * A recipient has a name (not PII: chosen by the operator) and up to three
 * addresses: email, phone (used by sms and phone) and LINE user id
 * (gw_address.h validates and masks them).  Each address is stored only
 * encrypted, AES-256-GCM under the gateway master key with a fresh nonce
 * per field (mqs_wrap_seal, AAD "recipient:<name>:<field>"), next to an
 * HMAC-SHA256 of its normalised form under the lookup key for exact-match
 * lookups, and next to its masked display form (gw_address_mask, written
 * with the address) so that listings never decrypt.  Opt-outs are per recipient and channel.
 * Nothing here prints: listings hand masked rows to a callback (the command files print them).
 *
 * Return values are enum mqs_err codes (MQS_OK, MQS_ERR_INVAL,
 * MQS_ERR_EXISTS, MQS_ERR_NOENT, MQS_ERR_DB, MQS_ERR_CRYPTO); functions
 * taking err write a lowercase reason there on failure (never an address).
 *
 * Ownership: the store is the caller's.  Output buffers are caller-owned;
 * decrypted addresses must be wiped by the caller (OPENSSL_cleanse) after
 * use.  Rows passed to a gw_recipient_each() callback live only during the
 * call.
 */
#ifndef GW_RECIPIENT_H
#define GW_RECIPIENT_H

#include <stddef.h>
#include <stdint.h>

#include "gw_address.h"
#include "gw_group.h" /* the callers of recipients mostly need groups too */
#include "gw_store.h"
#include "mqs_error.h"

/* Add a recipient with the given addresses (values[field] or NULL) and
 * group memberships (groups must exist), in one transaction. */
MQS_MUST_CHECK int gw_recipient_add(struct gw_store *s, const char *name,
                                    const char *const values[GW_F__COUNT],
                                    const char *const *groups, size_t ngroups, char *err,
                                    size_t errlen);

/* Remove a recipient (memberships and opt-outs go with it). */
MQS_MUST_CHECK int gw_recipient_rm(struct gw_store *s, const char *name, char *err, size_t errlen);

/* Opt-outs: gw_consent.h. */

/* Find the recipient whose field equals value (normalised first); the name
 * goes to name.  MQS_ERR_NOENT when none. */
MQS_MUST_CHECK int gw_recipient_find(struct gw_store *s, int field, const char *value, char *name,
                                     size_t cap, char *err, size_t errlen);

/* Call fn(id, name, arg) for every recipient whose field equals value
 * (normalised first), by id: addresses are not unique (a household phone,
 * a duplicate record), and an opt-out by address applies to all of them.
 * fn returns MQS_OK to go on; any other value stops the walk and is
 * returned.  Returns MQS_OK, MQS_ERR_NOENT (none), MQS_ERR_INVAL (not an
 * address), MQS_ERR_CRYPTO or MQS_ERR_DB, with a reason in err. */
MQS_MUST_CHECK int gw_recipient_find_each(struct gw_store *s, int field, const char *value,
                                          int (*fn)(int64_t id, const char *name, void *arg),
                                          void *arg, char *err, size_t errlen);

/* Row id of recipient name: the id, -1 when there is none, -2 on a
 * database error. */
int64_t gw_recipient_id(struct gw_store *s, const char *name);

enum gw_addr_status {
	GW_ADDR_OK = 0,
	GW_ADDR_NO_RECIPIENT, /* removed since the delivery was queued */
	GW_ADDR_NONE,         /* the recipient has no address for this channel */
	GW_ADDR_OPTOUT,       /* opted out of this channel */
	GW_ADDR_ERROR,        /* database or decryption failure (logged) */
};

/* Decrypt the sealed address field of recipient name (as stored in the
 * recipients table, e.g. struct gw_outbox_row's sealed) into out (capacity
 * GW_ADDR_MAX).  Returns GW_ADDR_OK, GW_ADDR_NONE (nothing sealed) or
 * GW_ADDR_ERROR (logged: wrong key, or a field moved to another row). */
MQS_MUST_CHECK int gw_recipient_open(struct gw_store *s, const char *name, int field,
                                     const uint8_t *sealed, size_t sealed_len, char *out,
                                     size_t cap);

/* Bind recipient name to device (an MQTT username; NULL removes the
 * binding): that device may acknowledge the alerts sent to name's groups
 * (gw_ack.h).  Returns MQS_OK, MQS_ERR_INVAL (bad device name),
 * MQS_ERR_NOENT (no such recipient) or MQS_ERR_DB, with a reason in err. */
MQS_MUST_CHECK int gw_recipient_set_device(struct gw_store *s, const char *name, const char *device,
                                           char *err, size_t errlen);

/* Set (or replace) address field of recipient name to value: normalised,
 * sealed and hashed as gw_recipient_add() does.  Works inside the caller's
 * transaction when one is open.  Returns MQS_OK, MQS_ERR_INVAL (bad
 * address), MQS_ERR_NOENT, MQS_ERR_CRYPTO or MQS_ERR_DB with a reason in
 * err (never the address). */
MQS_MUST_CHECK int gw_recipient_set_address(struct gw_store *s, const char *name, int field,
                                            const char *value, char *err, size_t errlen);

/* Set the IANA time zone of recipient name (NULL clears it: the gateway's
 * zone applies).  Returns MQS_OK, MQS_ERR_INVAL (unknown zone),
 * MQS_ERR_NOENT or MQS_ERR_DB with a reason in err. */
MQS_MUST_CHECK int gw_recipient_set_tz(struct gw_store *s, const char *name, const char *tz,
                                       char *err, size_t errlen);

/* The name of recipient row id into name (cap bytes).  Returns MQS_OK,
 * MQS_ERR_NOENT or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_recipient_name_of(struct gw_store *s, int64_t id, char *name, size_t cap);

/* recipients.created_at of row id (milliseconds since the epoch; seconds
 * for rows added before issue 13) into *created_at.  Returns MQS_OK,
 * MQS_ERR_NOENT or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_recipient_created_at(struct gw_store *s, int64_t id, int64_t *created_at);

/* One recipient as listed: names and masked addresses only. */
struct gw_recipient_info {
	const char *name;
	int status[GW_F__COUNT];               /* GW_ADDR_OK, GW_ADDR_NONE or GW_ADDR_ERROR */
	char masked[GW_F__COUNT][GW_ADDR_MAX]; /* gw_address_mask() form when GW_ADDR_OK, else "" */
	const char *groups;                    /* comma-separated group names, or NULL */
	const char *optouts;                   /* comma-separated channels, or NULL */
	const char *device;                    /* acknowledging device, or NULL */
	const char *tz;                        /* IANA time zone, or NULL */
	const char *consents;                  /* channels with marketing consent on, or NULL */
};

/* Fill the masked-address columns of rows written before migration 6
 * (decrypting each address once), once per database: a kv flag records
 * that it is done.  Returns MQS_OK (also when a field does not decrypt: its
 * mask stays empty and the listing shows it unreadable) or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_recipient_masks_fill(struct gw_store *s);

/* Call fn for every recipient, by name; fn returns MQS_OK to go on, any
 * other value stops the walk and is returned.  Returns MQS_OK or
 * MQS_ERR_DB. */
int gw_recipient_each(struct gw_store *s, int (*fn)(const struct gw_recipient_info *ri, void *arg),
                      void *arg);

#endif
