/* SPDX-License-Identifier: BSD-3-Clause */
/* test-admin-pages.c - the paginated listings of the admin library
 * (admin/mqsa.h, "pages"), used by the web console: devices with search,
 * list entries and the plugin's bans, rules, the audit log with filters,
 * and the rule tester ("who may do what on this topic").
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "mqsa.h"
#include "tap.h"

/* What an iterator saw: the count and the first and last row. */
struct seen {
	int n;
	char first[160];
	char last[160];
};

/* Remember row text t. */
static void seen_add(struct seen *s, const char *t)
{
	if (s->n == 0)
		snprintf(s->first, sizeof(s->first), "%s", t);
	snprintf(s->last, sizeof(s->last), "%s", t);
	s->n++;
}

/* Deliver: drop the credentials. */
static enum mqs_err deliver_drop(const char *json, void *arg, char *why)
{
	(void)json;
	(void)arg;
	(void)why;
	return MQS_OK;
}

/* Device iterator. */
static enum mqs_err each_device(const struct mqsa_device_info *d, void *arg)
{
	seen_add(arg, d->name);
	return MQS_OK;
}

/* List entry iterator. */
static enum mqs_err each_entry(const struct mqsa_list_entry *e, void *arg)
{
	char t[160];

	snprintf(t, sizeof(t), "%s %s %s %s", e->kind, e->match, e->pattern, e->reason);
	seen_add(arg, t);
	return MQS_OK;
}

/* Rule iterator. */
static enum mqs_err each_rule(const struct mqsa_rule *r, void *arg)
{
	char t[160];

	snprintf(t, sizeof(t), "%s %s %s %s", r->effect, r->access, r->subject, r->filter);
	seen_add(arg, t);
	return MQS_OK;
}

/* Audit iterator. */
static enum mqs_err each_audit(const struct mqsa_audit_row *r, void *arg)
{
	char t[160];

	snprintf(t, sizeof(t), "%s by %s", r->action, r->who);
	seen_add(arg, t);
	return MQS_OK;
}

/* Tester iterator: "name pub recv sub". */
static enum mqs_err each_access(const struct mqsa_access *a, void *arg)
{
	char t[160];

	snprintf(t, sizeof(t), "%s %d%d%d", a->name, a->publish, a->receive, a->subscribe);
	seen_add(arg, t);
	return MQS_OK;
}

/* Decide topic for one device: "pub recv sub" bits as text, or the error. */
static const char *decide(struct mqsa_ctx *ctx, const char *topic, const char *cid,
                          const char *name, char *buf, size_t len)
{
	char why[MQSA_WHY_MAX];
	struct seen s;
	enum mqs_err rc;

	memset(&s, 0, sizeof(s));
	rc = mqsa_rule_test(ctx, topic, cid, name, NULL, each_access, &s, why);
	if (rc != MQS_OK)
		snprintf(buf, len, "error %d", (int)rc);
	else
		snprintf(buf, len, "%s", s.n == 1 ? strchr(s.last, ' ') + 1 : "none");
	return buf;
}

/* Write a ban as the plugin does (broker-plugin/store.c). */
static int plugin_ban(const char *db, const char *ip, long long until)
{
	sqlite3 *h = NULL;
	char sql[300];
	int rc;

	snprintf(sql, sizeof(sql),
	         "INSERT INTO list_entries (kind, match, pattern, expires_at, reason, created_at, "
	         "created_by) VALUES ('deny', 'ip', '%s', %lld, 'auth-failures', 1, "
	         "'mqttsec-plugin')",
	         ip, until);
	rc = sqlite3_open(db, &h);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
	sqlite3_close(h);
	return rc;
}

int main(void)
{
	char dir[256];
	char db[300];
	char key[300];
	char name[32];
	char why[MQSA_WHY_MAX];
	char b[64];
	char key_[MQSA_PAGE_KEY_MAX];
	struct mqsa_ctx *ctx = NULL;
	struct mqsa_init_result ir;
	struct mqsa_list_added la;
	struct mqsa_list_query lq;
	struct mqsa_audit_query aq;
	struct mqsa_page pg;
	struct mqs_totp_params p;
	struct mqsa_deliver dl = {deliver_drop, NULL};
	struct seen s;
	long long id = 0;
	int changed = 0;
	int ok = 1;
	enum mqs_err rc;
	const char *base = getenv("TMPDIR");

	tap_plan(47);
	snprintf(dir, sizeof(dir), "%s/mqs-test-admin-pages-XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	snprintf(db, sizeof(db), "%s/db.sqlite", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	rc = mqsa_ctx_open(db, key, "console:alice", &ctx);
	if (rc == MQS_OK)
		rc = mqsa_init(ctx, &ir, why);
	tap_is_int(rc, MQS_OK, "database and key created");

	/* devices: 60, paged by 50, searched */
	mqs_totp_params_default(&p);
	for (int i = 0; i < 60 && ok; i++) {
		snprintf(name, sizeof(name), "d%03d", i);
		ok = mqsa_device_add(ctx, name, &p, &dl, NULL, why) == MQS_OK;
	}
	tap_ok(ok, "60 devices added");
	pg = (struct mqsa_page){.offset = 0, .limit = 50};
	memset(&s, 0, sizeof(s));
	rc = mqsa_device_page(ctx, NULL, &pg, each_device, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 60 && s.n == 50 && strcmp(s.first, "d000") == 0 &&
	           strcmp(s.last, "d049") == 0,
	       "first page: 50 of 60, by name");
	pg = (struct mqsa_page){.offset = 50, .limit = 50};
	memset(&s, 0, sizeof(s));
	rc = mqsa_device_page(ctx, "", &pg, each_device, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 60 && s.n == 10 && strcmp(s.first, "d050") == 0,
	       "second page: the last 10");
	pg = (struct mqsa_page){.offset = 0, .limit = 50};
	memset(&s, 0, sizeof(s));
	rc = mqsa_device_page(ctx, "d01", &pg, each_device, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 10 && s.n == 10, "search d01: 10 devices");
	pg = (struct mqsa_page){.offset = 0, .limit = 50};
	memset(&s, 0, sizeof(s));
	rc = mqsa_device_page(ctx, "d_%", &pg, each_device, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 0 && s.n == 0, "search holds no wildcards");
	pg = (struct mqsa_page){.offset = 0, .limit = 0};
	rc = mqsa_device_page(ctx, NULL, &pg, each_device, &s, why);
	tap_ok(rc == MQS_ERR_INVAL && strstr(why, "invalid page") != NULL, "limit 0: %s", why);
	pg = (struct mqsa_page){.offset = -1, .limit = MQSA_PAGE_MAX + 1};
	rc = mqsa_device_page(ctx, NULL, &pg, each_device, &s, why);
	tap_is_int(rc, MQS_ERR_INVAL, "negative offset, oversized page refused");
	pg = (struct mqsa_page){.offset = 0, .limit = 10};
	rc = mqsa_device_page(ctx, "a\nb", &pg, each_device, &s, why);
	tap_ok(rc == MQS_ERR_INVAL && strstr(why, "control") != NULL, "search with a newline: %s",
	       why);

	/* lists and bans */
	rc = mqsa_list_add(ctx, "deny", "username", "d001", 0, "stolen", &la, why);
	if (rc == MQS_OK)
		rc = mqsa_list_add(ctx, "allow", "ip", "10.0.0.0/8", 3600, "office", &la, why);
	tap_is_int(rc, MQS_OK, "two list entries");
	tap_ok(plugin_ban(db, "192.0.2.1", 4102444800LL) == SQLITE_OK &&
	           plugin_ban(db, "192.0.2.2", 4102444800LL) == SQLITE_OK &&
	           plugin_ban(db, "192.0.2.3", 1) == SQLITE_OK,
	       "three bans written as the plugin does (one expired)");
	lq = (struct mqsa_list_query){NULL, 1, 0};
	pg = (struct mqsa_page){.offset = 0, .limit = 50};
	memset(&s, 0, sizeof(s));
	rc = mqsa_list_page(ctx, &lq, &pg, each_entry, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 2 && s.n == 2 &&
	           strcmp(s.first, "deny ip 192.0.2.2 auth-failures") == 0,
	       "active bans: 2, the newest first (%s)", s.first);
	lq = (struct mqsa_list_query){NULL, 0, 0};
	pg = (struct mqsa_page){.offset = 0, .limit = 50};
	memset(&s, 0, sizeof(s));
	rc = mqsa_list_page(ctx, &lq, &pg, each_entry, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 2 && strcmp(s.first, "deny username d001 stolen") == 0,
	       "the administrators' entries without the bans");
	lq = (struct mqsa_list_query){"allow", -1, 1};
	pg = (struct mqsa_page){.offset = 0, .limit = 50};
	memset(&s, 0, sizeof(s));
	rc = mqsa_list_page(ctx, &lq, &pg, each_entry, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 1 && s.n == 1, "allow entries only");
	lq = (struct mqsa_list_query){NULL, -1, 1};
	pg = (struct mqsa_page){.offset = 0, .limit = 3};
	memset(&s, 0, sizeof(s));
	rc = mqsa_list_page(ctx, &lq, &pg, each_entry, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 5 && s.n == 3, "everything, expired too: 5, page of 3");
	lq = (struct mqsa_list_query){"maybe", -1, 0};
	rc = mqsa_list_page(ctx, &lq, &pg, each_entry, &s, why);
	tap_is_int(rc, MQS_ERR_INVAL, "an unknown kind is refused");

	/* rules */
	ok = mqsa_group_add(ctx, "g", why) == MQS_OK &&
	     mqsa_group_member_add(ctx, "g", "d000", why) == MQS_OK &&
	     mqsa_group_member_add(ctx, "g", "d001", why) == MQS_OK &&
	     mqsa_rule_add(ctx, "allow", "pub", "d000", "a/#", 0, &id, why) == MQS_OK &&
	     mqsa_rule_add(ctx, "deny", "all", "@g", "a/secret", 1, &id, why) == MQS_OK &&
	     mqsa_rule_add(ctx, "allow", "pub", "@g", "u/%u", 0, &id, why) == MQS_OK &&
	     mqsa_rule_add(ctx, "allow", "read", "@g", "c/%c", 0, &id, why) == MQS_OK &&
	     mqsa_rule_add(ctx, "allow", "sub", "@g", "c/#", 0, &id, why) == MQS_OK;
	tap_ok(ok, "group g (d000, d001) and five rules: %s", ok ? "" : why);
	pg = (struct mqsa_page){.offset = 0, .limit = 2};
	memset(&s, 0, sizeof(s));
	rc = mqsa_rule_page(ctx, NULL, NULL, &pg, each_rule, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 5 && s.n == 2 &&
	           strcmp(s.first, "deny all @g a/secret") == 0,
	       "rules page: evaluation order, 2 of 5 (%s)", s.first);
	pg = (struct mqsa_page){.offset = 0, .limit = 50};
	memset(&s, 0, sizeof(s));
	rc = mqsa_rule_page(ctx, "@g", "%", &pg, each_rule, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 2 && s.n == 2, "rules of @g with %% in the filter");
	rc = mqsa_rule_page(ctx, "bad name", NULL, &pg, each_rule, &s, why);
	tap_is_int(rc, MQS_ERR_INVAL, "a bad subject is refused");

	/* the tester: publish, receive, subscribe */
	tap_ok(strcmp(decide(ctx, "a/x", NULL, "d000", b, sizeof(b)), "100") == 0,
	       "d000 may publish a/x, not receive it (%s)", b);
	tap_ok(strcmp(decide(ctx, "a/secret", NULL, "d000", b, sizeof(b)), "000") == 0,
	       "the group's deny at priority 1 wins on a/secret (%s)", b);
	tap_ok(strcmp(decide(ctx, "u/d001", NULL, "d001", b, sizeof(b)), "100") == 0 &&
	           strcmp(decide(ctx, "u/d000", NULL, "d001", b, sizeof(b)), "000") == 0,
	       "%%u is the device's own name");
	tap_ok(strcmp(decide(ctx, "c/cid1", "cid1", "d001", b, sizeof(b)), "011") == 0 &&
	           strcmp(decide(ctx, "c/cid1", NULL, "d001", b, sizeof(b)), "001") == 0,
	       "%%c needs the client id (%s)", b);
	tap_ok(strcmp(decide(ctx, "c/+", NULL, "d001", b, sizeof(b)), "001") == 0 &&
	           strcmp(decide(ctx, "a/+", NULL, "d000", b, sizeof(b)), "000") == 0,
	       "a filter: subscribe only (%s)", b);
	rc = mqsa_device_set_enabled(ctx, "d000", 0, &changed, why);
	tap_ok(rc == MQS_OK && strcmp(decide(ctx, "a/x", NULL, "d000", b, sizeof(b)), "000") == 0,
	       "a disabled device may do nothing");
	snprintf(name, sizeof(name), "error %d", (int)MQS_ERR_NOENT);
	tap_ok(strcmp(decide(ctx, "a/x", NULL, "nosuch", b, sizeof(b)), name) == 0,
	       "an unknown device is MQS_ERR_NOENT (%s)", b);
	tap_ok(strncmp(decide(ctx, "a/#/b", NULL, "d001", b, sizeof(b)), "error", 5) == 0 &&
	           strncmp(decide(ctx, "", NULL, "d001", b, sizeof(b)), "error", 5) == 0,
	       "a bad topic is refused");
	pg = (struct mqsa_page){.offset = 50, .limit = 50};
	memset(&s, 0, sizeof(s));
	rc = mqsa_rule_test(ctx, "u/d055", NULL, NULL, &pg, each_access, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 60 && s.n == 10 && strcmp(s.first, "d050 000") == 0,
	       "every device, paged: 10 on the second page (%s)", s.first);

	/* audit */
	aq = (struct mqsa_audit_query){"alice", "device", 0, 0};
	pg = (struct mqsa_page){.offset = 0, .limit = 5};
	memset(&s, 0, sizeof(s));
	rc = mqsa_audit_page(ctx, &aq, &pg, each_audit, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 61 && s.n == 5 &&
	           strcmp(s.first, "device disable by console:alice") == 0,
	       "audit by alice, action device*: 61, the newest first (%s)", s.first);
	aq = (struct mqsa_audit_query){"bob", NULL, 0, 0};
	pg = (struct mqsa_page){.offset = 0, .limit = 5};
	rc = mqsa_audit_page(ctx, &aq, &pg, each_audit, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 0, "nobody called bob");
	aq = (struct mqsa_audit_query){NULL, "list add", 1, 1};
	pg = (struct mqsa_page){.offset = 0, .limit = 5};
	rc = mqsa_audit_page(ctx, &aq, &pg, each_audit, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 0, "a time range before everything: nothing");
	aq = (struct mqsa_audit_query){NULL, "list add", 1, 0};
	pg = (struct mqsa_page){.offset = 0, .limit = 5};
	rc = mqsa_audit_page(ctx, &aq, &pg, each_audit, &s, why);
	tap_ok(rc == MQS_OK && pg.total == 2, "list add since 1: 2");
	aq = (struct mqsa_audit_query){NULL, NULL, -5, 0};
	rc = mqsa_audit_page(ctx, &aq, &pg, each_audit, &s, why);
	tap_is_int(rc, MQS_ERR_INVAL, "a negative time is refused");
	aq = (struct mqsa_audit_query){NULL, "a\tb", 0, 0};
	rc = mqsa_audit_page(ctx, &aq, &pg, each_audit, &s, why);
	tap_is_int(rc, MQS_ERR_INVAL, "an action with a tab is refused");

	/* keyset paging: after, before, the last page; a key it never gave */
	pg = (struct mqsa_page){.limit = 25};
	memset(&s, 0, sizeof(s));
	rc = mqsa_device_page(ctx, NULL, &pg, each_device, &s, why);
	tap_ok(rc == MQS_OK && s.n == 25 && strcmp(pg.key_first, "d000") == 0 &&
	           strcmp(pg.key_last, "d024") == 0 && !pg.more_before && pg.more_after,
	       "devices: first page keys %s..%s, more after", pg.key_first, pg.key_last);
	snprintf(key_, sizeof(key_), "%s", pg.key_last);
	pg = (struct mqsa_page){.limit = 25, .after = key_};
	memset(&s, 0, sizeof(s));
	rc = mqsa_device_page(ctx, NULL, &pg, each_device, &s, why);
	tap_ok(rc == MQS_OK && s.n == 25 && strcmp(s.first, "d025") == 0 && pg.more_before &&
	           pg.more_after && pg.total == 60,
	       "devices after d024: d025.. (%s)", s.first);
	pg = (struct mqsa_page){.limit = 25, .at_end = 1};
	memset(&s, 0, sizeof(s));
	rc = mqsa_device_page(ctx, NULL, &pg, each_device, &s, why);
	tap_ok(rc == MQS_OK && s.n == 25 && strcmp(s.first, "d035") == 0 &&
	           strcmp(s.last, "d059") == 0 && pg.more_before && !pg.more_after,
	       "devices: the last page is d035..d059 (%s..%s)", s.first, s.last);
	pg = (struct mqsa_page){.limit = 25, .before = "d030"};
	memset(&s, 0, sizeof(s));
	rc = mqsa_device_page(ctx, NULL, &pg, each_device, &s, why);
	tap_ok(rc == MQS_OK && s.n == 25 && strcmp(s.first, "d005") == 0 &&
	           strcmp(s.last, "d029") == 0 && pg.more_before && pg.more_after,
	       "devices before d030: d005..d029 (%s..%s)", s.first, s.last);
	pg = (struct mqsa_page){.limit = 25, .before = "d010"};
	memset(&s, 0, sizeof(s));
	rc = mqsa_device_page(ctx, NULL, &pg, each_device, &s, why);
	tap_ok(rc == MQS_OK && s.n == 25 && strcmp(s.first, "d000") == 0 && !pg.more_before,
	       "devices before d010: fewer than a page before, so the first page");
	pg = (struct mqsa_page){.limit = 25, .after = "d0305"};
	memset(&s, 0, sizeof(s));
	rc = mqsa_device_page(ctx, "d03", &pg, each_device, &s, why);
	tap_ok(rc == MQS_OK && s.n == 9 && strcmp(s.first, "d031") == 0 && pg.total == 10,
	       "a key no row has (a removed row): the page starts at its place, with the search");
	pg = (struct mqsa_page){.limit = 2};
	memset(&s, 0, sizeof(s));
	rc = mqsa_rule_page(ctx, NULL, NULL, &pg, each_rule, &s, why);
	snprintf(key_, sizeof(key_), "%s", pg.key_last);
	pg = (struct mqsa_page){.limit = 2, .after = key_};
	memset(&s, 0, sizeof(s));
	rc = mqsa_rule_page(ctx, NULL, NULL, &pg, each_rule, &s, why);
	tap_ok(rc == MQS_OK && s.n == 2 && strcmp(s.first, "allow pub @g u/%u") == 0 &&
	           pg.more_after,
	       "rules after key %s: the evaluation order goes on (%s)", key_, s.first);
	pg = (struct mqsa_page){.limit = 2, .at_end = 1};
	memset(&s, 0, sizeof(s));
	rc = mqsa_rule_page(ctx, NULL, NULL, &pg, each_rule, &s, why);
	tap_ok(rc == MQS_OK && s.n == 2 && strcmp(s.last, "allow sub @g c/#") == 0 &&
	           !pg.more_after && pg.more_before,
	       "rules: the last page ends with the last rule (%s)", s.last);
	pg = (struct mqsa_page){.limit = 1, .at_end = 1};
	memset(&s, 0, sizeof(s));
	rc = mqsa_rule_page(ctx, "@g", NULL, &pg, each_rule, &s, why);
	tap_ok(rc == MQS_OK && s.n == 1 && pg.total == 4 && strcmp(s.last, "allow sub @g c/#") == 0,
	       "rules of @g: the last page (%s)", s.last);
	aq = (struct mqsa_audit_query){NULL, NULL, 0, 0};
	pg = (struct mqsa_page){.limit = 5, .at_end = 1};
	memset(&s, 0, sizeof(s));
	rc = mqsa_audit_page(ctx, &aq, &pg, each_audit, &s, why);
	tap_ok(rc == MQS_OK && s.n == 5 && strcmp(pg.key_last, "1") == 0 && !pg.more_after,
	       "audit: the last page ends with the oldest row (key %s)", pg.key_last);
	snprintf(key_, sizeof(key_), "%s", pg.key_first);
	pg = (struct mqsa_page){.limit = 5, .before = key_};
	memset(&s, 0, sizeof(s));
	rc = mqsa_audit_page(ctx, &aq, &pg, each_audit, &s, why);
	tap_ok(rc == MQS_OK && s.n == 5 && atoll(pg.key_last) == atoll(key_) + 1 && pg.more_after,
	       "audit before key %s: the five newer rows (%s..%s)", key_, pg.key_first,
	       pg.key_last);
	{
		static const char *const bad[] = {"x", "1,2", "1,2,3,4", "1,,3",
		                                  "99999999999999999999,0,1"};

		ok = 1;
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			pg = (struct mqsa_page){.limit = 5, .after = bad[i]};
			rc = mqsa_rule_page(ctx, NULL, NULL, &pg, each_rule, &s, why);
			ok = ok && rc == MQS_ERR_INVAL && strstr(why, "invalid page key") != NULL;
		}
		tap_ok(ok, "a key the listing never gives is refused");
	}

	mqsa_ctx_close(ctx);
	unlink(db);
	unlink(key);
	{
		char wal[320];

		snprintf(wal, sizeof(wal), "%s-wal", db);
		unlink(wal);
		snprintf(wal, sizeof(wal), "%s-shm", db);
		unlink(wal);
	}
	rmdir(dir);
	return tap_exit();
}
