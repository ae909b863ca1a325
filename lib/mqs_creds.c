/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_creds.c - credentials file (docs/acl.md, "Devices") over cJSON. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqs_creds.h"
#include "mqs_error.h"
#include "mqs_topic.h"
#include "mqs_util.h"

/* Format a lowercase reason into errbuf (errbuf may be NULL). */
static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Format a lowercase reason into errbuf; see the declaration above. */
static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

/* Wipe every string in a cJSON tree (it may hold secrets) before it is freed. */
static void wipe_tree(cJSON *node)
{
	for (; node != NULL; node = node->next) {
		if (node->valuestring != NULL)
			OPENSSL_cleanse(node->valuestring, strlen(node->valuestring));
		wipe_tree(node->child);
	}
}

/* Zero c. */
void mqs_creds_init(struct mqs_creds *c)
{
	memset(c, 0, sizeof(*c));
}

/* Wipe and free everything c owns. */
void mqs_creds_release(struct mqs_creds *c)
{
	if (c == NULL)
		return;
	mqs_free(c->username);
	for (size_t i = 0; i < c->nkeys; i++) {
		mqs_free(c->keys[i].topic);
		mqs_free(c->keys[i].name);
	}
	mqs_secret_free(c->keys, c->nkeys * sizeof(*c->keys));
	for (size_t i = 0; i < c->nprotected; i++)
		mqs_free(c->protected_filters[i]);
	mqs_free(c->protected_filters);
	OPENSSL_cleanse(c, sizeof(*c));
}

/* Set username. */
int mqs_creds_set_username(struct mqs_creds *c, const char *username)
{
	char *copy;
	size_t len;

	if (c == NULL || username == NULL)
		return MQS_ERR_INVAL;
	len = strlen(username);
	if (len == 0 || len > MQS_CREDS_USERNAME_MAX)
		return MQS_ERR_INVAL;
	copy = mqs_strdup(username);
	if (copy == NULL)
		return MQS_ERR_NOMEM;
	mqs_free(c->username);
	c->username = copy;
	return MQS_OK;
}

/* Append a key of any use; str is the topic filter of a topic key or the
 * name of a record key (copied), NULL for a device key.  Arguments are
 * checked by the callers. */
static int creds_append(struct mqs_creds *c, uint32_t id, int use, const char *str,
                        const uint8_t key[MQS_ENVELOPE_KEY_LEN])
{
	struct mqs_creds_key *keys;
	char *tcopy = NULL;
	void *block;
	size_t cap;
	int rc;

	if (c->nkeys >= MQS_CREDS_KEYS_MAX)
		return MQS_ERR_TOOBIG;
	if (str != NULL) {
		tcopy = mqs_strdup(str);
		if (tcopy == NULL)
			return MQS_ERR_NOMEM;
	}
	/* secret: growth copies and wipes, so no old key bytes are left.  The
	 * room is taken to be nkeys (callers may swap keys/nkeys between two
	 * struct mqs_creds), so every append grows, as before. */
	block = c->keys;
	cap = c->nkeys;
	rc = mqs_array_reserve(&block, &cap, c->nkeys + 1, sizeof(*keys), MQS_CREDS_KEYS_MAX, 1);
	if (rc != MQS_OK) {
		mqs_free(tcopy);
		return rc;
	}
	c->keys = keys = block;
	memset(&keys[c->nkeys], 0, sizeof(keys[c->nkeys]));
	keys[c->nkeys].id = id;
	keys[c->nkeys].use = use;
	if (use == MQS_CREDS_USE_RECORD)
		keys[c->nkeys].name = tcopy;
	else
		keys[c->nkeys].topic = tcopy;
	memcpy(keys[c->nkeys].key, key, MQS_ENVELOPE_KEY_LEN);
	c->nkeys++;
	return MQS_OK;
}

/* Append a device or topic key (record keys have their own function, with
 * a name). */
int mqs_creds_add_key(struct mqs_creds *c, uint32_t id, int use, const char *topic,
                      const uint8_t key[MQS_ENVELOPE_KEY_LEN])
{
	if (c == NULL || key == NULL ||
	    (use != MQS_CREDS_USE_DEVICE && use != MQS_CREDS_USE_TOPIC) ||
	    (use == MQS_CREDS_USE_TOPIC && (topic == NULL || topic[0] == 0)))
		return MQS_ERR_INVAL;
	return creds_append(c, id, use, use == MQS_CREDS_USE_TOPIC ? topic : NULL, key);
}

/* 1 when name is 1..MQS_CREDS_NAME_MAX bytes of [A-Za-z0-9._-]. */
static int creds_name_ok(const char *name)
{
	size_t len;

	if (name == NULL)
		return 0;
	len = strlen(name);
	if (len == 0 || len > MQS_CREDS_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

/* Append a record key of sender name. */
int mqs_creds_add_record_key(struct mqs_creds *c, uint32_t id, const char *name,
                             const uint8_t key[MQS_ENVELOPE_KEY_LEN])
{
	if (c == NULL || key == NULL || !creds_name_ok(name))
		return MQS_ERR_INVAL;
	if (mqs_creds_find_key(c, id) != NULL || mqs_creds_record_key(c, name) != NULL)
		return MQS_ERR_EXISTS;
	return creds_append(c, id, MQS_CREDS_USE_RECORD, name, key);
}

/* Record key of sender name. */
const struct mqs_creds_key *mqs_creds_record_key(const struct mqs_creds *c, const char *name)
{
	for (size_t i = 0; c != NULL && name != NULL && i < c->nkeys; i++) {
		if (c->keys[i].use == MQS_CREDS_USE_RECORD && c->keys[i].name != NULL &&
		    strcmp(c->keys[i].name, name) == 0)
			return &c->keys[i];
	}
	return NULL;
}

/* The highest topic key id c holds for filter; 0: none. */
static uint32_t newest_topic_key(const struct mqs_creds *c, const char *filter)
{
	uint32_t id = 0;

	for (size_t i = 0; i < c->nkeys; i++) {
		const struct mqs_creds_key *k = &c->keys[i];

		if (k->use == MQS_CREDS_USE_TOPIC && k->topic != NULL &&
		    strcmp(k->topic, filter) == 0 && k->id > id)
			id = k->id;
	}
	return id;
}

/* Whether an answer carries only keys older than held's (mqs_creds.h). */
int mqs_creds_answer_stale(const struct mqs_creds *held, const struct mqs_creds *a)
{
	for (size_t i = 0; i < a->nprotected; i++) {
		if (newest_topic_key(held, a->protected_filters[i]) >
		    newest_topic_key(a, a->protected_filters[i]))
			return 1;
	}
	return 0;
}

/* Whether a push is older than what held took. */
int mqs_creds_push_stale(const struct mqs_creds *held, const struct mqs_creds *a)
{
	if (a->keys_issued_ms < held->keys_issued_ms)
		return 1;
	return mqs_creds_answer_stale(held, a);
}

/* Append a protected filter. */
int mqs_creds_add_protected(struct mqs_creds *c, const char *filter)
{
	char **list;
	char *copy;
	void *block;
	size_t cap;
	int rc;

	if (c == NULL || filter == NULL || mqs_topic_filter_check(filter) != MQS_OK)
		return MQS_ERR_INVAL;
	if (c->nprotected >= MQS_CREDS_KEYS_MAX)
		return MQS_ERR_TOOBIG;
	copy = mqs_strdup(filter);
	if (copy == NULL)
		return MQS_ERR_NOMEM;
	block = c->protected_filters;
	cap = c->nprotected; /* as for keys: the room is not kept apart */
	rc = mqs_array_reserve(&block, &cap, c->nprotected + 1, sizeof(*list), MQS_CREDS_KEYS_MAX,
	                       0);
	if (rc != MQS_OK) {
		mqs_free(copy);
		return rc;
	}
	list = block;
	list[c->nprotected++] = copy;
	c->protected_filters = list;
	return MQS_OK;
}

/* Is topic protected according to c? */
int mqs_creds_topic_protected(const struct mqs_creds *c, const char *topic)
{
	for (size_t i = 0; c != NULL && i < c->nprotected; i++) {
		if (mqs_topic_matches(c->protected_filters[i], topic))
			return 1;
	}
	for (size_t i = 0; c != NULL && i < c->nkeys; i++) {
		if (c->keys[i].use == MQS_CREDS_USE_TOPIC &&
		    mqs_topic_matches(c->keys[i].topic, topic))
			return 1;
	}
	return 0;
}

/* Key with id usable for topic (never a record key: a record key opens
 * records only, docs/medical.md, "Record keys"). */
const struct mqs_creds_key *mqs_creds_key_for(const struct mqs_creds *c, uint32_t id,
                                              const char *topic)
{
	for (size_t i = 0; c != NULL && i < c->nkeys; i++) {
		const struct mqs_creds_key *k = &c->keys[i];

		if (k->id != id)
			continue;
		if (k->use == MQS_CREDS_USE_DEVICE)
			return k;
		if (k->use == MQS_CREDS_USE_TOPIC && mqs_topic_matches(k->topic, topic))
			return k;
	}
	return NULL;
}

/* First device key. */
const struct mqs_creds_key *mqs_creds_device_key(const struct mqs_creds *c)
{
	for (size_t i = 0; c != NULL && i < c->nkeys; i++) {
		if (c->keys[i].use == MQS_CREDS_USE_DEVICE)
			return &c->keys[i];
	}
	return NULL;
}

/* Key by id. */
const struct mqs_creds_key *mqs_creds_find_key(const struct mqs_creds *c, uint32_t id)
{
	for (size_t i = 0; c != NULL && i < c->nkeys; i++) {
		if (c->keys[i].id == id)
			return &c->keys[i];
	}
	return NULL;
}

/* Parse the "totp" object into c; MQS_OK or MQS_ERR_PARSE (why in errbuf). */
static int parse_totp(const cJSON *totp, struct mqs_creds *c, char *errbuf, size_t errlen)
{
	const cJSON *secret = cJSON_GetObjectItemCaseSensitive(totp, "secret");
	const cJSON *digits = cJSON_GetObjectItemCaseSensitive(totp, "digits");
	const cJSON *period = cJSON_GetObjectItemCaseSensitive(totp, "period");
	const cJSON *alg = cJSON_GetObjectItemCaseSensitive(totp, "algorithm");
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	int rc = MQS_ERR_PARSE;

	mqs_totp_params_default(&c->totp);
	if (!cJSON_IsObject(totp)) {
		set_err(errbuf, errlen, "\"totp\" is not an object");
		goto out;
	}
	if (!cJSON_IsString(secret)) {
		set_err(errbuf, errlen, "\"totp.secret\" missing or not a string");
		goto out;
	}
	if (digits != NULL) {
		if (!cJSON_IsNumber(digits) ||
		    (digits->valuedouble != 6 && digits->valuedouble != 8)) {
			set_err(errbuf, errlen, "\"totp.digits\" must be 6 or 8");
			goto out;
		}
		c->totp.digits = (unsigned)digits->valueint;
	}
	if (period != NULL) {
		if (!cJSON_IsNumber(period) || period->valuedouble < 1 ||
		    period->valuedouble > 3600 || period->valuedouble != (double)period->valueint) {
			set_err(errbuf, errlen, "\"totp.period\" must be 1..3600 seconds");
			goto out;
		}
		c->totp.period = (unsigned)period->valueint;
	}
	if (alg != NULL) {
		if (!cJSON_IsString(alg) ||
		    mqs_totp_alg_parse(alg->valuestring, &c->totp.algorithm) != MQS_OK) {
			set_err(errbuf, errlen,
			        "\"totp.algorithm\" must be SHA1, SHA256 or SHA512");
			goto out;
		}
	}
	if (mqs_base32_decode(secret->valuestring, strlen(secret->valuestring), &raw, &raw_len) !=
	        MQS_OK ||
	    raw_len == 0 || raw_len > MQS_TOTP_SECRET_MAX) {
		set_err(errbuf, errlen, "\"totp.secret\" is not base32 of 1..%d bytes",
		        MQS_TOTP_SECRET_MAX);
		goto out;
	}
	memcpy(c->totp_secret, raw, raw_len);
	c->totp_secret_len = raw_len;
	c->has_totp = 1;
	rc = MQS_OK;
out:
	mqs_secret_free(raw, raw_len);
	return rc;
}

/* Parse keys[index] into c; MQS_OK or MQS_ERR_PARSE (why in errbuf). */
static int parse_key(const cJSON *item, size_t index, struct mqs_creds *c, char *errbuf,
                     size_t errlen)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(item, "key");
	const cJSON *use = cJSON_GetObjectItemCaseSensitive(item, "use");
	const cJSON *topic = cJSON_GetObjectItemCaseSensitive(item, "topic");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	int u;
	int rc = MQS_ERR_PARSE;

	if (!cJSON_IsObject(item)) {
		set_err(errbuf, errlen, "keys[%zu] is not an object", index);
		goto out;
	}
	if (!cJSON_IsNumber(id) || id->valuedouble < 1 || id->valuedouble > 4294967295.0 ||
	    id->valuedouble != (double)(uint32_t)id->valuedouble) {
		set_err(errbuf, errlen, "keys[%zu].id must be an integer 1..4294967295", index);
		goto out;
	}
	if (!cJSON_IsString(use) ||
	    (strcmp(use->valuestring, "device") != 0 && strcmp(use->valuestring, "topic") != 0 &&
	     strcmp(use->valuestring, "record") != 0)) {
		set_err(errbuf, errlen, "keys[%zu].use must be \"device\", \"topic\" or \"record\"",
		        index);
		goto out;
	}
	if (strcmp(use->valuestring, "device") == 0)
		u = MQS_CREDS_USE_DEVICE;
	else if (strcmp(use->valuestring, "topic") == 0)
		u = MQS_CREDS_USE_TOPIC;
	else
		u = MQS_CREDS_USE_RECORD;
	if (u == MQS_CREDS_USE_RECORD &&
	    (!cJSON_IsString(name) || !creds_name_ok(name->valuestring))) {
		set_err(errbuf, errlen,
		        "keys[%zu].name of a record key must be 1..%d bytes of [A-Za-z0-9._-]",
		        index, MQS_CREDS_NAME_MAX);
		goto out;
	}
	if (u == MQS_CREDS_USE_TOPIC && (!cJSON_IsString(topic) || topic->valuestring[0] == 0 ||
	                                 strlen(topic->valuestring) > 65535)) {
		set_err(errbuf, errlen, "keys[%zu].topic missing for a topic key", index);
		goto out;
	}
	if (!cJSON_IsString(key) ||
	    mqs_base64_decode(key->valuestring, strlen(key->valuestring), MQS_ENVELOPE_KEY_LEN,
	                      &raw, &raw_len) != MQS_OK ||
	    raw_len != MQS_ENVELOPE_KEY_LEN) {
		set_err(errbuf, errlen, "keys[%zu].key must be base64 of 32 bytes", index);
		goto out;
	}
	if (u == MQS_CREDS_USE_RECORD)
		rc = mqs_creds_add_record_key(c, (uint32_t)id->valuedouble, name->valuestring, raw);
	else
		rc = mqs_creds_add_key(c, (uint32_t)id->valuedouble, u,
		                       u == MQS_CREDS_USE_TOPIC ? topic->valuestring : NULL, raw);
	if (rc != MQS_OK)
		set_err(errbuf, errlen, "keys[%zu]: %s", index, mqs_strerror(rc));
out:
	mqs_secret_free(raw, raw_len);
	return rc;
}

/* Parse credentials JSON into c (initialised here); a key file (need_user
 * 0) may leave out "username". */
static int creds_parse(const char *json, size_t len, int need_user, struct mqs_creds *c,
                       char *errbuf, size_t errlen)
{
	cJSON *root = NULL;
	const cJSON *username;
	const cJSON *totp;
	const cJSON *keys;
	const cJSON *prot;
	const cJSON *item;
	size_t index = 0;
	int rc = MQS_ERR_PARSE;

	mqs_creds_init(c);
	if (json == NULL) {
		rc = MQS_ERR_INVAL;
		goto out;
	}
	if (len > MQS_CREDS_FILE_MAX) {
		set_err(errbuf, errlen, "credentials larger than %u bytes", MQS_CREDS_FILE_MAX);
		rc = MQS_ERR_TOOBIG;
		goto out;
	}
	root = cJSON_ParseWithLength(json, len);
	if (root == NULL || !cJSON_IsObject(root)) {
		set_err(errbuf, errlen, "not a json object");
		goto out;
	}
	username = cJSON_GetObjectItemCaseSensitive(root, "username");
	if (username != NULL || need_user) {
		if (!cJSON_IsString(username) || username->valuestring[0] == 0 ||
		    strlen(username->valuestring) > MQS_CREDS_USERNAME_MAX) {
			set_err(errbuf, errlen,
			        "\"username\" missing or not a string of 1..%d bytes",
			        MQS_CREDS_USERNAME_MAX);
			goto out;
		}
		rc = mqs_creds_set_username(c, username->valuestring);
		if (rc != MQS_OK)
			goto out;
	}
	rc = MQS_ERR_PARSE;
	totp = cJSON_GetObjectItemCaseSensitive(root, "totp");
	if (totp != NULL && !cJSON_IsNull(totp) && parse_totp(totp, c, errbuf, errlen) != MQS_OK)
		goto out;
	/* docs/broker-plugin.md, "Connect tokens": the broker accepts them */
	c->connect_tokens = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "connect_tokens"));
	{
		const cJSON *iss = cJSON_GetObjectItemCaseSensitive(root, "keys_issued_ms");

		/* below 2^53: exact in a JSON number */
		if (cJSON_IsNumber(iss) && iss->valuedouble >= 0 &&
		    iss->valuedouble < 9007199254740992.0)
			c->keys_issued_ms = (uint64_t)iss->valuedouble;
	}
	prot = cJSON_GetObjectItemCaseSensitive(root, "protected");
	if (prot != NULL && !cJSON_IsNull(prot)) {
		if (!cJSON_IsArray(prot)) {
			set_err(errbuf, errlen, "\"protected\" is not an array");
			goto out;
		}
		cJSON_ArrayForEach(item, prot)
		{
			if (!cJSON_IsString(item) ||
			    mqs_creds_add_protected(c, item->valuestring) != MQS_OK) {
				set_err(errbuf, errlen,
				        "\"protected\" holds an invalid topic filter");
				goto out;
			}
		}
	}
	keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
	if (keys != NULL && !cJSON_IsNull(keys)) {
		if (!cJSON_IsArray(keys)) {
			set_err(errbuf, errlen, "\"keys\" is not an array");
			goto out;
		}
		cJSON_ArrayForEach(item, keys)
		{
			rc = parse_key(item, index++, c, errbuf, errlen);
			if (rc != MQS_OK)
				goto out;
		}
	}
	rc = MQS_OK;
out:
	wipe_tree(root);
	cJSON_Delete(root);
	if (rc != MQS_OK)
		mqs_creds_release(c);
	return rc;
}

/* Parse credentials JSON. */
int mqs_creds_parse(const char *json, size_t len, struct mqs_creds *c, char *errbuf, size_t errlen)
{
	return creds_parse(json, len, 1, c, errbuf, errlen);
}

/* Parse a key file and append its keys to c; see header. */
int mqs_creds_parse_keys(const char *json, size_t len, struct mqs_creds *c, char *errbuf,
                         size_t errlen)
{
	struct mqs_creds tmp;
	size_t old;
	int rc;

	if (c == NULL)
		return MQS_ERR_INVAL;
	old = c->nkeys;
	rc = creds_parse(json, len, 0, &tmp, errbuf, errlen);
	if (rc != MQS_OK)
		return rc;
	for (size_t i = 0; i < tmp.nkeys; i++) {
		const struct mqs_creds_key *k = &tmp.keys[i];

		if (mqs_creds_find_key(c, k->id) != NULL) {
			set_err(errbuf, errlen, "keys[%zu]: a key with id %lu is already there", i,
			        (unsigned long)k->id);
			rc = MQS_ERR_EXISTS;
			goto out;
		}
		if (k->use == MQS_CREDS_USE_RECORD)
			rc = mqs_creds_add_record_key(c, k->id, k->name, k->key);
		else
			rc = mqs_creds_add_key(c, k->id, k->use, k->topic, k->key);
		if (rc != MQS_OK) {
			set_err(errbuf, errlen, "keys[%zu]: %s", i, mqs_strerror(rc));
			goto out;
		}
	}
out:
	if (rc != MQS_OK) {
		/* nothing appended: drop what this call added */
		for (size_t i = old; i < c->nkeys; i++) {
			mqs_free(c->keys[i].topic);
			mqs_free(c->keys[i].name);
			OPENSSL_cleanse(&c->keys[i], sizeof(c->keys[i]));
		}
		c->nkeys = old;
	}
	mqs_creds_release(&tmp);
	return rc;
}

/* Read a key file and append its keys; see header. */
int mqs_creds_load_keys(const char *path, struct mqs_creds *c, char *errbuf, size_t errlen)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	if (c == NULL)
		return MQS_ERR_INVAL;
	rc = mqs_file_read(path, MQS_CREDS_FILE_MAX, 1, &data, &len);
	if (rc != MQS_OK) {
		if (rc == MQS_ERR_PERM)
			set_err(errbuf, errlen, "%s is readable by group or others (chmod 600)",
			        path);
		else
			set_err(errbuf, errlen, "%s", mqs_strerror(rc));
		goto out;
	}
	rc = mqs_creds_parse_keys((const char *)data, len, c, errbuf, errlen);
out:
	mqs_secret_free(data, len + 1);
	return rc;
}

/* Read and parse a credentials file. */
int mqs_creds_load(const char *path, struct mqs_creds *c, char *errbuf, size_t errlen)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	mqs_creds_init(c);
	rc = mqs_file_read(path, MQS_CREDS_FILE_MAX, 1, &data, &len);
	if (rc != MQS_OK) {
		if (rc == MQS_ERR_PERM)
			set_err(errbuf, errlen, "%s is readable by group or others (chmod 600)",
			        path);
		else
			set_err(errbuf, errlen, "%s", mqs_strerror(rc));
		goto out;
	}
	rc = mqs_creds_parse((const char *)data, len, c, errbuf, errlen);
out:
	mqs_secret_free(data, len + 1);
	return rc;
}

/* The "use" string of a key. */
static const char *creds_use_name(int use)
{
	if (use == MQS_CREDS_USE_TOPIC)
		return "topic";
	if (use == MQS_CREDS_USE_RECORD)
		return "record";
	return "device";
}

/* Serialise to JSON. */
int mqs_creds_to_json(const struct mqs_creds *c, char **json)
{
	cJSON *root = NULL;
	cJSON *totp;
	cJSON *keys;
	char *b32 = NULL;
	char *b64 = NULL;
	char *text = NULL;
	int rc = MQS_ERR_NOMEM;

	*json = NULL;
	if (c == NULL)
		return MQS_ERR_INVAL;
	root = cJSON_CreateObject();
	if (root == NULL ||
	    (c->username != NULL && cJSON_AddStringToObject(root, "username", c->username) == NULL))
		goto out;
	if (c->has_totp) {
		totp = cJSON_AddObjectToObject(root, "totp");
		if (totp == NULL)
			goto out;
		rc = mqs_base32_encode(c->totp_secret, c->totp_secret_len, &b32);
		if (rc != MQS_OK)
			goto out;
		rc = MQS_ERR_NOMEM;
		if (cJSON_AddStringToObject(totp, "secret", b32) == NULL ||
		    cJSON_AddNumberToObject(totp, "digits", c->totp.digits) == NULL ||
		    cJSON_AddNumberToObject(totp, "period", c->totp.period) == NULL ||
		    cJSON_AddStringToObject(totp, "algorithm",
		                            mqs_totp_alg_name(c->totp.algorithm)) == NULL)
			goto out;
	}
	keys = cJSON_AddArrayToObject(root, "keys");
	if (keys == NULL)
		goto out;
	for (size_t i = 0; i < c->nkeys; i++) {
		const struct mqs_creds_key *k = &c->keys[i];
		cJSON *o = cJSON_CreateObject();

		if (o == NULL)
			goto out;
		cJSON_AddItemToArray(keys, o);
		rc = mqs_base64_encode(k->key, sizeof(k->key), &b64);
		if (rc != MQS_OK)
			goto out;
		rc = MQS_ERR_NOMEM;
		if (cJSON_AddNumberToObject(o, "id", k->id) == NULL ||
		    cJSON_AddStringToObject(o, "key", b64) == NULL ||
		    cJSON_AddStringToObject(o, "use", creds_use_name(k->use)) == NULL)
			goto out;
		if (k->use == MQS_CREDS_USE_TOPIC &&
		    cJSON_AddStringToObject(o, "topic", k->topic) == NULL)
			goto out;
		if (k->use == MQS_CREDS_USE_RECORD &&
		    cJSON_AddStringToObject(o, "name", k->name) == NULL)
			goto out;
		mqs_secret_free_str(b64);
		b64 = NULL;
	}
	if (c->nprotected > 0) {
		cJSON *prot = cJSON_AddArrayToObject(root, "protected");

		if (prot == NULL)
			goto out;
		for (size_t i = 0; i < c->nprotected; i++) {
			cJSON *str = cJSON_CreateString(c->protected_filters[i]);

			if (str == NULL)
				goto out;
			cJSON_AddItemToArray(prot, str);
		}
	}
	if (c->connect_tokens && cJSON_AddTrueToObject(root, "connect_tokens") == NULL)
		goto out;
	if (c->keys_issued_ms > 0 &&
	    cJSON_AddNumberToObject(root, "keys_issued_ms", (double)c->keys_issued_ms) == NULL)
		goto out;
	text = cJSON_Print(root);
	if (text == NULL)
		goto out;
	/* cJSON's block, from cJSON's allocator: hand out a copy from the
	 * library's (docs/broker-plugin.md, "Memory": in the plugin the two
	 * differ, and mosquitto_free() must not see a cJSON block) */
	*json = mqs_strdup(text);
	OPENSSL_cleanse(text, strlen(text));
	cJSON_free(text);
	if (*json == NULL)
		goto out;
	rc = MQS_OK;
out:
	if (b32 != NULL)
		mqs_secret_free_str(b32);
	if (b64 != NULL)
		mqs_secret_free_str(b64);
	wipe_tree(root);
	cJSON_Delete(root);
	return rc;
}

/* Serialise and write with mode 0600. */
int mqs_creds_save(const char *path, const struct mqs_creds *c)
{
	char *json = NULL;
	size_t len;
	int rc;

	rc = mqs_creds_to_json(c, &json);
	if (rc != MQS_OK)
		return rc;
	len = strlen(json);
	json[len] = '\n'; /* replace the NUL: the file ends with a newline */
	rc = mqs_file_write_secret(path, json, len + 1, 0);
	json[len] = 0;
	mqs_secret_free(json, len);
	return rc;
}
