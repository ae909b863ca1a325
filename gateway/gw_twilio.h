/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_twilio.h - the Twilio-style REST request shared by the sms and phone
 * channels: form-encoded POST to {url}/2010-04-01/Accounts/{account_sid}/
 * {resource} with HTTP Basic account_sid:auth_token.
 *
 * Ownership: the channel returned by gw_twilio_new() is freed through its
 * ops->free; kind must be static.  Strings returned by a kind's build()
 * are malloc'd and freed by gw_twilio.c.
 */
#ifndef GW_TWILIO_H
#define GW_TWILIO_H

#include <stddef.h>

#include "gw_channel.h"

/* What differs between sms and phone. */
struct gw_twilio_kind {
	const char *name;     /* section / channel name: "sms", "phone" */
	const char *resource; /* "Messages.json", "Calls.json" */
	const char *field;    /* form field carrying the text: "Body", "Twiml" */
	/* The field's value for d: a new string, or NULL when out of memory. */
	char *(*build)(const struct gw_delivery *d);
	int service_sid; /* accept messaging_service_sid instead of from */
	int sealable;    /* sms: accepts envelope = off|on|required and seals the
	                  * body with gw_sms_body() (docs/sms-envelope.md) */
};

/* A Twilio-style channel of the given kind, or NULL with err filled. */
struct gw_channel *gw_twilio_new(const struct gw_twilio_kind *kind, const struct gw_chan_conf *conf,
                                 char *err, size_t errlen);

/* Non-zero when s is an E.164 number: '+', then 6 to 15 digits. */
int gw_twilio_e164_ok(const char *s);

/* Short lowercase description of a Twilio error code, or NULL when unknown. */
const char *gw_twilio_code_str(long code);

/* Body of an SMS for d: title, newline, body, at most GW_SMS_MAX_UNITS
 * characters (UTF-16 units), valid UTF-8.  New string or NULL (no memory). */
#define GW_SMS_MAX_UNITS 1600
char *gw_sms_text(const struct gw_delivery *d);

/* TwiML of a call for d: <Response><Say>title. body</Say></Response> with
 * the text XML-escaped and the whole at most GW_PHONE_TWIML_MAX bytes.
 * New string or NULL (no memory). */
/* [channel sms] envelope (docs/sms-envelope.md, "Gateway"). */
enum { GW_SMS_ENVELOPE_OFF = 0, GW_SMS_ENVELOPE_ON, GW_SMS_ENVELOPE_REQUIRED };

/* The mode named s (NULL: off), or -1 for anything but off, on, required. */
int gw_sms_envelope_parse(const char *s);

/* The Body of an SMS for d under envelope mode envelope: M1 sealed with
 * d->sms_key when the mode is not off and the recipient has a key, else
 * gw_sms_text() (refused under required: "no sms key").  Sets
 * res->segments.  A new string, or NULL with res->outcome and res->error
 * filled ("no sms key", "too long ...": failed). */
char *gw_sms_body(const struct gw_delivery *d, int envelope, struct gw_result *res);

#define GW_PHONE_TWIML_MAX 4000
char *gw_phone_twiml(const struct gw_delivery *d);

#endif
