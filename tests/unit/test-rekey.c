/* SPDX-License-Identifier: BSD-3-Clause */
/* test-rekey.c - device rekey and retotp (admin/rekey.c) as the broker
 * plugin loads the result (broker-plugin/keys.c): the new key is the
 * device's active one (and its downlink key), the old one opens up to and
 * including the last second of the grace and not one second later; TOTP,
 * groups, rules and list entries are kept; retotp changes only the TOTP
 * secret; undeliverable credentials change nothing. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "keys.h"
#include "mqsa_int.h"
#include "mqs_error.h"
#include "mqs_util.h"
#include "tap.h"

/* Keep the last credentials JSON delivered. */
static enum mqs_err deliver_keep(const char *json, void *arg, char *why)
{
	char **out = arg;

	free(*out);
	*out = strdup(json);
	return *out != NULL ? MQS_OK : MQS_ERR_NOMEM;
}

/* Deliver: refuse (nothing may change). */
static enum mqs_err deliver_refuse(const char *json, void *arg, char *why)
{
	snprintf(why, MQSA_WHY_MAX, "cannot deliver");
	return MQS_ERR_IO;
}

/* The value of field "secret" of "totp", and the device key id, of json. */
static void creds_fields(const char *json, char *secret, size_t cap, long *key_id)
{
	cJSON *j = cJSON_Parse(json);
	cJSON *t = cJSON_GetObjectItem(j, "totp");
	cJSON *s = cJSON_GetObjectItem(t, "secret");
	cJSON *keys = cJSON_GetObjectItem(j, "keys");
	cJSON *k0 = cJSON_GetArrayItem(keys, 0);
	cJSON *id = cJSON_GetObjectItem(k0, "id");

	snprintf(secret, cap, "%s", cJSON_IsString(s) ? s->valuestring : "");
	*key_id = cJSON_IsNumber(id) && cJSON_GetArraySize(keys) == 1 ? (long)id->valuedouble : -1;
	cJSON_Delete(j);
}

/* Count rows of sql (one text parameter). */
static int count(struct mqsa_ctx *ctx, const char *sql, const char *param)
{
	sqlite3_stmt *st = NULL;
	int n = -1;

	if (sqlite3_prepare_v2(ctx->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* The plugin's view of the keys at now. */
static struct mqsp_keys *load(struct mqsa_ctx *ctx, int64_t now)
{
	struct mqsp_keys *k = NULL;

	sqlite3_exec(ctx->db, "BEGIN", NULL, NULL, NULL);
	if (mqsp_keys_load(ctx->db, ctx->mk, now, &k) != MQS_OK)
		k = NULL;
	sqlite3_exec(ctx->db, "COMMIT", NULL, NULL, NULL);
	return k;
}

int main(void)
{
	char dir[256], db[300], key[300], cmd[400];
	char why[MQSA_WHY_MAX];
	char s0[64], s1[64], s2[64];
	long k0 = 0, k1 = 0, k2 = 0;
	char *json = NULL;
	struct mqsa_ctx *ctx = NULL;
	struct mqsa_init_result ir;
	struct mqsa_device_rekeyed r;
	struct mqs_totp_params p;
	struct mqsa_deliver keep = {deliver_keep, &json};
	struct mqsa_deliver refuse = {deliver_refuse, NULL};
	struct mqsp_keys *k;
	const time_t t0 = 1800000000;
	const long long grace = 3600;
	long long id = 0;
	enum mqs_err rc;
	const char *base = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/mqs-test-rekey-XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(dir) == NULL)
		return 99;
	snprintf(db, sizeof(db), "%s/db.sqlite", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	rc = mqsa_ctx_open(db, key, "tester", &ctx);
	if (rc == MQS_OK)
		rc = mqsa_init(ctx, &ir, why);
	tap_is_int(rc, MQS_OK, "init");
	if (rc != MQS_OK)
		return tap_exit();
	mqsa_ctx_set_now(ctx, t0);
	mqs_totp_params_default(&p);
	rc = mqsa_device_add(ctx, "dev1", &p, &keep, NULL, why);
	tap_is_int(rc, MQS_OK, "dev1 added");
	creds_fields(json, s0, sizeof(s0), &k0);
	rc = mqsa_group_add(ctx, "g1", why);
	if (rc == MQS_OK)
		rc = mqsa_group_member_add(ctx, "g1", "dev1", why);
	if (rc == MQS_OK)
		rc = mqsa_rule_add(ctx, "allow", "pub", "dev1", "a/#", 0, &id, why);
	tap_is_int(rc, MQS_OK, "group, membership and rule added %s", why);

	/* refused delivery: nothing changes */
	rc = mqsa_device_rekey(ctx, "dev1", grace, &refuse, &r, why);
	tap_ok(rc == MQS_ERR_IO && r.key_id == 0, "rekey with undeliverable credentials fails");
	tap_is_int(count(ctx, "SELECT count(*) FROM keys WHERE owner = ?1", "dev1"), 1,
	           "... and leaves one device key");
	rc = mqsa_device_rekey(ctx, "nobody", grace, &keep, &r, why);
	tap_ok(rc == MQS_ERR_NOENT && strstr(why, "unknown device nobody") != NULL,
	       "rekey of an unknown device: %s", why);
	rc = mqsa_device_rekey(ctx, "dev1", -1, &keep, &r, why);
	tap_is_int(rc, MQS_ERR_INVAL, "a negative grace is refused");

	/* rekey */
	rc = mqsa_device_rekey(ctx, "dev1", grace, &keep, &r, why);
	tap_ok(rc == MQS_OK && r.nretired == 1 && r.usable_until == t0 + grace,
	       "rekey: one key retired, usable until now + grace");
	creds_fields(json, s1, sizeof(s1), &k1);
	tap_ok(k1 == (long)r.key_id && k1 != k0 && strcmp(s1, s0) == 0 && s1[0] != '\0',
	       "new credentials: the new key alone, the same totp secret");
	k = load(ctx, t0);
	tap_ok(k != NULL && mqsp_keys_device(k, (uint32_t)k1, t0) != NULL &&
	           mqsp_keys_device_named(k, "dev1", 4) != NULL &&
	           mqsp_keys_device_named(k, "dev1", 4)->id == (uint32_t)k1,
	       "the plugin: the new key is dev1's active (and downlink) key");
	tap_ok(k != NULL && mqsp_keys_device(k, (uint32_t)k0, t0 + grace) != NULL,
	       "the old key opens in the last second of the grace");
	tap_ok(k != NULL && mqsp_keys_device(k, (uint32_t)k0, t0 + grace + 1) == NULL,
	       "... and not one second later");
	mqsp_keys_free(k);
	k = load(ctx, t0 + grace + 1);
	tap_ok(k != NULL && mqsp_keys_device(k, (uint32_t)k0, t0 + grace + 1) == NULL &&
	           mqsp_keys_device(k, (uint32_t)k1, t0 + grace + 1) != NULL,
	       "loaded after the grace: the old key is gone, the new one stays");
	mqsp_keys_free(k);
	tap_is_int(count(ctx, "SELECT count(*) FROM group_members WHERE member = ?1", "dev1"), 1,
	           "the group membership is kept");
	tap_is_int(count(ctx, "SELECT count(*) FROM acl_rules WHERE subject = ?1", "dev1"), 1,
	           "the rule is kept");
	tap_is_int(
	    count(ctx, "SELECT count(*) FROM devices WHERE name = ?1 AND enabled = 1", "dev1"), 1,
	    "the device is still enabled");
	tap_is_int(count(ctx, "SELECT count(*) FROM audit WHERE action = ?1", "device rekey"), 1,
	           "one audit row (the failed attempts left none)");

	/* retotp */
	mqsa_ctx_set_now(ctx, t0 + 10);
	rc = mqsa_device_retotp(ctx, "dev1", &refuse, &r, why);
	tap_is_int(rc, MQS_ERR_IO, "retotp with undeliverable credentials fails");
	rc = mqsa_device_retotp(ctx, "dev1", &keep, &r, why);
	creds_fields(json, s2, sizeof(s2), &k2);
	tap_ok(rc == MQS_OK && strcmp(s2, s1) != 0 && s2[0] != '\0' && k2 == k1 &&
	           r.key_id == (uint32_t)k1 && r.nretired == 0,
	       "retotp: a new totp secret, the same device key");
	tap_is_int(
	    count(ctx, "SELECT count(*) FROM keys WHERE owner = ?1 AND state = 'active'", "dev1"),
	    1, "retotp leaves the keys alone");
	tap_is_int(count(ctx, "SELECT count(*) FROM audit WHERE action = ?1", "device retotp"), 1,
	           "retotp audited once");
	mqs_secret_free_str(json); /* the credentials of retotp */
	json = NULL;
	rc = mqsa_device_totp_uri(ctx, "dev1", &json, why);
	tap_ok(rc == MQS_OK && json != NULL && strstr(json, s2) != NULL,
	       "the stored secret is the new one (otpauth uri)");
	mqs_secret_free_str(json);

	mqsa_ctx_close(ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", dir);
	tap_done();
	return tap_exit();
}
