/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_campaign.h - a marketing campaign as submitted (the format is in
 * docs/marketing.md, "Submitting a campaign"): parse, validate, hash,
 * check lengths, render per recipient and channel.
 *
 *   {"id": "c-2026-12-winter", "group": "customers",
 *    "channels": ["email", "line", "sms"], "subject": "Winter sale",
 *    "text": "Hello {{name}}, {{vars.offer}} until {{vars.until}}.",
 *    "html": "<p>Hello {{name}}, ...</p>",
 *    "vars": {"offer": "20% off", "until": "24 Dec"},
 *    "send_at": "2026-12-10T09:00:00Z"}
 *
 * Rules: the whole document at most GW_CAMPAIGN_MAX bytes of strict UTF-8
 * JSON, an object without unknown or repeated keys; id a message id
 * (gw_id_check); group a group name; channels a non-empty list of email,
 * sms, line without repeats (phone and webhook are not marketing
 * channels); text required, 1..GW_CAMPAIGN_TEXT_MAX bytes; subject
 * required when email is a channel (1..200 characters, no control
 * characters); html optional (email only); vars an object of at most
 * GW_VARS_MAX string values (gw_template.h); send_at optional RFC 3339 UTC
 * ("Z") time; every template compiled (unknown placeholders refused).
 * The SHA-256 covers the exact submitted bytes, before any parsing.
 *
 * Length limits are checked for the worst case over the audience: the
 * longest recipient name of the group (gw_campaign_check_limits), with the
 * footer each channel adds (gw_campaign_render):
 *
 *   email  subject <= 200 characters; text <= 100 KiB; html <= 256 KiB
 *   sms    text + "\nReply STOP to opt out" <= 1600 characters counted
 *          as UTF-16 units (plain SMS, Twilio's cap), or <= GW_SMS_SEALED_TEXT_MAX bytes when the
 *          SMS channel seals its messages (a sealed SMS carries far less)
 *   line   text <= 5000 characters (LINE's cap on a text message)
 *
 * Pure module: no store, no I/O.
 *
 * Ownership: struct gw_campaign is caller-owned; gw_campaign_parse() fills
 * it (copies of everything it keeps), gw_campaign_release() frees what it
 * holds (idempotent, NULL ok).  struct gw_rendered strings are malloc'd and
 * freed by gw_rendered_release().
 */
#ifndef GW_CAMPAIGN_H
#define GW_CAMPAIGN_H

#include <stddef.h>
#include <stdint.h>

#include "gw_template.h"
#include "gw_util.h"
#include "mqs_error.h"

#define GW_CAMPAIGN_MAX         (64u * 1024u) /* submitted bytes at most */
#define GW_CAMPAIGN_TEXT_MAX    (32u * 1024u) /* text template bytes */
#define GW_CAMPAIGN_SUBJECT_MAX 200           /* characters, rendered */
#define GW_SMS_PLAIN_MAX        1600          /* characters, rendered with footer */
#define GW_SMS_SEALED_TEXT_MAX                                                                     \
	400                    /* bytes of text a sealed SMS carries                               \
	                        * (docs/channels.md) */
#define GW_LINE_TEXT_MAX  5000 /* characters */
#define GW_EMAIL_TEXT_MAX (100u * 1024u)
#define GW_EMAIL_HTML_MAX (256u * 1024u)
#define GW_CAMPAIGN_MARKETING_CHANS                                                                \
	(GW_CH_BIT(GW_CH_EMAIL) | GW_CH_BIT(GW_CH_SMS) | GW_CH_BIT(GW_CH_LINE))

struct gw_campaign {
	char id[GW_ID_MAX + 1];
	char group[65];
	unsigned chan_mask;          /* GW_CH_BIT of each channel */
	struct gw_template *subject; /* NULL without email */
	struct gw_template *text;
	struct gw_template *html; /* NULL when absent */
	int64_t send_at_ms;       /* 0 when absent: as soon as approved */
	uint8_t sha256[32];       /* of the submitted bytes */
	char sha256_hex[65];
	/* the variables (owned copies) */
	size_t nvars;
	char *var_key[GW_VARS_MAX];
	char *var_value[GW_VARS_MAX];
};

/* Parse and validate len bytes.  c is overwritten first (release a
 * parsed campaign before reusing its struct).  Returns MQS_OK, or
 * MQS_ERR_PARSE (not JSON, invalid UTF-8, template syntax) /
 * MQS_ERR_TOOBIG (a size cap) / MQS_ERR_INVAL (a field's type or value,
 * unknown or repeated key) / MQS_ERR_NOMEM / MQS_ERR_CRYPTO (the digest
 * failed) with a lowercase reason in err naming the field ("channels:
 * phone is not a marketing channel"), c released. */
MQS_MUST_CHECK int gw_campaign_parse(const uint8_t *bytes, size_t len, struct gw_campaign *c,
                                     char *err, size_t errlen);

/* Free what c holds.  NULL is fine. */
void gw_campaign_release(struct gw_campaign *c);

/* SHA-256 of len bytes as 64 lowercase hex characters and a NUL. */
void gw_campaign_sha256_hex(const uint8_t *bytes, size_t len, char out[65]);

/* Check every channel's limit for the worst case: recipient names of at
 * most name_bytes bytes / name_chars characters (the longest in the
 * group; 0 for an empty group), SMS sealed (sms_sealed = 1) or plain.
 * Returns MQS_OK or MQS_ERR_TOOBIG with a reason in err ("sms: text can
 * reach 1712 characters for the longest name (limit 1600)"). */
MQS_MUST_CHECK int gw_campaign_check_limits(const struct gw_campaign *c, size_t name_bytes,
                                            size_t name_chars, int sms_sealed, char *err,
                                            size_t errlen);

/* What one delivery carries. */
struct gw_rendered {
	char *subject; /* email only, else NULL */
	char *text;    /* with the channel's footer */
	char *html;    /* email with an html part only, else NULL */
};

/* Render c for channel ch (email, sms, line) and the recipient called
 * name.  unsub_url (email only; may be NULL elsewhere) goes into the email
 * footer: "To unsubscribe: <url>" in text, an escaped link in html; for
 * email it is required, 1..600 bytes of UTF-8 without control characters
 * (the allowance check_limits counts), else MQS_ERR_INVAL.  Control
 * characters of name are blanked in the subject (a header line).
 * Returns MQS_OK, MQS_ERR_INVAL (ch not a channel of c), MQS_ERR_TOOBIG or
 * MQS_ERR_NOMEM; *out released on failure. */
MQS_MUST_CHECK int gw_campaign_render(const struct gw_campaign *c, int ch, const char *name,
                                      const char *unsub_url, struct gw_rendered *out);

/* Free a rendering.  NULL is fine. */
void gw_rendered_release(struct gw_rendered *r);

#endif
