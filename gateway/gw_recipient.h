/* gw_recipient.h - recipients and groups (docs/gateway.md).
 *
 * A recipient has a name (not PII: chosen by the operator) and up to three
 * addresses: email, phone (used by sms and phone) and LINE user id.  Each
 * address is stored only encrypted, AES-256-GCM under the gateway master
 * key with a fresh nonce per field (mqs_wrap_seal, AAD
 * "recipient:<name>:<field>"), next to an HMAC-SHA256 of its normalised
 * form under the lookup key for exact-match lookups.  Nothing prints or
 * logs a full address: listings show masked values (a***@e***.com,
 * +1******0000, U***1a2b).
 *
 * Groups have a name and optional default channels.  Opt-outs are per
 * recipient and channel.
 *
 * Return values are enum mqs_err codes (MQS_OK, MQS_ERR_INVAL,
 * MQS_ERR_EXISTS, MQS_ERR_NOENT, MQS_ERR_DB, MQS_ERR_CRYPTO); functions
 * taking err write a lowercase reason there on failure.  Output buffers are
 * caller-owned; decrypted addresses must be wiped by the caller
 * (OPENSSL_cleanse) after use.
 */
#ifndef GW_RECIPIENT_H
#define GW_RECIPIENT_H

#include <stddef.h>
#include <stdio.h>

#include "gw_store.h"

enum gw_field { GW_F_EMAIL = 0, GW_F_PHONE, GW_F_LINE, GW_F__COUNT };

#define GW_ADDR_MAX 320 /* longest address, with NUL */
#define GW_NAME_MAX 64  /* recipient and group names */

/* "email", "phone", "line". */
const char *gw_field_name(int field);

/* The address field a logical channel (enum gw_chan) delivers to. */
int gw_field_for_chan(int ch);

/* Return 1 when name is a usable recipient or group name: 1..64 of
 * A-Z a-z 0-9 _ - . @ */
int gw_name_check(const char *name);

/* Validate and normalise an address: emails trimmed (lookups are
 * case-insensitive), phones to E.164 (+ and 8..15 digits; spaces, dashes,
 * dots and parentheses dropped), LINE ids 1..64 letters and digits.
 * Returns MQS_OK or MQS_ERR_INVAL with a reason in err. */
int gw_field_normalize(int field, const char *in, char *out, size_t cap, char *err, size_t errlen);

/* Masked form of a (normalised) address for display. */
void gw_field_mask(int field, const char *value, char *out, size_t cap);

/* Add a recipient with the given addresses (values[field] or NULL) and
 * group memberships (groups must exist). */
int gw_recipient_add(struct gw_store *s, const char *name, const char *const values[GW_F__COUNT],
                     const char *const *groups, size_t ngroups, char *err, size_t errlen);

/* Remove a recipient (memberships and opt-outs go with it). */
int gw_recipient_rm(struct gw_store *s, const char *name, char *err, size_t errlen);

/* Opt a recipient out of one channel (enum gw_chan). */
int gw_recipient_optout(struct gw_store *s, const char *name, int ch, char *err, size_t errlen);

/* Print every recipient, masked, as a table or a JSON array. */
int gw_recipient_list(struct gw_store *s, FILE *out, int json);

/* Find the recipient whose field equals value (normalised first); the name
 * goes to name.  MQS_ERR_NOENT when none. */
int gw_recipient_find(struct gw_store *s, int field, const char *value, char *name, size_t cap,
                      char *err, size_t errlen);

enum gw_addr_status {
	GW_ADDR_OK = 0,
	GW_ADDR_NO_RECIPIENT, /* removed since the delivery was queued */
	GW_ADDR_NONE,         /* the recipient has no address for this channel */
	GW_ADDR_OPTOUT,       /* opted out of this channel */
	GW_ADDR_ERROR,        /* database or decryption failure (logged) */
};

/* Decrypt the address of recipient name for channel ch into out (capacity
 * GW_ADDR_MAX).  Returns an enum gw_addr_status. */
int gw_recipient_address(struct gw_store *s, const char *name, int ch, char *out, size_t cap);

/* Decrypt the sealed address field of recipient name (as stored in the
 * recipients table) into out (capacity GW_ADDR_MAX).  Returns GW_ADDR_OK or
 * GW_ADDR_ERROR (logged). */
int gw_recipient_open(struct gw_store *s, const char *name, int field, const uint8_t *sealed,
                      size_t sealed_len, char *out, size_t cap);

/* Add a group with default channels (csv, may be NULL or ""). */
int gw_group_add(struct gw_store *s, const char *name, const char *channels, char *err,
                 size_t errlen);

/* Remove a group (memberships go with it). */
int gw_group_rm(struct gw_store *s, const char *name, char *err, size_t errlen);

/* Add / remove a member. */
int gw_group_member(struct gw_store *s, const char *group, const char *recipient, int add,
                    char *err, size_t errlen);

/* Print every group with its default channels and member count. */
int gw_group_list(struct gw_store *s, FILE *out, int json);

/* Default channels of group (enum gw_chan bits, 0 = none set).  Returns
 * MQS_OK, MQS_ERR_NOENT (no such group) or MQS_ERR_DB. */
int gw_group_channels(struct gw_store *s, const char *group, unsigned *mask);

/* Bind recipient name to device (an MQTT username; NULL removes the
 * binding): that device may acknowledge the alerts sent to name's groups
 * (gw_ack.h).  Returns MQS_OK, MQS_ERR_INVAL (bad device name),
 * MQS_ERR_NOENT (no such recipient) or MQS_ERR_DB, with a reason in err. */
int gw_recipient_set_device(struct gw_store *s, const char *name, const char *device, char *err,
                            size_t errlen);

#endif
