/* SPDX-License-Identifier: BSD-3-Clause */
/* test-admin.c - the admin library (admin/mqsa.h) called directly on a
 * temporary database: devices, list entries, rules, groups, protected
 * topics and keys, audit rows, and bad input refused with a message.  No
 * CLI involved.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mqsa.h"
#include "mqs_util.h"
#include "tap.h"

/* Counts what an iterator saw and remembers one name. */
struct seen {
	int n;
	char last[128];
};

/* Deliver: count the credentials handed over. */
static enum mqs_err deliver_count(const char *json, void *arg, char *why)
{
	int *n = arg;

	(*n) += strstr(json, "\"username\"") != NULL;
	return MQS_OK;
}

/* Deliver: refuse (the device must not be added). */
static enum mqs_err deliver_refuse(const char *json, void *arg, char *why)
{
	snprintf(why, MQSA_WHY_MAX, "cannot deliver");
	return MQS_ERR_IO;
}

/* Device iterator. */
static enum mqs_err each_device(const struct mqsa_device_info *d, void *arg)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->last, sizeof(s->last), "%s:%s", d->name, d->groups);
	return MQS_OK;
}

/* List entry iterator. */
static enum mqs_err each_entry(const struct mqsa_list_entry *e, void *arg)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->last, sizeof(s->last), "%s %s %s", e->kind, e->match, e->pattern);
	return MQS_OK;
}

/* Rule iterator. */
static enum mqs_err each_rule(const struct mqsa_rule *r, void *arg)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->last, sizeof(s->last), "%s %s %s %s", r->effect, r->access, r->subject,
	         r->filter);
	return MQS_OK;
}

/* Group iterator. */
static enum mqs_err each_group(const struct mqsa_group *g, void *arg)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->last, sizeof(s->last), "%s:%zu", g->name, g->nmembers);
	return MQS_OK;
}

/* Key iterator. */
static enum mqs_err each_key(const struct mqsa_key_info *k, void *arg)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->last, sizeof(s->last), "%s %s", k->filter, k->state);
	return MQS_OK;
}

/* Audit iterator: remember the last action. */
static enum mqs_err each_audit(const struct mqsa_audit_row *r, void *arg)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->last, sizeof(s->last), "%s by %s", r->action, r->who);
	return MQS_OK;
}

/* Topic iterator. */
static enum mqs_err each_topic(const struct mqsa_topic *t, void *arg)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->last, sizeof(s->last), "%s key=%lld", t->filter, t->active_key);
	return MQS_OK;
}

int main(void)
{
	char dir[256];
	char db[300];
	char key[300];
	char why[MQSA_WHY_MAX];
	char *uri = NULL;
	struct mqsa_ctx *ctx = NULL;
	struct mqsa_init_result ir;
	struct mqsa_list_added la;
	struct mqsa_topic_protected tp;
	struct mqsa_key_export ke;
	struct mqsa_key_export_req req;
	struct mqsa_device_removed dr;
	struct mqs_totp_params p;
	struct mqsa_deliver dl;
	struct mqsa_deliver refuse = {deliver_refuse, NULL};
	struct seen s;
	long long id = 0;
	int delivered = 0;
	int changed = 0;
	enum mqs_err rc;
	const char *base = getenv("TMPDIR");

	tap_plan(30);
	snprintf(dir, sizeof(dir), "%s/mqs-test-admin-XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	snprintf(db, sizeof(db), "%s/db.sqlite", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	rc = mqsa_ctx_open(db, key, "tester", &ctx);
	tap_is_int(rc, MQS_OK, "context opens");
	rc = mqsa_ctx_db(ctx, why);
	tap_ok(rc == MQS_ERR_NOENT && strstr(why, "no such file") != NULL,
	       "a missing db is MQS_ERR_NOENT with a message: %s", why);
	rc = mqsa_init(ctx, &ir, why);
	tap_ok(rc == MQS_OK && ir.db_created && ir.key_created, "init creates db and key");

	/* devices */
	mqs_totp_params_default(&p);
	dl.fn = deliver_count;
	dl.arg = &delivered;
	rc = mqsa_device_add(ctx, "dev1", &p, &dl, NULL, why);
	tap_ok(rc == MQS_OK && delivered == 1, "device add delivers credentials once");
	rc = mqsa_device_add(ctx, "dev1", &p, &dl, NULL, why);
	tap_ok(rc == MQS_ERR_EXISTS && strcmp(why, "device dev1 exists") == 0,
	       "a second dev1 is refused: %s", why);
	rc = mqsa_device_add(ctx, "dev2", &p, &refuse, NULL, why);
	tap_ok(rc == MQS_ERR_IO && strcmp(why, "cannot deliver") == 0,
	       "undeliverable credentials fail the add");
	rc = mqsa_device_add(ctx, "bad/name", &p, &dl, NULL, why);
	tap_ok(rc == MQS_ERR_INVAL && strstr(why, "invalid device name") != NULL,
	       "bad device name: %s", why);
	rc = mqsa_device_add(ctx, "dev2", &p, &dl, NULL, why);
	tap_is_int(rc, MQS_OK, "dev2 added");
	memset(&s, 0, sizeof(s));
	rc = mqsa_device_list(ctx, each_device, &s, why);
	tap_ok(rc == MQS_OK && s.n == 2, "two devices listed");
	rc = mqsa_device_set_enabled(ctx, "dev2", 1, &changed, why);
	tap_ok(rc == MQS_OK && !changed, "enabling an enabled device changes nothing");
	rc = mqsa_device_totp_uri(ctx, "dev1", &uri, why);
	tap_ok(rc == MQS_OK && uri != NULL && strncmp(uri, "otpauth://totp/", 15) == 0,
	       "otpauth uri of dev1");
	mqs_secret_free_str(uri);

	/* list entries */
	rc = mqsa_list_add(ctx, "deny", "ip", "10.1.2.3/8", 3600, "test", &la, why);
	tap_ok(rc == MQS_OK && strcmp(la.pattern, "10.0.0.0/8") == 0 && la.expires_at != 0,
	       "ip entry stored as canonical CIDR with an expiry (%s)", la.pattern);
	rc = mqsa_list_add(ctx, "deny", "ip", "10.0.0.0/8", 0, NULL, &la, why);
	tap_ok(rc == MQS_ERR_EXISTS && strstr(why, "list entry exists") != NULL,
	       "duplicate entry refused: %s", why);
	rc = mqsa_list_add(ctx, "maybe", "ip", "1.2.3.4", 0, NULL, &la, why);
	tap_ok(rc == MQS_ERR_INVAL && strstr(why, "invalid list kind") != NULL, "bad kind: %s",
	       why);
	memset(&s, 0, sizeof(s));
	rc = mqsa_list_show(ctx, 0, each_entry, &s, why);
	tap_ok(rc == MQS_OK && s.n == 1 && strcmp(s.last, "deny ip 10.0.0.0/8") == 0,
	       "one entry shown");

	/* groups and rules */
	rc = mqsa_group_add(ctx, "g1", why);
	if (rc == MQS_OK)
		rc = mqsa_group_member_add(ctx, "g1", "dev2", why);
	tap_is_int(rc, MQS_OK, "group g1 with member dev2");
	rc = mqsa_group_member_add(ctx, "g1", "nosuch", why);
	tap_ok(rc == MQS_ERR_NOENT && strcmp(why, "unknown device nosuch") == 0,
	       "unknown member refused: %s", why);
	memset(&s, 0, sizeof(s));
	rc = mqsa_group_list(ctx, NULL, each_group, &s, why);
	tap_ok(rc == MQS_OK && s.n == 1 && strcmp(s.last, "g1:1") == 0, "group listed");
	rc = mqsa_rule_add(ctx, "allow", "read", "@g1", "alerts/#", 0, &id, why);
	tap_ok(rc == MQS_OK && id > 0, "rule added (%lld)", id);
	rc = mqsa_rule_add(ctx, "allow", "peek", "@g1", "alerts/#", 0, &id, why);
	tap_ok(rc == MQS_ERR_INVAL && strstr(why, "invalid access") != NULL, "bad access: %s", why);
	memset(&s, 0, sizeof(s));
	rc = mqsa_rule_show(ctx, NULL, each_rule, &s, why);
	tap_ok(rc == MQS_OK && s.n == 1 && strcmp(s.last, "allow read @g1 alerts/#") == 0,
	       "rule shown");

	/* protected topic and keys */
	rc = mqsa_topic_protect(ctx, "alerts/#", NULL, &tp, why);
	tap_ok(rc == MQS_OK && tp.key_id > 0, "the alerts filter is protected with key %u",
	       tp.key_id);
	memset(&s, 0, sizeof(s));
	rc = mqsa_topic_list(ctx, each_topic, &s, why);
	tap_ok(rc == MQS_OK && s.n == 1, "one protected topic");
	memset(&req, 0, sizeof(req));
	req.filter = "alerts/#";
	req.name = "dev2";
	req.full = 0;
	rc = mqsa_key_export(ctx, &req, &ke, why);
	tap_ok(rc == MQS_OK && ke.json != NULL && ke.creds.nkeys == 1,
	       "dev2 (read via g1) gets the topic key");
	mqsa_key_export_release(&ke);
	req.name = "dev1";
	rc = mqsa_key_export(ctx, &req, &ke, why);
	tap_ok(rc == MQS_ERR_PERM && strstr(why, "may not read every topic") != NULL,
	       "dev1 without a read rule is refused (MQS_ERR_PERM, a message)");
	mqsa_key_export_release(&ke);
	memset(&s, 0, sizeof(s));
	rc = mqsa_key_list(ctx, "alerts/#", each_key, &s, why);
	tap_ok(rc == MQS_OK && s.n == 1 && strcmp(s.last, "alerts/# active") == 0,
	       "one active key listed");

	/* removal and the audit */
	rc = mqsa_device_remove(ctx, "dev2", &dr, why);
	tap_ok(rc == MQS_OK && dr.groups == 1, "dev2 removed with its membership");
	rc = mqsa_list_remove(ctx, 424242, why);
	tap_ok(rc == MQS_ERR_NOENT && strcmp(why, "unknown list entry 424242") == 0,
	       "unknown entry id: %s", why);
	memset(&s, 0, sizeof(s));
	rc = mqsa_audit_list(ctx, 0, each_audit, &s, why);
	/* init, 2 device add, list add, group add, member add, rule add,
	 * protect, key export, device qr, key rotate (dev2 held the key:
	 * removing it rotates, docs/payload-encryption.md), device rm */
	tap_ok(rc == MQS_OK && s.n == 12 && strcmp(s.last, "device rm by tester") == 0,
	       "one audit row per change, failures none (%d rows, last %s)", s.n, s.last);

	/* the clock a long-running caller sets: the 1 h entry has expired */
	mqsa_ctx_set_now(ctx, time(NULL) + 7200);
	rc = mqsa_list_purge(ctx, &changed, why);
	tap_ok(rc == MQS_OK && changed == 1, "an hour later the entry is purged");

	mqsa_ctx_close(ctx);
	unlink(db);
	unlink(key);
	rmdir(dir);
	tap_done();
	return tap_exit();
}
