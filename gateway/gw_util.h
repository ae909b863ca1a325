/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_util.h - small gateway helpers: channel and severity names, durations,
 * message ids, UUIDs.
 *
 * Ownership: pure functions over caller-owned buffers; nothing allocates,
 * nothing keeps a pointer.  Parsers return enum mqs_err codes; lookups by
 * name return an index or -1 (not found).
 */
#ifndef GW_UTIL_H
#define GW_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Logical delivery channels.  The first four are people's channels, in
 * the default escalation order (gw_config.c lists that order itself).
 * GW_CH_WEBHOOK and GW_CH_SPOOL have no recipient: one delivery per message
 * (docs/gateway.md, "Webhook channel"); webhook is never in the default
 * escalation nor the default alert channel, and GW_CH_SPOOL is internal
 * (medical-join `deliver = spool`): gw_chan_parse() refuses its name. */
enum gw_chan {
	GW_CH_EMAIL = 0,
	GW_CH_SMS,
	GW_CH_PHONE,
	GW_CH_LINE,
	GW_CH_WEBHOOK,
	GW_CH_SPOOL,
	GW_CH__COUNT
};
#define GW_CH_BIT(ch) (1u << (ch))

/* 1 for channels delivered once per message, without a recipient. */
#define GW_CH_NO_RECIPIENT(ch) ((ch) == GW_CH_WEBHOOK || (ch) == GW_CH_SPOOL)

enum gw_severity { GW_SEV_INFO = 0, GW_SEV_WARNING, GW_SEV_CRITICAL };

#define GW_ID_MAX 128 /* longest message id */

/* "email", "sms", "phone", "line", "webhook", "spool"; "?" for anything
 * else. */
const char *gw_chan_name(int ch);

/* Channel for name, or -1 (also for "spool": not a channel a message or a
 * list may name). */
int gw_chan_parse(const char *name);

/* Parse a comma-separated channel list ("email, sms").  order (capacity
 * GW_CH__COUNT, may be NULL) receives the channels in order, *n their count
 * (may be NULL), *mask their bits.  Duplicates and unknown names are refused
 * with a reason in err.  Returns MQS_OK or MQS_ERR_INVAL. */
int gw_chan_list_parse(const char *csv, unsigned *mask, int *order, size_t *n, char *err,
                       size_t errlen);

/* Write mask as "email,sms" into out ("" for 0). */
void gw_chan_mask_format(unsigned mask, char *out, size_t cap);

/* "info", "warning", "critical". */
const char *gw_severity_name(int sev);

/* Severity for name, or -1. */
int gw_severity_parse(const char *name);

/* Parse a duration: a number with an optional unit ms, s, m, h or d (no
 * unit = seconds), e.g. "250ms", "60s", "5m", "1.5h".  Returns MQS_OK or
 * MQS_ERR_INVAL. */
int gw_duration_parse(const char *s, uint64_t *ms);

/* Return 1 when id is a usable message id: 1..GW_ID_MAX characters of
 * [A-Za-z0-9._:@-] (it becomes an MQTT topic level), else 0. */
int gw_id_check(const char *id);

/* Write a random UUID version 4 (36 characters and a NUL) into out.
 * Returns MQS_OK, or MQS_ERR_CRYPTO when the random generator fails. */
int gw_uuid4(char out[37]);

/* 1 when name is a time zone this machine knows: "UTC", or an IANA name
 * (1..64 characters of A-Z a-z 0-9 / _ + -, no "..", not starting with
 * '/' or '-') with a regular file under /usr/share/zoneinfo (package
 * tzdata), else 0. */
int gw_tz_valid(const char *name);

/* 32-bit FNV-1a of s. */
uint32_t gw_fnv1a(const char *s);

/* Current time in milliseconds, monotonic clock (for timers only). */
uint64_t gw_mono_ms(void);

#endif
