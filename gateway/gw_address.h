/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_address.h - recipient and group names, and the addresses of each kind
 * (email, phone, LINE user id): validate, normalise, mask
 * (docs/gateway.md, Recipients).
 *
 * A pure module: no store, no gateway, no logging.  Nothing here prints or
 * keeps an address; the masked form is the only one fit for display
 * (a***@e***.com, +1******0000, U***1a2b).
 *
 * Ownership: every output buffer is caller-owned; an address written into
 * one is PII and the caller wipes it (OPENSSL_cleanse) after use.
 */
#ifndef GW_ADDRESS_H
#define GW_ADDRESS_H

#include <stddef.h>

enum gw_field { GW_F_EMAIL = 0, GW_F_PHONE, GW_F_LINE, GW_F__COUNT };

#define GW_ADDR_MAX 320 /* longest address, with NUL */
#define GW_NAME_MAX 64  /* recipient and group names */

/* "email", "phone", "line"; "?" for anything else. */
const char *gw_field_name(int field);

/* The address field a logical channel (enum gw_chan) delivers to, or -1. */
int gw_field_for_chan(int ch);

/* Return 1 when name is a usable recipient or group name: 1..64 of
 * A-Z a-z 0-9 _ - . @ (names appear in logs and status messages), else 0. */
int gw_name_check(const char *name);

/* Validate and normalise an address: emails trimmed (lookups are
 * case-insensitive), phones to E.164 (+ and 8..15 digits; spaces, dashes,
 * dots and parentheses dropped), LINE ids 1..64 letters and digits.
 * Returns MQS_OK or MQS_ERR_INVAL with a reason in err (never the address). */
int gw_address_normalize(int field, const char *in, char *out, size_t cap, char *err,
                         size_t errlen);

/* Masked form of a (normalised) address for display; "***" when too short
 * to show any of it. */
void gw_address_mask(int field, const char *value, char *out, size_t cap);

#endif
