/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_address.c - names and addresses: validate, normalise, mask. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "gw_address.h"
#include "gw_util.h"
#include "mqs_error.h"

static const char *const field_names[GW_F__COUNT] = {"email", "phone", "line"};

/* Name of an address field. */
const char *gw_field_name(int field)
{
	if (field < 0 || field >= GW_F__COUNT)
		return "?";
	return field_names[field];
}

/* Channel to field: sms and phone share the phone number. */
int gw_field_for_chan(int ch)
{
	switch (ch) {
	case GW_CH_EMAIL:
		return GW_F_EMAIL;
	case GW_CH_SMS:
	case GW_CH_PHONE:
		return GW_F_PHONE;
	case GW_CH_LINE:
		return GW_F_LINE;
	default:
		return -1;
	}
}

/* Names are ASCII words: they appear in logs and status messages. */
int gw_name_check(const char *name)
{
	size_t len = 0;

	if (name == NULL)
		return 0;
	for (; name[len] != '\0'; len++) {
		unsigned char c = (unsigned char)name[len];
		if (len >= GW_NAME_MAX)
			return 0;
		if (!isalnum(c) && c != '_' && c != '-' && c != '.' && c != '@')
			return 0;
	}
	return len > 0;
}

/* Trimmed email address with one @ and a dotted domain. */
static int email_normalize(const char *in, char *out, size_t cap, char *err, size_t errlen)
{
	const char *at, *dot;
	size_t len;

	while (isspace((unsigned char)*in))
		in++;
	len = strlen(in);
	while (len > 0 && isspace((unsigned char)in[len - 1]))
		len--;
	if (len < 3 || len > 254 || len >= cap) {
		snprintf(err, errlen, "email address must be 3..254 characters");
		return MQS_ERR_INVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c <= ' ' || c == 0x7f || strchr("<>()[]\\,;:\"", c) != NULL) {
			snprintf(err, errlen, "email address contains a character not allowed");
			return MQS_ERR_INVAL;
		}
	}
	memcpy(out, in, len);
	out[len] = '\0';
	at = strchr(out, '@');
	if (at == NULL || at == out || strchr(at + 1, '@') != NULL || at - out > 64) {
		snprintf(err, errlen, "email address needs one @ after a local part of 1..64");
		return MQS_ERR_INVAL;
	}
	dot = strrchr(at + 1, '.');
	if (dot == NULL || dot == at + 1 || dot[1] == '\0') {
		snprintf(err, errlen, "email domain needs a dot (e.g. example.com)");
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* E.164 phone number: + and 8..15 digits, separators dropped. */
static int phone_normalize(const char *in, char *out, size_t cap, char *err, size_t errlen)
{
	size_t n = 0, digits = 0;

	while (isspace((unsigned char)*in))
		in++;
	if (*in != '+') {
		snprintf(err, errlen, "phone number must be in international form (+15550000000)");
		return MQS_ERR_INVAL;
	}
	out[n++] = '+';
	for (in++; *in != '\0'; in++) {
		if (isdigit((unsigned char)*in)) {
			if (n + 1 >= cap || digits >= 15) {
				snprintf(err, errlen, "phone number has more than 15 digits");
				return MQS_ERR_INVAL;
			}
			out[n++] = *in;
			digits++;
		} else if (strchr(" -.()", *in) == NULL) {
			snprintf(err, errlen, "phone number may only hold digits after +");
			return MQS_ERR_INVAL;
		}
	}
	out[n] = '\0';
	if (digits < 8 || out[1] == '0') {
		snprintf(err, errlen, "phone number must have 8..15 digits and no leading 0");
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* LINE user id: 1..64 letters and digits. */
static int line_normalize(const char *in, char *out, size_t cap, char *err, size_t errlen)
{
	size_t len = strlen(in);

	if (len == 0 || len > 64 || len >= cap) {
		snprintf(err, errlen, "line user id must be 1..64 letters and digits");
		return MQS_ERR_INVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (!isalnum((unsigned char)in[i])) {
			snprintf(err, errlen, "line user id must be 1..64 letters and digits");
			return MQS_ERR_INVAL;
		}
	}
	memcpy(out, in, len + 1);
	return MQS_OK;
}

/* Validate and normalise one address. */
int gw_address_normalize(int field, const char *in, char *out, size_t cap, char *err, size_t errlen)
{
	if (in == NULL || cap < 2) {
		snprintf(err, errlen, "empty address");
		return MQS_ERR_INVAL;
	}
	switch (field) {
	case GW_F_EMAIL:
		return email_normalize(in, out, cap, err, errlen);
	case GW_F_PHONE:
		return phone_normalize(in, out, cap, err, errlen);
	case GW_F_LINE:
		return line_normalize(in, out, cap, err, errlen);
	default:
		snprintf(err, errlen, "unknown address field");
		return MQS_ERR_INVAL;
	}
}

/* Masked display form. */
void gw_address_mask(int field, const char *v, char *out, size_t cap)
{
	size_t len = strlen(v);

	if (cap == 0)
		return;
	if (field == GW_F_EMAIL) {
		const char *at = strchr(v, '@');
		const char *dot = at != NULL ? strrchr(at, '.') : NULL;

		if (at == NULL || at == v || at[1] == '\0') {
			snprintf(out, cap, "***");
			return;
		}
		if (dot != NULL && dot > at + 1)
			snprintf(out, cap, "%c***@%c***%.16s", v[0], at[1], dot);
		else
			snprintf(out, cap, "%c***@%c***", v[0], at[1]);
	} else if (field == GW_F_PHONE) {
		char stars[16];
		size_t digits = len > 0 ? len - 1 : 0;
		size_t nstars = digits > 5 ? digits - 5 : 0;

		if (len < 7 || v[0] != '+') {
			snprintf(out, cap, "***");
			return;
		}
		if (nstars >= sizeof(stars))
			nstars = sizeof(stars) - 1;
		memset(stars, '*', nstars);
		stars[nstars] = '\0';
		snprintf(out, cap, "+%c%s%s", v[1], stars, v + len - 4);
	} else {
		if (len < 6)
			snprintf(out, cap, "***");
		else
			snprintf(out, cap, "%c***%s", v[0], v + len - 4);
	}
}
