/* SPDX-License-Identifier: BSD-3-Clause */
/* rekey.c - device rekey and retotp (mqsa.h; docs/acl.md "Devices",
 * docs/payload-encryption.md "Device rekey").
 *
 * rekey: a new device key becomes active; the device's active keys are
 * retired and keep opening the device's envelopes until the grace ends
 * (retire_after = now + grace: the broker opens with a retired key while
 * now <= retire_after, and never after).  retotp: a new random TOTP
 * secret, wrapped under the master key like the first one, and a new
 * identity generation: the plugin disconnects the clients that logged in
 * with the old secret (a thief's session must not outlive the secret).
 * Both keep the device row (enabled state, last accepted step; rekey also
 * the identity generation),
 * its groups, ACL rules, list entries and client ids, and hand the new
 * credentials (built by mqsa_device_creds_json, as device add does) to
 * the caller before the commit: credentials that cannot be delivered
 * change nothing.  Audited without secrets.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "mqs_error.h"
#include "mqs_keystore.h"
#include "mqs_master_key.h"
#include "mqs_totp.h"
#include "mqs_util.h"
#include "mqsa_int.h"

/* rekey / retotp: the device, what to do, the result. */
struct rekey_arg {
	const char *name;
	int retotp;      /* 0: new device key; 1: new TOTP secret */
	long long grace; /* rekey: seconds the old keys keep opening */
	const struct mqsa_deliver *deliver;
	struct mqsa_device_rekeyed *res;
	struct mqs_totp_params p;
	uint8_t secret[MQS_TOTP_SECRET_MAX];
	size_t secret_len;
	struct mqs_key key; /* the device key in the new credentials */
	char *json;
};

/* Read the device's TOTP parameters and unwrap its secret into a. */
static enum mqs_err load_totp(struct mqsa_ctx *ctx, struct rekey_arg *a, char *why)
{
	return mqsa_device_totp_load(ctx, a->name, &a->p, a->secret, sizeof(a->secret),
	                             &a->secret_len, why);
}

/* retotp: a new random secret, wrapped and stored, and a new generation. */
static enum mqs_err new_totp(struct mqsa_ctx *ctx, struct rekey_arg *a, char *why)
{
	uint8_t wrapped[MQS_TOTP_SECRET_LEN + MQS_WRAP_OVERHEAD];
	size_t wrapped_len = 0;
	uint64_t generation = 0;
	char aad[MQS_TOTP_AAD_MAX];
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	OPENSSL_cleanse(a->secret, sizeof(a->secret));
	a->secret_len = MQS_TOTP_SECRET_LEN;
	if (RAND_bytes(a->secret, MQS_TOTP_SECRET_LEN) != 1) {
		rc = mqsa_fail(why, MQS_ERR_CRYPTO, "cannot draw a random totp secret");
		goto out;
	}
	rc = mqs_totp_wrap_aad(aad, sizeof(aad), a->name);
	if (rc == MQS_OK)
		rc = mqs_wrap_seal(ctx->mk, aad, a->secret, MQS_TOTP_SECRET_LEN, wrapped,
		                   sizeof(wrapped), &wrapped_len);
	if (rc != MQS_OK) {
		rc = mqsa_fail(why, rc, "cannot wrap totp secret: %s", mqs_strerror(rc));
		goto out;
	}
	/* clients that logged in with the old secret are disconnected by the
	 * plugin, as for a device removed and added again (docs/acl.md,
	 * "Devices") */
	if (RAND_bytes((unsigned char *)&generation, sizeof(generation)) != 1) {
		rc = mqsa_fail(why, MQS_ERR_CRYPTO, "cannot draw a random generation");
		goto out;
	}
	generation = (generation & INT64_MAX) | 1;
	rc = mqsa_prepare(
	    ctx, "UPDATE devices SET totp_wrapped = ?2, generation = ?3 WHERE name = ?1", &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, wrapped, (int)wrapped_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)generation);
	if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(ctx->db) != 1)
		rc = mqsa_db_fail(ctx, why, "update totp secret");
out:
	sqlite3_finalize(st);
	return rc;
}

/* rekey: retire the active device keys for the grace, create a new one. */
static enum mqs_err new_key(struct mqsa_ctx *ctx, struct rekey_arg *a, char *why)
{
	struct mqsa_device_rekeyed *r = a->res;
	sqlite3_stmt *st = NULL;
	int step;
	int rc;

	r->usable_until = mqsa_retire_after(ctx, a->grace);
	rc = mqsa_prepare(ctx,
	                  "UPDATE keys SET state = 'retired', retire_after = ?2 "
	                  "WHERE purpose = 'device' AND owner = ?1 AND state = 'active' "
	                  "RETURNING id",
	                  &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->usable_until);
	for (;;) {
		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = mqsa_db_fail(ctx, why, "retire device keys");
			goto out;
		}
		r->nretired++;
		mqsa_ids_append(r->retired, sizeof(r->retired),
		                (unsigned long)sqlite3_column_int64(st, 0));
	}
	rc = mqs_keystore_create(ctx->db, ctx->mk, MQS_KEY_DEVICE, a->name, &a->key);
	if (rc != MQS_OK)
		rc = rc == MQS_ERR_DB
		         ? mqsa_db_fail(ctx, why, "create device key")
		         : mqsa_fail(why, rc, "cannot create device key: %s", mqs_strerror(rc));
out:
	sqlite3_finalize(st);
	return (enum mqs_err)rc;
}

/* The change of both commands, in one transaction. */
static enum mqs_err rekey_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                 char *why)
{
	struct rekey_arg *a = data;
	int rc;

	rc = load_totp(ctx, a, why);
	if (rc != MQS_OK)
		goto out;
	if (a->retotp) {
		rc = new_totp(ctx, a, why);
		if (rc == MQS_OK) {
			rc =
			    mqs_keystore_active(ctx->db, ctx->mk, MQS_KEY_DEVICE, a->name, &a->key);
			if (rc != MQS_OK)
				rc = mqsa_fail(why, rc, "cannot read the device key of %s: %s",
				               a->name, mqs_strerror(rc));
		}
	} else {
		rc = new_key(ctx, a, why);
	}
	if (rc != MQS_OK)
		goto out;
	a->res->key_id = a->key.id;
	rc = mqsa_device_creds_json(ctx, a->name, &a->p, a->secret, a->secret_len, &a->key,
	                            &a->json, why);
	if (rc != MQS_OK)
		goto out;
	/* delivered before the commit: nothing changes unless it was */
	why[0] = '\0';
	rc = a->deliver->fn(a->json, a->deliver->arg, why);
	if (rc != MQS_OK)
		goto out;
	if (a->retotp)
		snprintf(detail, MQSA_DETAIL_MAX, "name=%s key=%lu", a->name,
		         (unsigned long)a->key.id);
	else
		snprintf(detail, MQSA_DETAIL_MAX, "name=%s key=%lu retired=%s grace=%lld", a->name,
		         (unsigned long)a->key.id, a->res->nretired > 0 ? a->res->retired : "-",
		         a->grace);
out:
	return (enum mqs_err)rc;
}

/* Run rekey or retotp. */
static enum mqs_err run(struct mqsa_ctx *ctx, struct rekey_arg *a, const char *what, char *why)
{
	enum mqs_err rc;

	memset(a->res, 0, sizeof(*a->res));
	mqs_key_init(&a->key);
	rc = mqsa_name_check(a->name, "device", why);
	if (rc == MQS_OK && (a->grace < 0 || a->grace > MQSA_TTL_MAX))
		rc = mqsa_fail(why, MQS_ERR_INVAL, "invalid grace period %lld", a->grace);
	if (rc == MQS_OK)
		rc = mqsa_ctx_db(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_ctx_master_key(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_tx_run(ctx, what, rekey_change, a, NULL, why);
	if (rc != MQS_OK)
		memset(a->res, 0, sizeof(*a->res));
	if (a->json != NULL)
		mqs_secret_free_str(a->json);
	mqs_key_release(&a->key);
	OPENSSL_cleanse(a->secret, sizeof(a->secret));
	return rc;
}

/* A new device key; the old ones open for grace seconds. */
enum mqs_err mqsa_device_rekey(struct mqsa_ctx *ctx, const char *name, long long grace,
                               const struct mqsa_deliver *deliver, struct mqsa_device_rekeyed *res,
                               char *why)
{
	struct rekey_arg a;

	memset(&a, 0, sizeof(a));
	a.name = name;
	a.grace = grace;
	a.deliver = deliver;
	a.res = res;
	return run(ctx, &a, "device rekey", why);
}

/* A new TOTP secret. */
enum mqs_err mqsa_device_retotp(struct mqsa_ctx *ctx, const char *name,
                                const struct mqsa_deliver *deliver, struct mqsa_device_rekeyed *res,
                                char *why)
{
	struct rekey_arg a;

	memset(&a, 0, sizeof(a));
	a.name = name;
	a.retotp = 1;
	a.deliver = deliver;
	a.res = res;
	return run(ctx, &a, "device retotp", why);
}
