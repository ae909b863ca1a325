/* SPDX-License-Identifier: BSD-3-Clause */
/* keys.c - topic keys (mqsa.h, docs/payload-encryption.md).
 *
 * Rotation creates a new active key for a protected filter and retires the
 * previous active key(s) for a grace period, in one transaction, so the
 * broker switches at once and subscribers holding the old key can still
 * open what was sealed with it (retained messages) until the grace ends.
 * A retired key with retire_after < now is dead: export leaves it out, but
 * it is never deleted: subscribers keep old keys in their credentials
 * files, and the broker must still recognise (and drop) an envelope a
 * client seals with one (docs/payload-encryption.md, "Forged origins").
 *
 * Export builds the credentials (docs/acl.md, "Devices": TOTP secret,
 * device key, the topic keys and "protected"; or the topic keys alone) of
 * a device whose rules give it read on every topic of the filter
 * (keyaccess.c), merged into the device's existing file when one is
 * named.  It is audited with the key ids, never the keys; the caller
 * delivers the result.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_alloc.h"
#include "mqs_creds.h"
#include "mqs_error.h"
#include "mqs_keyrotate.h"
#include "mqs_keystore.h"
#include "mqs_totp.h"
#include "mqs_util.h"
#include "mqsa_int.h"

/* Append a copy of key k (any use, record keys with their sender name) to
 * c.  Returns as mqs_creds_add_key / mqs_creds_add_record_key. */
static int keys_copy_one(struct mqs_creds *c, const struct mqs_creds_key *k)
{
	if (k->use == MQS_CREDS_USE_RECORD)
		return mqs_creds_add_record_key(c, k->id, k->name, k->key);
	return mqs_creds_add_key(c, k->id, k->use, k->topic, k->key);
}

/* Inside a transaction: fail unless filter is protected with a shared
 * topic key (a per-device filter has none: docs/payload-encryption.md,
 * "Per-device downlink"). */
static enum mqs_err need_protected(struct mqsa_ctx *ctx, const char *filter, char *why)
{
	int rc = mqsa_topic_is_protected(ctx, filter);

	if (rc < 0)
		return mqsa_db_fail(ctx, why, "read protected topics");
	if (rc == 0)
		return mqsa_fail(why, MQS_ERR_NOENT, "topic %s is not protected", filter);
	rc = mqsa_row_exists(
	    ctx, "SELECT 1 FROM protected_topics WHERE filter = ?1 AND per_device > 0", filter);
	if (rc < 0)
		return mqsa_db_fail(ctx, why, "read protected topics");
	if (rc > 0)
		return mqsa_fail(why, MQS_ERR_INVAL,
		                 "topic %s is protected per device: it has no shared key (each "
		                 "device opens its messages with its own key)",
		                 filter);
	return MQS_OK;
}

/* key rotate: the filter, its grace and what the rotation did. */
struct rotate_arg {
	const char *filter;
	long long grace;
	long long announce; /* seconds before the new key seals */
	struct mqs_key key; /* the new active key */
	char ids[MQSA_IDS_MAX];
	int nretired;
};

/* Retire the active keys, create the new one. */
static enum mqs_err rotate_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                  char *why)
{
	struct rotate_arg *a = data;
	int rc;
	enum mqs_err ex;

	ex = need_protected(ctx, a->filter, why);
	if (ex != MQS_OK)
		goto out;
	/* the same operation as the plugin's automatic rotations */
	rc = mqs_keystore_rotate(ctx->db, ctx->mk, a->filter,
	                         (int64_t)(mqsa_retire_after(ctx, a->grace) + a->announce),
	                         a->announce > 0 ? (int64_t)ctx->now + a->announce : 0, &a->key,
	                         a->ids, sizeof(a->ids), &a->nretired);
	if (rc != MQS_OK) {
		ex = rc == MQS_ERR_DB
		         ? mqsa_db_fail(ctx, why, "rotate topic key")
		         : mqsa_fail(why, rc, "cannot create topic key: %s", mqs_strerror(rc));
		goto out;
	}
	snprintf(detail, MQSA_DETAIL_MAX,
	         "filter=%.300s key=%lu retired=%s grace=%lld announce=%lld", a->filter,
	         (unsigned long)a->key.id, a->nretired > 0 ? a->ids : "-", a->grace, a->announce);
out:
	return ex;
}

/* Rotate the key of a protected filter. */
enum mqs_err mqsa_key_rotate(struct mqsa_ctx *ctx, const char *filter, long long grace,
                             struct mqsa_key_rotated *res, char *why)
{
	return mqsa_key_rotate_announced(ctx, filter, grace, 0, res, why);
}

/* Rotate, the new key announced before it seals. */
enum mqs_err mqsa_key_rotate_announced(struct mqsa_ctx *ctx, const char *filter, long long grace,
                                       long long announce, struct mqsa_key_rotated *res, char *why)
{
	struct rotate_arg a;
	enum mqs_err rc;

	memset(res, 0, sizeof(*res));
	memset(&a, 0, sizeof(a));
	mqs_key_init(&a.key);
	a.filter = filter;
	a.grace = grace;
	a.announce = announce;
	rc = mqsa_protected_filter_check(filter, why);
	if (rc == MQS_OK && (grace < 0 || grace > MQSA_TTL_MAX))
		rc = mqsa_fail(why, MQS_ERR_INVAL, "invalid grace period %lld", grace);
	if (rc == MQS_OK && (announce < 0 || announce > MQSA_TTL_MAX))
		rc = mqsa_fail(why, MQS_ERR_INVAL, "invalid announce period %lld", announce);
	if (rc == MQS_OK)
		rc = mqsa_ctx_db(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_ctx_master_key(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_tx_run(ctx, "key rotate", rotate_change, &a, NULL, why);
	if (rc == MQS_OK) {
		res->key_id = a.key.id;
		res->nretired = a.nretired;
		memcpy(res->retired, a.ids, sizeof(res->retired));
		res->usable_until = mqsa_retire_after(ctx, grace) + announce;
		res->seals_from = announce > 0 ? (long long)ctx->now + announce : 0;
	}
	mqs_key_release(&a.key);
	return rc;
}

/* Inside a transaction: name must be an enabled device.  With totp, fill
 * creds' TOTP parameters and secret from the devices row. */
static enum mqs_err export_device(struct mqsa_ctx *ctx, const char *name, int totp,
                                  struct mqs_creds *c, char *why)
{
	sqlite3_stmt *st = NULL;
	char aad[MQS_TOTP_AAD_MAX];
	int rc;
	enum mqs_err ex;

	ex = mqsa_prepare(ctx,
	                  "SELECT enabled, digits, period, algorithm, totp_wrapped FROM devices "
	                  "WHERE name = ?1",
	                  &st, why);
	if (ex != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		ex = rc == SQLITE_DONE ? mqsa_fail(why, MQS_ERR_NOENT, "unknown device %s", name)
		                       : mqsa_db_fail(ctx, why, "read device");
		goto out;
	}
	if (sqlite3_column_int(st, 0) == 0) {
		ex = mqsa_fail(why, MQS_ERR_PERM, "device %s is disabled: no keys exported", name);
		goto out;
	}
	if (!totp)
		goto out;
	c->totp.digits = (unsigned)sqlite3_column_int(st, 1);
	c->totp.period = (unsigned)sqlite3_column_int(st, 2);
	if (mqs_totp_alg_parse((const char *)sqlite3_column_text(st, 3), &c->totp.algorithm) !=
	    MQS_OK) {
		ex = mqsa_fail(why, MQS_ERR_PARSE, "device %s has an unknown algorithm", name);
		goto out;
	}
	rc = mqs_totp_wrap_aad(aad, sizeof(aad), name);
	if (rc == MQS_OK)
		rc = mqs_wrap_open(ctx->mk, aad, sqlite3_column_blob(st, 4),
		                   (size_t)sqlite3_column_bytes(st, 4), c->totp_secret,
		                   sizeof(c->totp_secret), &c->totp_secret_len);
	if (rc != MQS_OK) {
		ex = mqsa_fail(
		    why, MQS_ERR_UNWRAP,
		    "cannot unwrap the totp secret of %s: wrong master key or damaged row", name);
		goto out;
	}
	c->has_totp = 1;
out:
	sqlite3_finalize(st);
	return ex;
}

/* Append the active and in-grace keys of filter to c; their ids go to ids. */
static enum mqs_err export_topic_keys(struct mqsa_ctx *ctx, const char *filter, struct mqs_creds *c,
                                      char *ids, size_t cap, char *why)
{
	sqlite3_stmt *st = NULL;
	struct mqs_key key;
	int nactive = 0;
	int rc;
	enum mqs_err ex;

	mqs_key_init(&key);
	ids[0] = '\0';
	ex = mqsa_prepare(ctx,
	                  "SELECT id FROM keys WHERE purpose = 'topic' AND owner = ?1 AND "
	                  "(state = 'active' OR retire_after >= ?2) ORDER BY id",
	                  &st, why);
	if (ex != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ctx->now);
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			ex = mqsa_db_fail(ctx, why, "read topic keys");
			goto out;
		}
		mqs_key_release(&key);
		rc =
		    mqs_keystore_get(ctx->db, ctx->mk, (uint32_t)sqlite3_column_int64(st, 0), &key);
		if (rc != MQS_OK) {
			ex = rc == MQS_ERR_DB
			         ? mqsa_db_fail(ctx, why, "read topic key")
			         : mqsa_fail(why, MQS_ERR_UNWRAP,
			                     "cannot unwrap topic key %lld: wrong master key "
			                     "or damaged row",
			                     (long long)sqlite3_column_int64(st, 0));
			goto out;
		}
		nactive += key.active;
		rc = mqs_creds_add_key(c, key.id, MQS_CREDS_USE_TOPIC, filter, key.key);
		if (rc != MQS_OK) {
			ex = mqsa_fail(why, rc, "cannot build credentials: %s", mqs_strerror(rc));
			goto out;
		}
		mqsa_ids_append(ids, cap, (unsigned long)key.id);
	}
	if (nactive == 0)
		ex = mqsa_fail(why, MQS_ERR_NOENT, "topic %s has no active key (run key rotate)",
		               filter);
out:
	sqlite3_finalize(st);
	mqs_key_release(&key);
	return ex;
}

/* Start the credentials from FILE when it exists (it must be name's):
 * keep its TOTP and keys except the topic keys of filter.  *merged is 1
 * when FILE existed. */
static enum mqs_err export_merge_base(const char *path, const char *name, const char *filter,
                                      struct mqs_creds *c, int *merged, char *why)
{
	struct mqs_creds old;
	char err[256] = "";
	int rc;
	enum mqs_err ex = MQS_OK;

	*merged = 0;
	rc = mqs_creds_load(path, &old, err, sizeof(err));
	if (rc == MQS_ERR_NOENT)
		goto out;
	if (rc == MQS_ERR_PERM) {
		ex = mqsa_fail(why, MQS_ERR_PERM,
		               "cannot merge into %s: readable by group or others (chmod 600 it)",
		               path);
		goto out;
	}
	if (rc != MQS_OK) {
		ex = mqsa_fail(why, MQS_ERR_PARSE,
		               "cannot merge into %s: not a credentials file (%s)", path,
		               err[0] != '\0' ? err : mqs_strerror(rc));
		goto out;
	}
	if (strcmp(old.username, name) != 0) {
		ex = mqsa_fail(why, MQS_ERR_INVAL,
		               "cannot merge into %s: it holds the credentials of another device",
		               path);
		goto out;
	}
	*merged = 1;
	c->has_totp = old.has_totp;
	c->totp = old.totp;
	memcpy(c->totp_secret, old.totp_secret, sizeof(c->totp_secret));
	c->totp_secret_len = old.totp_secret_len;
	for (size_t i = 0; i < old.nkeys; i++) {
		const struct mqs_creds_key *k = &old.keys[i];

		if (k->use == MQS_CREDS_USE_TOPIC && strcmp(k->topic, filter) == 0)
			continue;
		rc = keys_copy_one(c, k);
		if (rc != MQS_OK) {
			ex = mqsa_fail(why, rc, "cannot merge into %s: %s", path, mqs_strerror(rc));
			goto out;
		}
	}
out:
	mqs_creds_release(&old);
	return ex;
}

/* Replace the device keys of c with name's active device key. */
static enum mqs_err export_device_key(struct mqsa_ctx *ctx, const char *name, struct mqs_creds *c,
                                      char *why)
{
	struct mqs_creds tmp;
	struct mqs_key key;
	int rc;
	enum mqs_err ex = MQS_OK;

	mqs_creds_init(&tmp);
	mqs_key_init(&key);
	rc = mqs_keystore_active(ctx->db, ctx->mk, MQS_KEY_DEVICE, name, &key);
	if (rc == MQS_ERR_NOENT)
		goto out; /* a device without a key: nothing to add */
	if (rc != MQS_OK) {
		ex = rc == MQS_ERR_DB
		         ? mqsa_db_fail(ctx, why, "read device key")
		         : mqsa_fail(why, MQS_ERR_UNWRAP,
		                     "cannot unwrap the device key of %s: wrong master "
		                     "key or damaged row",
		                     name);
		goto out;
	}
	rc = mqs_creds_add_key(&tmp, key.id, MQS_CREDS_USE_DEVICE, NULL, key.key);
	for (size_t i = 0; rc == MQS_OK && i < c->nkeys; i++) {
		const struct mqs_creds_key *k = &c->keys[i];

		if (k->use != MQS_CREDS_USE_DEVICE)
			rc = keys_copy_one(&tmp, k);
	}
	if (rc != MQS_OK) {
		ex = mqsa_fail(why, rc, "cannot build credentials: %s", mqs_strerror(rc));
		goto out;
	}
	/* swap the key lists: c keeps everything else */
	{
		struct mqs_creds_key *keys = c->keys;
		size_t nkeys = c->nkeys;

		c->keys = tmp.keys;
		c->nkeys = tmp.nkeys;
		tmp.keys = keys;
		tmp.nkeys = nkeys;
	}
out:
	mqs_creds_release(&tmp);
	mqs_key_release(&key);
	return ex;
}

/* key export: the request and the credentials built for it. */
struct export_arg {
	const struct mqsa_key_export_req *o;
	const char *filter;
	int full;
	struct mqsa_key_export *r;
};

/* Check the device and its read access, build the credentials JSON and
 * write the audit detail: handing out keys is on record before the output
 * is written. */
static enum mqs_err export_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                  char *why)
{
	struct export_arg *a = data;
	const struct mqsa_key_export_req *o = a->o;
	int allowed = 0;
	int rc;
	enum mqs_err ex;

	ex = need_protected(ctx, a->filter, why);
	if (ex == MQS_OK && o->out != NULL)
		ex =
		    export_merge_base(o->out, o->name, a->filter, &a->r->creds, &a->r->merged, why);
	if (ex == MQS_OK)
		ex = export_device(ctx, o->name, a->full, &a->r->creds, why);
	if (ex == MQS_OK)
		ex = mqsa_read_covers(ctx, o->name, a->filter, &allowed, why);
	if (ex == MQS_OK && !allowed)
		ex = mqsa_fail(why, MQS_ERR_PERM,
		               "device %s may not read every topic of %s: no keys exported",
		               o->name, a->filter);
	if (ex != MQS_OK)
		goto out;
	rc = mqs_creds_set_username(&a->r->creds, o->name);
	if (rc != MQS_OK) {
		ex = mqsa_fail(why, rc, "cannot build credentials: %s", mqs_strerror(rc));
		goto out;
	}
	if (a->full)
		ex = export_device_key(ctx, o->name, &a->r->creds, why);
	if (ex == MQS_OK)
		ex = export_topic_keys(ctx, a->filter, &a->r->creds, a->r->ids, sizeof(a->r->ids),
		                       why);
	if (ex == MQS_OK) /* revoking this device later rotates (revoke.c) */
		ex = mqsa_grants_record(ctx, o->name, a->filter, why);
	if (ex == MQS_OK) {
		/* the current list replaces the file's */
		for (size_t i = 0; i < a->r->creds.nprotected; i++)
			mqs_free(a->r->creds.protected_filters[i]);
		a->r->creds.nprotected = 0;
		ex = mqsa_topic_add_protected(ctx, &a->r->creds, why);
	}
	if (ex != MQS_OK)
		goto out;
	ex = mqsa_creds_json(ctx, &a->r->creds, &a->r->json, why);
	if (ex != MQS_OK)
		goto out;
	snprintf(detail, MQSA_DETAIL_MAX, "filter=%.300s for=%s key_ids=%s out=%.300s%s totp=%s",
	         a->filter, o->name, a->r->ids, o->out != NULL ? o->out : "stdout",
	         a->r->merged ? " (merged)" : "", a->full ? "yes" : "no");
out:
	return ex;
}

/* Build a device's credentials with a topic's keys. */
enum mqs_err mqsa_key_export(struct mqsa_ctx *ctx, const struct mqsa_key_export_req *req,
                             struct mqsa_key_export *res, char *why)
{
	struct export_arg a = {req, req->filter, req->full != 0, res};
	enum mqs_err rc;

	memset(res, 0, sizeof(*res));
	mqs_creds_init(&res->creds);
	rc = mqsa_protected_filter_check(req->filter, why);
	if (rc == MQS_OK)
		rc = mqsa_name_check(req->name, "device", why);
	if (rc == MQS_OK)
		rc = mqsa_ctx_db(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_ctx_master_key(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_tx_run(ctx, "key export", export_change, &a, NULL, why);
	if (rc != MQS_OK) {
		mqsa_key_export_release(res);
		mqs_creds_init(&res->creds);
	}
	return rc;
}

/* Wipe and free an export. */
void mqsa_key_export_release(struct mqsa_key_export *res)
{
	if (res == NULL)
		return;
	mqs_secret_free_str(res->json);
	res->json = NULL;
	mqs_creds_release(&res->creds);
}

/* mqsa_key_list's iterator. */
struct key_list_arg {
	const struct mqsa_ctx *ctx;
	enum mqs_err (*each)(const struct mqsa_key_info *k, void *arg);
	void *arg;
};

/* One key row. */
static enum mqs_err key_row(sqlite3_stmt *st, void *data)
{
	const struct key_list_arg *a = data;
	struct mqsa_key_info k;

	k.id = sqlite3_column_int64(st, 0);
	k.filter = mqsa_col(st, 1);
	k.created_at = sqlite3_column_int64(st, 3);
	k.retire_after = sqlite3_column_int64(st, 4);
	k.seal_after = sqlite3_column_int64(st, 5);
	if (strcmp(mqsa_col(st, 2), "active") == 0)
		k.state = k.seal_after > (long long)a->ctx->now ? "announced" : "active";
	else
		k.state = k.retire_after >= (long long)a->ctx->now ? "grace" : "dead";
	return a->each(&k, a->arg);
}

/* Topic keys. */
enum mqs_err mqsa_key_list(struct mqsa_ctx *ctx, const char *filter,
                           enum mqs_err (*each)(const struct mqsa_key_info *k, void *arg),
                           void *arg, char *why)
{
	struct key_list_arg a = {ctx, each, arg};
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	rc = mqsa_ctx_db(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_prepare(ctx,
		                  "SELECT id, owner, state, created_at, retire_after, seal_after "
		                  "FROM keys "
		                  "WHERE purpose = 'topic' AND (?1 IS NULL OR owner = ?1) "
		                  "ORDER BY owner, id",
		                  &st, why);
	if (rc != MQS_OK)
		return rc;
	if (filter != NULL)
		sqlite3_bind_text(st, 1, filter, -1, SQLITE_STATIC);
	return mqsa_each_row(ctx, st, key_row, &a, "topic keys", why);
}
