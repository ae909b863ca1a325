/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_alert.c - alert JSON: validation, channel choice, queueing. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "gw_alert.h"
#include "gw_config.h"
#include "gw_ladder.h"
#include "gw_log.h"
#include "gw_outbox.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_utf8.h"
#include "mqs_util.h"

/* Read string field key of root into *out (a copy): required or not, at
 * most max bytes, strict UTF-8 (mqs_utf8_valid), no control characters
 * (one_line: no newline or tab either).  MQS_OK, or MQS_ERR_PARSE with a
 * reason in err (MQS_ERR_NOMEM out of memory). */
static int text_field(const cJSON *root, const char *key, int required, size_t max, int one_line,
                      char **out, char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
	size_t len;

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v)) {
		if (required) {
			snprintf(err, errlen, "missing \"%s\"", key);
			return MQS_ERR_PARSE;
		}
		*out = mqs_strdup("");
		return *out != NULL ? MQS_OK : MQS_ERR_NOMEM;
	}
	if (!cJSON_IsString(v)) {
		snprintf(err, errlen, "\"%s\" must be a string", key);
		return MQS_ERR_PARSE;
	}
	len = strlen(v->valuestring);
	if ((required && len == 0) || len > max) {
		snprintf(err, errlen, "\"%s\" must be %d..%zu bytes", key, required ? 1 : 0, max);
		return MQS_ERR_PARSE;
	}
	if (!mqs_utf8_valid((const uint8_t *)v->valuestring, len, 0)) {
		snprintf(err, errlen, "\"%s\" is not valid UTF-8", key);
		return MQS_ERR_PARSE;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v->valuestring[i];
		if ((c < 0x20 && (one_line || (c != '\n' && c != '\t' && c != '\r'))) ||
		    c == 0x7f) {
			snprintf(err, errlen, "\"%s\" contains control characters%s", key,
			         one_line ? " (one line only)" : "");
			return MQS_ERR_PARSE;
		}
	}
	*out = mqs_strdup(v->valuestring);
	if (*out == NULL) {
		snprintf(err, errlen, "out of memory");
		return MQS_ERR_NOMEM;
	}
	return MQS_OK;
}

/* Parse and validate. */
int gw_alert_parse(const uint8_t *json, size_t len, const char *default_group, struct gw_alert *a,
                   char *err, size_t errlen)
{
	cJSON *root = NULL;
	const cJSON *v;

	memset(a, 0, sizeof(*a));
	if (len == 0 || len > 64 * 1024) {
		snprintf(err, errlen, "payload must be 1..65536 bytes of JSON");
		goto fail;
	}
	root = cJSON_ParseWithLength((const char *)json, len);
	if (root == NULL || !cJSON_IsObject(root)) {
		snprintf(err, errlen, "payload is not a JSON object");
		goto fail;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (!cJSON_IsString(v) || !gw_id_check(v->valuestring)) {
		snprintf(err, errlen, "\"id\" missing or not 1..%d of A-Z a-z 0-9 . _ : @ -",
		         GW_ID_MAX);
		goto fail;
	}
	snprintf(a->id, sizeof(a->id), "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(root, "severity");
	a->severity = GW_SEV_INFO;
	if (v != NULL && !cJSON_IsNull(v)) {
		a->severity = cJSON_IsString(v) ? gw_severity_parse(v->valuestring) : -1;
		if (a->severity < 0) {
			snprintf(err, errlen, "\"severity\" must be info, warning or critical");
			goto fail;
		}
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "group");
	if (v != NULL && !cJSON_IsNull(v)) {
		if (!cJSON_IsString(v) || !gw_name_check(v->valuestring)) {
			snprintf(err, errlen, "\"group\" must be 1..64 of A-Z a-z 0-9 _ - . @");
			goto fail;
		}
		snprintf(a->group, sizeof(a->group), "%s", v->valuestring);
	} else if (default_group != NULL) {
		snprintf(a->group, sizeof(a->group), "%s", default_group);
	} else {
		snprintf(err, errlen, "missing \"group\" (and the route sets no group)");
		goto fail;
	}
	if (text_field(root, "title", 1, GW_TITLE_MAX, 1, &a->title, err, errlen) != MQS_OK ||
	    text_field(root, "body", 0, GW_BODY_MAX, 0, &a->body, err, errlen) != MQS_OK)
		goto fail;
	v = cJSON_GetObjectItemCaseSensitive(root, "channels");
	if (v != NULL && !cJSON_IsNull(v)) {
		const cJSON *item;

		if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
			snprintf(err, errlen, "\"channels\" must be a non-empty array");
			goto fail;
		}
		cJSON_ArrayForEach(item, v)
		{
			int ch = cJSON_IsString(item) ? gw_chan_parse(item->valuestring) : -1;
			if (ch < 0) {
				snprintf(err, errlen,
				         "\"channels\" entries must be email, sms, phone, line or "
				         "webhook");
				goto fail;
			}
			a->chan_mask |= GW_CH_BIT(ch);
		}
		a->has_channels = 1;
	}
	cJSON_Delete(root);
	return MQS_OK;
fail:
	cJSON_Delete(root);
	gw_alert_release(a);
	return MQS_ERR_PARSE;
}

/* Free strings. */
void gw_alert_release(struct gw_alert *a)
{
	if (a == NULL)
		return;
	mqs_free(a->title);
	mqs_free(a->body);
	a->title = NULL;
	a->body = NULL;
}

/* Message channels, else group default, else email. */
unsigned gw_alert_channels(struct gw_store *s, const struct gw_alert *a)
{
	unsigned mask = 0;

	if (a->has_channels && a->chan_mask != 0)
		return a->chan_mask;
	if (gw_group_channels(s, a->group, &mask) == MQS_OK && mask != 0)
		return mask;
	return GW_CH_BIT(GW_CH_EMAIL);
}

/* "<prefix>-<32 hex digits>" from the CSPRNG. */
int gw_alert_random_id(const char *prefix, char *out, size_t cap)
{
	unsigned char rnd[16];
	char digits[2 * sizeof(rnd) + 1];
	int n, rc = MQS_ERR_CRYPTO;

	if (RAND_bytes(rnd, (int)sizeof(rnd)) != 1)
		goto out;
	mqs_hex_encode(rnd, sizeof(rnd), digits);
	rc = MQS_ERR_TOOBIG;
	n = snprintf(out, cap, "%s-%s", prefix, digits);
	if (n < 0 || (size_t)n >= cap || !gw_id_check(out))
		goto out;
	rc = MQS_OK;
out:
	OPENSSL_cleanse(rnd, sizeof(rnd));
	if (rc != MQS_OK && cap > 0)
		out[0] = '\0';
	return rc;
}

/* The namespace of an alert's id: its envelope origin, else anonymous. */
const char *gw_alert_publisher(const char *origin)
{
	return origin != NULL ? origin : "";
}

/* The alert as the webhook posts it: {"id", "severity", "group", "title",
 * "body", "channels"} (docs/gateway.md, "Webhook channel"); NULL when
 * memory runs out. */
static char *alert_json(const struct gw_alert *a, unsigned mask)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *chans = NULL;
	char *out = NULL;

	if (root == NULL || cJSON_AddStringToObject(root, "id", a->id) == NULL ||
	    cJSON_AddStringToObject(root, "severity", gw_severity_name(a->severity)) == NULL ||
	    cJSON_AddStringToObject(root, "group", a->group) == NULL ||
	    cJSON_AddStringToObject(root, "title", a->title != NULL ? a->title : "") == NULL ||
	    cJSON_AddStringToObject(root, "body", a->body != NULL ? a->body : "") == NULL)
		goto out;
	chans = cJSON_AddArrayToObject(root, "channels");
	if (chans == NULL)
		goto out;
	for (int ch = 0; ch < GW_CH__COUNT; ch++) {
		cJSON *item;

		if (!(mask & GW_CH_BIT(ch)))
			continue;
		item = cJSON_CreateString(gw_chan_name(ch));
		if (item == NULL || !cJSON_AddItemToArray(chans, item)) {
			cJSON_Delete(item);
			goto out;
		}
	}
	out = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return out;
}

/* Store and queue, inside the caller's transaction. */
int gw_alert_queue_tx(struct gw_store *s, const struct gw_config *c, const struct gw_alert *a,
                      const char *route, const char *topic, const char *kind, const char *origin,
                      const char *publisher, int64_t now_ms, int64_t *rowidp, size_t *nrowsp)
{
	struct gw_message m = {
	    .msg_id = a->id,
	    .route = route,
	    .topic = topic,
	    .kind = kind,
	    .severity = a->severity,
	    .group = a->group,
	    .title = a->title,
	    .body = a->body,
	    .origin = origin,
	    .publisher = publisher,
	};
	unsigned mask = gw_alert_channels(s, a);
	int64_t rowid = 0;
	size_t nrows = 0;
	char *json = NULL;
	int rc;

	/* an unknown group is refused before anything is written: the id
	 * stays free for a valid alert (docs/gateway.md, "Message ids") */
	rc = gw_outbox_group_exists(s, a->group);
	if (rc < 0)
		return MQS_ERR_DB;
	if (rc == 0)
		return MQS_ERR_NOENT;
	if (mask & GW_CH_BIT(GW_CH_WEBHOOK)) {
		/* one POST per alert, its JSON kept sealed until delivered */
		json = alert_json(a, mask);
		if (json == NULL)
			return MQS_ERR_NOMEM;
		m.data = (const uint8_t *)json;
		m.data_len = strlen(json);
	}
	rc = gw_outbox_insert_message(s, &m, now_ms, &rowid);
	mqs_secret_free_str(json);
	if (rc != MQS_OK)
		return rc;
	rc = gw_outbox_queue(s, rowid, a->group, mask, 0, now_ms, &nrows);
	if (rc == MQS_ERR_NOENT) {
		rc = MQS_ERR_DB; /* checked above, in this transaction */
	} else if (rc == MQS_OK && nrows == 0) {
		char chans[64];

		gw_chan_mask_format(mask, chans, sizeof(chans));
		gw_log(GW_LOG_WARN, "message %s: no member of group %s can be reached on %s", a->id,
		       a->group, chans);
	}
	if (rc != MQS_OK)
		return rc;
	if (a->severity == GW_SEV_CRITICAL &&
	    gw_ladder_start_tx(s, c, rowid, mask, now_ms) != MQS_OK)
		return MQS_ERR_DB;
	if (rowidp != NULL)
		*rowidp = rowid;
	if (nrowsp != NULL)
		*nrowsp = nrows;
	return MQS_OK;
}
