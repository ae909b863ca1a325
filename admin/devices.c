/* SPDX-License-Identifier: BSD-3-Clause */
/* devices.c - devices (mqsa.h, docs/acl.md "Devices").
 *
 * A device is a row of devices (TOTP parameters, the TOTP secret wrapped
 * under the master key with AAD mqs_totp_wrap_aad(), "mqttsec-totp:<name>")
 * plus a device key in the key store.  Adding one builds the credentials
 * JSON once, with the protected topic filters ("protected", so the device
 * knows where to seal), and hands it to the caller before the commit;
 * mqsa_device_totp_uri gives the otpauth:// URI.  These two (and key
 * export) are the only results that carry a secret; all are audited
 * without it.  Removing a device also removes its keys, group memberships,
 * rules and the list entries naming it as username, so a later device of
 * the same name inherits nothing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "mqs_creds.h"
#include "mqs_error.h"
#include "mqs_keystore.h"
#include "mqs_master_key.h"
#include "mqs_totp.h"
#include "mqs_util.h"
#include "mqsa_int.h"

/* device add: the device's secrets while its rows are written. */
struct add_arg {
	const char *name;
	const struct mqs_totp_params *p;
	const struct mqsa_deliver *deliver;
	const uint8_t *secret; /* raw TOTP secret, MQS_TOTP_SECRET_LEN bytes */
	const uint8_t *wrapped;
	size_t wrapped_len;
	struct mqs_key key;
	char *json;
};

/* Insert the device and its key, build and deliver the credentials. */
static enum mqs_err add_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip, char *why)
{
	struct add_arg *a = data;
	sqlite3_stmt *st = NULL;
	uint64_t generation = 0;
	int found;
	enum mqs_err rc;

	found = mqsa_device_exists(ctx, a->name);
	if (found != 0) {
		rc = found < 0 ? mqsa_db_fail(ctx, why, "read devices")
		               : mqsa_fail(why, MQS_ERR_EXISTS, "device %s exists", a->name);
		goto out;
	}
	rc = mqsa_prepare(ctx,
	                  "INSERT INTO devices (name, enabled, digits, period, algorithm, "
	                  "totp_wrapped, last_step, created_at, generation) VALUES (?1, 1, ?2, "
	                  "?3, ?4, ?5, -1, ?6, ?7)",
	                  &st, why);
	if (rc != MQS_OK)
		goto out;
	/* a new identity: clients of an earlier device of this name are
	 * disconnected by the plugin (docs/broker-plugin.md, "Identity") */
	if (RAND_bytes((unsigned char *)&generation, sizeof(generation)) != 1) {
		rc = mqsa_fail(why, MQS_ERR_CRYPTO, "cannot draw a random generation");
		goto out;
	}
	generation = (generation & INT64_MAX) | 1;
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)a->p->digits);
	sqlite3_bind_int(st, 3, (int)a->p->period);
	sqlite3_bind_text(st, 4, mqs_totp_alg_name(a->p->algorithm), -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, a->wrapped, (int)a->wrapped_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)ctx->now);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)generation);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mqsa_db_fail(ctx, why, "add device");
		goto out;
	}
	rc = mqs_keystore_create(ctx->db, ctx->mk, MQS_KEY_DEVICE, a->name, &a->key);
	if (rc != MQS_OK) {
		if (rc == MQS_ERR_DB)
			mqsa_db_fail(ctx, why, "create device key");
		else
			mqsa_fail(why, rc, "cannot create device key: %s", mqs_strerror(rc));
		goto out;
	}
	rc = mqsa_device_creds_json(ctx, a->name, a->p, a->secret, MQS_TOTP_SECRET_LEN, &a->key,
	                            &a->json, why);
	if (rc != MQS_OK)
		goto out;
	/* delivered before the commit: a device whose credentials cannot be
	 * delivered is not added */
	why[0] = '\0';
	rc = a->deliver->fn(a->json, a->deliver->arg, why);
	if (rc != MQS_OK)
		goto out;
	snprintf(detail, MQSA_DETAIL_MAX, "name=%s digits=%u period=%u algorithm=%s key=%lu",
	         a->name, a->p->digits, a->p->period, mqs_totp_alg_name(a->p->algorithm),
	         (unsigned long)a->key.id);
out:
	sqlite3_finalize(st);
	return rc;
}

/* The credentials JSON of a device (mqsa_int.h). */
enum mqs_err mqsa_device_creds_json(struct mqsa_ctx *ctx, const char *name,
                                    const struct mqs_totp_params *p, const uint8_t *secret,
                                    size_t secret_len, const struct mqs_key *key, char **json,
                                    char *why)
{
	struct mqs_creds creds;
	enum mqs_err rc;

	*json = NULL;
	mqs_creds_init(&creds);
	if (secret_len > sizeof(creds.totp_secret)) {
		rc = mqsa_fail(why, MQS_ERR_TOOBIG,
		               "cannot build credentials: totp secret too long");
		goto out;
	}
	creds.has_totp = 1;
	creds.totp = *p;
	memcpy(creds.totp_secret, secret, secret_len);
	creds.totp_secret_len = secret_len;
	rc = mqs_creds_set_username(&creds, name);
	if (rc == MQS_OK)
		rc = mqs_creds_add_key(&creds, key->id, MQS_CREDS_USE_DEVICE, NULL, key->key);
	if (rc != MQS_OK) {
		mqsa_fail(why, rc, "cannot build credentials: %s", mqs_strerror(rc));
		goto out;
	}
	/* "protected": the device seals its payloads on these topics */
	rc = mqsa_topic_add_protected(ctx, &creds, why);
	if (rc != MQS_OK)
		goto out;
	rc = mqsa_creds_json(ctx, &creds, json, why);
out:
	mqs_creds_release(&creds);
	return rc;
}

/* Enrol a device. */
enum mqs_err mqsa_device_add(struct mqsa_ctx *ctx, const char *name,
                             const struct mqs_totp_params *p, const struct mqsa_deliver *deliver,
                             uint32_t *key_id, char *why)
{
	struct add_arg a;
	uint8_t secret[MQS_TOTP_SECRET_LEN];
	uint8_t wrapped[MQS_TOTP_SECRET_LEN + MQS_WRAP_OVERHEAD];
	char aad[MQS_TOTP_AAD_MAX];
	enum mqs_err rc;

	memset(&a, 0, sizeof(a));
	mqs_key_init(&a.key);
	a.name = name;
	a.p = p;
	a.deliver = deliver;
	a.secret = secret;
	a.wrapped = wrapped;
	rc = mqsa_name_check(name, "device", why);
	if (rc != MQS_OK)
		goto out;
	if ((p->digits != 6 && p->digits != 8) || p->period < 1 || p->period > 3600) {
		rc = mqsa_fail(why, MQS_ERR_INVAL,
		               "invalid totp parameters: digits 6 or 8, period "
		               "1..3600");
		goto out;
	}
	rc = mqsa_ctx_db(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_ctx_master_key(ctx, why);
	if (rc != MQS_OK)
		goto out;
	if (RAND_bytes(secret, sizeof(secret)) != 1) {
		rc = mqsa_fail(why, MQS_ERR_CRYPTO, "cannot draw a random totp secret");
		goto out;
	}
	rc = mqs_totp_wrap_aad(aad, sizeof(aad), name);
	if (rc == MQS_OK)
		rc = mqs_wrap_seal(ctx->mk, aad, secret, sizeof(secret), wrapped, sizeof(wrapped),
		                   &a.wrapped_len);
	if (rc != MQS_OK) {
		mqsa_fail(why, rc, "cannot wrap totp secret: %s", mqs_strerror(rc));
		goto out;
	}
	rc = mqsa_tx_run(ctx, "device add", add_change, &a, NULL, why);
	if (rc == MQS_OK && key_id != NULL)
		*key_id = a.key.id;
out:
	if (a.json != NULL)
		mqs_secret_free_str(a.json);
	mqs_key_release(&a.key);
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

/* mqsa_device_list's iterator. */
struct device_list_arg {
	enum mqs_err (*each)(const struct mqsa_device_info *d, void *arg);
	void *arg;
};

/* One device row. */
static enum mqs_err device_row(sqlite3_stmt *st, void *data)
{
	const struct device_list_arg *a = data;
	struct mqsa_device_info d;

	d.name = mqsa_col(st, 0);
	d.enabled = sqlite3_column_int(st, 1);
	d.digits = sqlite3_column_int64(st, 2);
	d.period = sqlite3_column_int64(st, 3);
	d.algorithm = mqsa_col(st, 4);
	d.created_at = sqlite3_column_int64(st, 5);
	d.last_step = sqlite3_column_int64(st, 6);
	d.groups = mqsa_col(st, 7);
	return a->each(&d, a->arg);
}

/* Every device. */
enum mqs_err mqsa_device_list(struct mqsa_ctx *ctx,
                              enum mqs_err (*each)(const struct mqsa_device_info *d, void *arg),
                              void *arg, char *why)
{
	struct device_list_arg a = {each, arg};
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	rc = mqsa_ctx_db(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_prepare(ctx,
		                  "SELECT d.name, d.enabled, d.digits, d.period, d.algorithm, "
		                  "d.created_at, d.last_step, (SELECT group_concat(grp, ',') FROM "
		                  "(SELECT grp FROM group_members WHERE member = d.name ORDER BY "
		                  "grp)) FROM devices d ORDER BY d.name",
		                  &st, why);
	if (rc != MQS_OK)
		return rc;
	return mqsa_each_row(ctx, st, device_row, &a, "devices", why);
}

/* Bind a device page's search (?1), when there is one. */
static void device_page_bind(sqlite3_stmt *st, const void *arg)
{
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
}

/* A page of the devices whose name contains search. */
enum mqs_err mqsa_device_page(struct mqsa_ctx *ctx, const char *search, struct mqsa_page *pg,
                              enum mqs_err (*each)(const struct mqsa_device_info *d, void *arg),
                              void *arg, char *why)
{
	struct device_list_arg a = {each, arg};
	struct mqsa_page_spec spec = {
	    "devices",
	    "d.name, d.enabled, d.digits, d.period, d.algorithm, d.created_at, d.last_step, "
	    "(SELECT group_concat(grp, ',') FROM (SELECT grp FROM group_members WHERE member = "
	    "d.name ORDER BY grp))",
	    "devices d",
	    "1",
	    {"d.name", NULL, NULL, NULL},
	    "t",
	    0,
	    device_page_bind,
	    NULL,
	};
	enum mqs_err rc;

	if (search != NULL && search[0] == '\0')
		search = NULL;
	if (search != NULL) {
		spec.where = "instr(d.name, ?1) > 0";
		spec.bind_arg = search;
	}
	rc = mqsa_page_begin(ctx, pg, search, why);
	if (rc == MQS_OK)
		rc = mqsa_page_run(ctx, &spec, pg, device_row, &a, why);
	return rc;
}

/* device rm: the device and how many rows went with it. */
struct rm_arg {
	const char *name;
	struct mqsa_device_removed *res;
};

/* Delete the device and everything naming it. */
static enum mqs_err rm_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip, char *why)
{
	struct rm_arg *a = data;
	struct mqsa_device_removed *r = a->res;
	int ndev = 0;
	enum mqs_err rc;

	rc = mqsa_exec_text(ctx, "DELETE FROM devices WHERE name = ?1", a->name, NULL, &ndev, why);
	if (rc != MQS_OK)
		goto out;
	if (ndev == 0) {
		rc = mqsa_fail(why, MQS_ERR_NOENT, "unknown device %s", a->name);
		goto out;
	}
	rc = mqs_keystore_delete_owner(ctx->db, MQS_KEY_DEVICE, a->name);
	if (rc != MQS_OK) {
		rc = mqsa_db_fail(ctx, why, "delete device keys");
		goto out;
	}
	rc = mqsa_exec_text(ctx, "DELETE FROM group_members WHERE member = ?1", a->name, NULL,
	                    &r->groups, why);
	if (rc == MQS_OK)
		rc = mqsa_exec_text(ctx, "DELETE FROM acl_rules WHERE subject = ?1", a->name, NULL,
		                    &r->rules, why);
	/* a device enrolled later under the same name must not inherit them */
	if (rc == MQS_OK)
		rc = mqsa_exec_text(
		    ctx, "DELETE FROM list_entries WHERE match = 'username' AND pattern = ?1",
		    a->name, NULL, &r->list_entries, why);
	/* its client ids are free again (docs/broker-plugin.md, "Client ids") */
	if (rc == MQS_OK)
		rc = mqsa_clientid_release_rows(ctx, NULL, a->name, &r->clientids, why);
	if (rc == MQS_OK)
		snprintf(detail, MQSA_DETAIL_MAX,
		         "name=%s groups=%d rules=%d list_entries=%d clientids=%d", a->name,
		         r->groups, r->rules, r->list_entries, r->clientids);
out:
	return rc;
}

/* Remove a device. */
enum mqs_err mqsa_device_remove(struct mqsa_ctx *ctx, const char *name,
                                struct mqsa_device_removed *res, char *why)
{
	struct rm_arg a = {name, res};
	enum mqs_err rc;

	memset(res, 0, sizeof(*res));
	rc = mqsa_name_check(name, "device", why);
	if (rc == MQS_OK)
		rc = mqsa_tx_run(ctx, "device rm", rm_change, &a, NULL, why);
	return rc;
}

/* device enable|disable: the device and the new state. */
struct enable_arg {
	const char *name;
	int enabled;
};

/* Set enabled; already in that state: skip. */
static enum mqs_err enable_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                  char *why)
{
	const struct enable_arg *a = data;
	sqlite3_stmt *st = NULL;
	int found;
	enum mqs_err rc;

	rc = mqsa_prepare(ctx, "UPDATE devices SET enabled = ?2 WHERE name = ?1 AND enabled != ?2",
	                  &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, a->enabled);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mqsa_db_fail(ctx, why, "update device");
		goto out;
	}
	if (sqlite3_changes(ctx->db) == 0) {
		found = mqsa_device_exists(ctx, a->name);
		if (found == 1)
			*skip = 1;
		else
			rc = found < 0
			         ? mqsa_db_fail(ctx, why, "read devices")
			         : mqsa_fail(why, MQS_ERR_NOENT, "unknown device %s", a->name);
		goto out;
	}
	snprintf(detail, MQSA_DETAIL_MAX, "name=%s", a->name);
out:
	sqlite3_finalize(st);
	return rc;
}

/* Enable or disable a device. */
enum mqs_err mqsa_device_set_enabled(struct mqsa_ctx *ctx, const char *name, int enabled,
                                     int *changed, char *why)
{
	struct enable_arg a = {name, enabled != 0};
	int skipped = 0;
	enum mqs_err rc;

	*changed = 0;
	rc = mqsa_name_check(name, "device", why);
	if (rc == MQS_OK)
		rc = mqsa_tx_run(ctx, enabled ? "device enable" : "device disable", enable_change,
		                 &a, &skipped, why);
	*changed = rc == MQS_OK && !skipped;
	return rc;
}

/* device qr: the device and its otpauth:// URI (a secret). */
struct qr_arg {
	const char *name;
	char *uri;
};

/* Inside a transaction: read name's TOTP parameters and unwrap its secret. */
enum mqs_err mqsa_device_totp_load(struct mqsa_ctx *ctx, const char *name,
                                   struct mqs_totp_params *p, uint8_t *secret, size_t cap,
                                   size_t *secret_len, char *why)
{
	char aad[MQS_TOTP_AAD_MAX];
	sqlite3_stmt *st = NULL;
	int step;
	enum mqs_err rc;

	*secret_len = 0;
	rc = mqsa_prepare(ctx,
	                  "SELECT digits, period, algorithm, totp_wrapped FROM devices "
	                  "WHERE name = ?1",
	                  &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step != SQLITE_ROW) {
		rc = step == SQLITE_DONE ? mqsa_fail(why, MQS_ERR_NOENT, "unknown device %s", name)
		                         : mqsa_db_fail(ctx, why, "read device");
		goto out;
	}
	p->digits = (unsigned)sqlite3_column_int(st, 0);
	p->period = (unsigned)sqlite3_column_int(st, 1);
	if (mqs_totp_alg_parse(mqsa_col(st, 2), &p->algorithm) != MQS_OK) {
		rc = mqsa_fail(why, MQS_ERR_PARSE, "device %s has an unknown algorithm", name);
		goto out;
	}
	rc = mqs_totp_wrap_aad(aad, sizeof(aad), name);
	if (rc == MQS_OK)
		rc = mqs_wrap_open(ctx->mk, aad, sqlite3_column_blob(st, 3),
		                   (size_t)sqlite3_column_bytes(st, 3), secret, cap, secret_len);
	if (rc != MQS_OK)
		rc = mqsa_fail(
		    why, MQS_ERR_UNWRAP,
		    "cannot unwrap the totp secret of %s: wrong master key or damaged row", name);
out:
	sqlite3_finalize(st);
	return rc;
}

/* Read and unwrap the TOTP secret, build the URI; audited before it is
 * returned, so showing a secret is always on record. */
static enum mqs_err qr_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip, char *why)
{
	struct qr_arg *a = data;
	struct mqs_totp_params p;
	uint8_t secret[MQS_TOTP_SECRET_MAX];
	size_t secret_len = 0;
	enum mqs_err rc;

	rc = mqsa_device_totp_load(ctx, a->name, &p, secret, sizeof(secret), &secret_len, why);
	if (rc != MQS_OK)
		goto out;
	rc = mqs_totp_uri("mqttsec", a->name, secret, secret_len, &p, &a->uri);
	if (rc != MQS_OK) {
		mqsa_fail(why, rc, "cannot build otpauth uri: %s", mqs_strerror(rc));
		goto out;
	}
	snprintf(detail, MQSA_DETAIL_MAX, "name=%s", a->name);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

/* The otpauth:// URI of a device. */
enum mqs_err mqsa_device_totp_uri(struct mqsa_ctx *ctx, const char *name, char **uri, char *why)
{
	struct qr_arg a = {name, NULL};
	enum mqs_err rc;

	*uri = NULL;
	rc = mqsa_name_check(name, "device", why);
	if (rc == MQS_OK)
		rc = mqsa_ctx_db(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_ctx_master_key(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_tx_run(ctx, "device qr", qr_change, &a, NULL, why);
	if (rc == MQS_OK) {
		*uri = a.uri;
		a.uri = NULL;
	}
	mqs_secret_free_str(a.uri);
	return rc;
}
