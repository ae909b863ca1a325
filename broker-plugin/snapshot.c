/* SPDX-License-Identifier: BSD-3-Clause */
/* snapshot.c - build the in-memory view of the broker database, a slice
 * at a time. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "clock.h"
#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqs_error.h"
#include "snapshot.h"

#define CLOCK_EVERY 32   /* rows between two looks at the clock */
#define SORT_RUN    2048 /* rows sorted with one qsort before merging */

struct mqsp_subject {
	UT_hash_handle hh;
	const char *name;
	struct mqs_rules_tree *tree;
	int broken; /* a deny rule of it cannot be used: deny it everything */
};

/* one acl_rules row while building */
struct rule_row {
	int64_t id;
	const char *subject;
	const char *filter;
	unsigned access;
	int deny;
	int64_t priority;
};

/* one group membership while building */
struct member_row {
	struct mqsp_device *d;
	const struct mqs_rules_tree *t; /* NULL: the group has no rules */
};

enum phase {
	PH_BEGIN,
	PH_DEVICES,
	PH_LISTS,
	PH_RULES,
	PH_SORT,
	PH_TREES,
	PH_MEMBERS,
	PH_KEYS,
	PH_LINK,
	PH_DONE
};

static const char *const phase_name[] = {"begin",         "devices",   "list_entries",  "acl_rules",
                                         "acl_rules",     "acl_rules", "group_members", "keys",
                                         "group_members", "done"};

struct mqsp_build {
	sqlite3 *db;
	const uint8_t *mk;
	int64_t now;
	struct mqsp_snapshot *s;
	enum phase phase;
	sqlite3_stmt *st;
	int in_txn;
	double started;
	struct rule_row *rows;
	size_t nrows, caprows, next_row;
	struct rule_row *tmp; /* merge sort buffer */
	size_t width, pos;    /* merge sort state */
	struct mqsp_subject *cur;
	struct member_row *members;
	size_t nmembers, capmembers;
	struct mqsp_keys_load *keys; /* PH_KEYS in progress (keys.h) */
};

/* Copy column i of st into the arena (NULL becomes ""). */
static const char *col_text(struct mqs_arena *a, sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	int n = sqlite3_column_bytes(st, i);

	if (t == NULL)
		return mqs_arena_strndup(a, "", 0);
	return mqs_arena_strndup(a, (const char *)t, (size_t)n);
}

/* Parse the access column into MQS_ACCESS_* bits (0 when unknown). */
static unsigned access_parse(const unsigned char *t)
{
	const char *s = (const char *)t;

	if (s == NULL)
		return 0;
	if (strcmp(s, "pub") == 0)
		return MQS_ACCESS_WRITE;
	if (strcmp(s, "sub") == 0)
		return MQS_ACCESS_SUB;
	if (strcmp(s, "read") == 0)
		return MQS_ACCESS_READ;
	if (strcmp(s, "all") == 0)
		return MQS_ACCESS_READ | MQS_ACCESS_WRITE | MQS_ACCESS_SUB;
	return 0;
}

/* One devices row: unwrap its TOTP secret. */
static int row_device(struct mqsp_build *b, sqlite3_stmt *st)
{
	struct mqsp_snapshot *s = b->s;
	struct mqsp_device *d = mqs_arena_alloc(&s->arena, sizeof(*d));
	char aad[MQS_TOTP_AAD_MAX];
	const void *blob;
	int n;

	if (d == NULL)
		return MQS_ERR_NOMEM;
	d->name = col_text(&s->arena, st, 0);
	if (d->name == NULL)
		return MQS_ERR_NOMEM;
	d->enabled = sqlite3_column_int(st, 1) != 0;
	d->params.digits = (unsigned)sqlite3_column_int(st, 2);
	d->params.period = (unsigned)sqlite3_column_int(st, 3);
	d->last_step = sqlite3_column_int64(st, 6);
	d->generation = sqlite3_column_int64(st, 7);
	blob = sqlite3_column_blob(st, 5);
	n = sqlite3_column_bytes(st, 5);
	d->secret_ok = mqs_totp_alg_parse((const char *)sqlite3_column_text(st, 4),
	                                  &d->params.algorithm) == MQS_OK &&
	               mqs_totp_params_check(&d->params) == MQS_OK && strlen(d->name) <= 64 &&
	               mqs_totp_wrap_aad(aad, sizeof(aad), d->name) == MQS_OK && blob != NULL &&
	               mqs_wrap_open(b->mk, aad, blob, (size_t)n, d->secret, sizeof(d->secret),
	                             &d->secret_len) == MQS_OK &&
	               d->secret_len > 0;
	if (!d->secret_ok)
		s->bad_secrets++;
	HASH_ADD_KEYPTR(hh, s->devices, d->name, strlen(d->name), d);
	if (!mqs_uthash_added(d, hh)) {
		/* the arena holds d, the table does not: wipe it here */
		OPENSSL_cleanse(d->secret, sizeof(d->secret));
		OPENSSL_cleanse(d->kconn, sizeof(d->kconn));
		return MQS_ERR_NOMEM; /* the build is dropped */
	}
	s->ndevices++;
	return MQS_OK;
}

/* Record a row that cannot be used (the first MQSP_PROBLEMS_MAX); subject
 * is copied for the log: at most 64 bytes, control bytes and non-ASCII
 * shown as '?' (the row may have been written by hand). */
static void problem(struct mqsp_snapshot *s, const char *what, int64_t id, const char *subject,
                    const char *why, const char *outcome)
{
	if (s->nproblems < MQSP_PROBLEMS_MAX) {
		struct mqsp_problem *p = &s->problems[s->nproblems];
		const char *src = subject != NULL ? subject : "?";
		char *copy = mqs_arena_strndup(&s->arena, src, strnlen(src, 64));

		for (char *c = copy; c != NULL && *c != '\0'; c++) {
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				*c = '?';
		}
		p->what = what;
		p->id = id;
		p->subject = copy;
		p->why = why;
		p->outcome = outcome;
	}
	s->nproblems++;
}

/* One list_entries row.  An entry of unknown kind counts as a deny entry.
 * An entry that cannot be used never fails the view: a bad allow entry is
 * left out (it only lets fewer in); a bad deny entry that could match
 * nobody is left out, one that could have matched anyone makes the deny
 * list match everyone. */
static int row_list(struct mqsp_build *b, sqlite3_stmt *st)
{
	struct mqsp_snapshot *s = b->s;
	const char *kind = (const char *)sqlite3_column_text(st, 0);
	const char *mtext = (const char *)sqlite3_column_text(st, 1);
	const char *pattern = (const char *)sqlite3_column_text(st, 2);
	int64_t id = sqlite3_column_int64(st, 4);
	int is_allow = kind != NULL && strcmp(kind, "allow") == 0;
	struct mqs_list *l = is_allow ? &s->allow : &s->deny;
	enum mqs_match match;
	const char *why;
	int anyone;
	int e;

	why = mqs_list_entry_problem(mtext, pattern, &anyone);
	if (why == NULL) {
		mqs_match_parse(mtext, &match);
		e = mqs_list_add(l, match, pattern, sqlite3_column_int64(st, 3));
		if (e == MQS_ERR_NOMEM)
			return e;
		if (e == MQS_OK) {
			s->nentries++;
			/* an entry of unknown kind counts as a deny entry */
			if (!is_allow && (kind == NULL || strcmp(kind, "deny") != 0))
				problem(s, "list entry", id, mtext, "unknown kind",
				        "treated as a deny entry");
			return MQS_OK;
		}
		why = "cannot be added";
		anyone = 1;
	}
	s->bad_entries++;
	if (is_allow) {
		problem(s, "allow list entry", id, mtext, why, "left out");
	} else if (!anyone) {
		problem(s, "deny list entry", id, mtext, why, "left out (it can match no client)");
	} else {
		mqs_list_match_all(&s->deny);
		s->deny_everyone = 1;
		problem(s, "deny list entry", id, mtext, why,
		        "every CONNECT is refused until it is fixed or removed");
	}
	return MQS_OK;
}

/* One acl_rules row, kept for sorting. */
static int row_rule(struct mqsp_build *b, sqlite3_stmt *st)
{
	struct mqsp_snapshot *s = b->s;
	const char *effect = (const char *)sqlite3_column_text(st, 0);
	struct rule_row *row;

	void *rows = b->rows;
	int rc;

	rc = mqs_array_reserve(&rows, &b->caprows, b->nrows + 1, sizeof(*b->rows), SIZE_MAX, 0);
	if (rc != MQS_OK)
		return rc;
	b->rows = rows;
	row = &b->rows[b->nrows];
	row->id = sqlite3_column_int64(st, 5);
	row->access = access_parse(sqlite3_column_text(st, 1));
	row->deny = effect == NULL || strcmp(effect, "allow") != 0;
	row->priority = sqlite3_column_int64(st, 4);
	row->subject = col_text(&s->arena, st, 2);
	row->filter = col_text(&s->arena, st, 3);
	if (row->subject == NULL || row->filter == NULL)
		return MQS_ERR_NOMEM;
	/* kept even when unusable: tree_rule() fails its subject closed */
	b->nrows++;
	return MQS_OK;
}

/* Find a subject's tree, or NULL. */
static const struct mqs_rules_tree *subject_tree(const struct mqsp_snapshot *s, const char *name,
                                                 size_t len)
{
	struct mqsp_subject *sub = NULL;

	HASH_FIND(hh, s->subjects, name, len, sub);
	return sub != NULL ? sub->tree : NULL;
}

/* One group_members row: remember the device and the group's tree. */
static int row_member(struct mqsp_build *b, sqlite3_stmt *st)
{
	struct mqsp_snapshot *s = b->s;
	const char *grp = (const char *)sqlite3_column_text(st, 0);
	const char *member = (const char *)sqlite3_column_text(st, 1);
	struct mqsp_device *d = NULL;
	char stack[80];
	char *subject = stack;
	void *members;
	size_t sl;

	if (grp == NULL || member == NULL)
		return MQS_OK;
	HASH_FIND(hh, s->devices, member, strlen(member), d);
	if (d == NULL)
		return MQS_OK;
	/* "@GROUP", whatever its length: a membership left out would leave
	 * out the group's deny rules */
	sl = strlen(grp) + 1;
	if (sl >= sizeof(stack)) {
		subject = mqs_malloc(sl + 1);
		if (subject == NULL)
			return MQS_ERR_NOMEM;
	}
	subject[0] = '@';
	memcpy(subject + 1, grp, sl);
	members = b->members;
	if (mqs_array_reserve(&members, &b->capmembers, b->nmembers + 1, sizeof(*b->members),
	                      SIZE_MAX, 0) != MQS_OK) {
		if (subject != stack)
			mqs_free(subject);
		return MQS_ERR_NOMEM;
	}
	b->members = members;
	b->members[b->nmembers].d = d;
	b->members[b->nmembers].t = subject_tree(s, subject, sl);
	if (subject != stack)
		mqs_free(subject);
	b->nmembers++;
	s->nmembers++;
	return MQS_OK;
}

/* qsort: by subject, then filter level by level. */
static int rule_cmp(const void *x, const void *y)
{
	const struct rule_row *a = x;
	const struct rule_row *b = y;
	int c = strcmp(a->subject, b->subject);

	return c != 0 ? c : mqs_rules_filter_cmp(a->filter, b->filter);
}

/* Merge the sorted runs src[lo, mid) and src[mid, hi) into dst[lo, hi). */
static void merge_runs(const struct rule_row *src, struct rule_row *dst, size_t lo, size_t mid,
                       size_t hi)
{
	size_t i = lo, j = mid, k = lo;

	while (i < mid && j < hi)
		dst[k++] = rule_cmp(&src[j], &src[i]) < 0 ? src[j++] : src[i++];
	while (i < mid)
		dst[k++] = src[i++];
	while (j < hi)
		dst[k++] = src[j++];
}

/* Sort the rules a slice at a time: runs of SORT_RUN rows with qsort, then
 * bottom-up merge passes between rows and tmp, one pair of runs at a time
 * (the last merge, of all rows, takes a few ms for 100,000 rules). */
static int sort_slice(struct mqsp_build *b, double deadline)
{
	if (b->tmp == NULL && b->nrows > SORT_RUN) {
		b->tmp = mqs_malloc(b->nrows * sizeof(*b->tmp));
		if (b->tmp == NULL)
			return MQS_ERR_NOMEM;
	}
	while (mqsp_mono_ms() < deadline) {
		if (b->width == 0) {
			/* first pass: sort the runs in place */
			size_t hi = b->pos + SORT_RUN < b->nrows ? b->pos + SORT_RUN : b->nrows;

			if (b->pos < b->nrows)
				qsort(b->rows + b->pos, hi - b->pos, sizeof(*b->rows), rule_cmp);
			b->pos = hi;
			if (b->pos >= b->nrows) {
				b->width = SORT_RUN;
				b->pos = 0;
			}
		} else if (b->width >= b->nrows) {
			b->phase = PH_TREES;
			return MQS_OK;
		} else {
			size_t lo = b->pos;
			size_t mid = lo + b->width < b->nrows ? lo + b->width : b->nrows;
			size_t hi = mid + b->width < b->nrows ? mid + b->width : b->nrows;
			struct rule_row *swap;

			merge_runs(b->rows, b->tmp, lo, mid, hi);
			b->pos = hi;
			if (b->pos >= b->nrows) {
				/* pass done: the merged rows become the input */
				swap = b->rows;
				b->rows = b->tmp;
				b->tmp = swap;
				b->width *= 2;
				b->pos = 0;
			}
		}
	}
	return MQS_OK;
}

/* Finish the tree of the subject built last; a broken subject's tree
 * denies everything. */
static int subject_finish(struct mqsp_build *b)
{
	if (b->cur == NULL)
		return MQS_OK;
	if (b->cur->broken) {
		mqs_rules_tree_deny_all(b->cur->tree);
		b->s->closed_subjects++;
	}
	return mqs_rules_tree_finish(b->cur->tree, &b->s->arena);
}

/* Add one sorted rule to its subject's tree.  A rule that cannot be used
 * never fails the view: an allow rule is left out (it only grants less), a
 * deny rule denies its subject everything (fail closed for that device, or
 * every member of that group, only). */
static int tree_rule(struct mqsp_build *b, const struct rule_row *row)
{
	struct mqsp_snapshot *s = b->s;
	int rc;

	if (b->cur == NULL || strcmp(b->cur->name, row->subject) != 0) {
		if (subject_finish(b) != MQS_OK)
			return MQS_ERR_NOMEM;
		b->cur = mqs_arena_alloc(&s->arena, sizeof(*b->cur));
		if (b->cur == NULL)
			return MQS_ERR_NOMEM;
		b->cur->name = row->subject;
		b->cur->tree = mqs_rules_tree_new(&s->arena);
		if (b->cur->tree == NULL)
			return MQS_ERR_NOMEM;
		HASH_ADD_KEYPTR(hh, s->subjects, b->cur->name, strlen(b->cur->name), b->cur);
		if (!mqs_uthash_added(b->cur, hh)) {
			b->cur = NULL; /* in the arena, not in the table: the build is dropped */
			return MQS_ERR_NOMEM;
		}
	}
	rc = mqs_rules_tree_add(b->cur->tree, &s->arena, row->filter, row->access, row->deny,
	                        row->priority);
	if (rc == MQS_ERR_NOMEM)
		return rc;
	if (rc != MQS_OK) {
		const char *why = mqs_rules_problem(row->filter, row->access);

		if (why == NULL)
			why = "cannot be added";
		s->bad_rules++;
		if (row->deny) {
			b->cur->broken = 1;
			problem(s, "deny acl rule", row->id, row->subject, why,
			        "its subject is denied everything until it is fixed or removed");
		} else {
			problem(s, "allow acl rule", row->id, row->subject, why, "left out");
		}
	} else {
		s->nrules++;
	}
	return MQS_OK;
}

/* Give every device its own tree, then its groups' trees. */
static int link_devices(struct mqsp_build *b)
{
	struct mqsp_snapshot *s = b->s;
	struct mqsp_device *d, *tmp;

	for (size_t i = 0; i < b->nmembers; i++)
		b->members[i].d->ntrees++;
	HASH_ITER(hh, s->devices, d, tmp)
	{
		const struct mqs_rules_tree *own = subject_tree(s, d->name, strlen(d->name));

		d->trees = mqs_arena_alloc(&s->arena, (d->ntrees + 1) * sizeof(*d->trees));
		if (d->trees == NULL)
			return MQS_ERR_NOMEM;
		d->ntrees = 0;
		if (own != NULL)
			d->trees[d->ntrees++] = own;
	}
	for (size_t i = 0; i < b->nmembers; i++) {
		if (b->members[i].t != NULL)
			b->members[i].d->trees[b->members[i].d->ntrees++] = b->members[i].t;
	}
	HASH_ITER(hh, s->devices, d, tmp)
	{
		d->cacheable = 1;
		for (unsigned i = 0; i < d->ntrees; i++) {
			if (mqs_rules_tree_uses_clientid(d->trees[i]))
				d->cacheable = 0;
		}
	}
	return MQS_OK;
}

/* Prepare the statement of a reading phase. */
static int phase_prepare(struct mqsp_build *b)
{
	static const char *const sql[] = {
	    [PH_DEVICES] = "SELECT name, enabled, digits, period, algorithm, totp_wrapped, "
	                   "last_step, generation FROM devices",
	    [PH_LISTS] = "SELECT kind, match, pattern, expires_at, id FROM list_entries "
	                 "WHERE expires_at = 0 OR expires_at > ?1",
	    [PH_RULES] = "SELECT effect, access, subject, filter, priority, id FROM acl_rules",
	    [PH_MEMBERS] = "SELECT grp, member FROM group_members",
	};

	sqlite3_finalize(b->st);
	b->st = NULL;
	if (sqlite3_prepare_v2(b->db, sql[b->phase], -1, &b->st, NULL) != SQLITE_OK)
		return MQS_ERR_DB;
	if (b->phase == PH_LISTS)
		sqlite3_bind_int64(b->st, 1, b->now);
	return MQS_OK;
}

/* Step the rows of the current reading phase until done or out of time. */
static int phase_rows(struct mqsp_build *b, double deadline, int *done)
{
	int (*row)(struct mqsp_build *, sqlite3_stmt *) =
	    b->phase == PH_DEVICES
	        ? row_device
	        : (b->phase == PH_LISTS ? row_list
	                                : (b->phase == PH_RULES ? row_rule : row_member));
	int rc;

	*done = 0;
	if (b->st == NULL) {
		rc = phase_prepare(b);
		if (rc != MQS_OK)
			return rc;
	}
	for (unsigned n = 1;; n++) {
		int r = sqlite3_step(b->st);

		if (r == SQLITE_DONE) {
			*done = 1;
			sqlite3_finalize(b->st);
			b->st = NULL;
			return MQS_OK;
		}
		if (r != SQLITE_ROW)
			return MQS_ERR_DB;
		rc = row(b, b->st);
		if (rc != MQS_OK)
			return rc;
		if (n % CLOCK_EVERY == 0 && mqsp_mono_ms() >= deadline)
			return MQS_OK;
	}
}

/* Start a build. */
int mqsp_build_start(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], int64_t now,
                     struct mqsp_build **out)
{
	struct mqsp_build *b = mqs_calloc(1, sizeof(*b));

	*out = NULL;
	if (b == NULL)
		return MQS_ERR_NOMEM;
	b->s = mqs_calloc(1, sizeof(*b->s));
	if (b->s == NULL) {
		mqs_free(b);
		return MQS_ERR_NOMEM;
	}
	mqs_arena_init(&b->s->arena);
	mqs_list_init(&b->s->deny);
	mqs_list_init(&b->s->allow);
	b->db = db;
	b->mk = mk;
	b->now = now;
	b->phase = PH_BEGIN;
	b->started = mqsp_mono_ms();
	*out = b;
	return MQS_OK;
}

/* Work on a build for about budget_ms. */
int mqsp_build_step(struct mqsp_build *b, double budget_ms, struct mqsp_snapshot **out, char *err,
                    size_t errlen)
{
	double t0 = mqsp_mono_ms();
	double deadline = t0 + budget_ms;
	int rc = MQS_OK;
	int done;

	*out = NULL;
	while (rc == MQS_OK && b->phase != PH_DONE && mqsp_mono_ms() < deadline) {
		switch (b->phase) {
		case PH_BEGIN:
			/* one read transaction: the view never mixes two commits */
			if (sqlite3_exec(b->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
				rc = MQS_ERR_DB;
				break;
			}
			b->in_txn = 1;
			b->phase = PH_DEVICES;
			break;
		case PH_DEVICES:
		case PH_LISTS:
		case PH_RULES:
		case PH_MEMBERS:
			rc = phase_rows(b, deadline, &done);
			if (rc == MQS_OK && done)
				b->phase++;
			break;
		case PH_SORT:
			rc = sort_slice(b, deadline);
			break;
		case PH_TREES:
			for (unsigned n = 1; rc == MQS_OK && b->next_row < b->nrows; n++) {
				rc = tree_rule(b, &b->rows[b->next_row++]);
				if (n % CLOCK_EVERY == 0 && mqsp_mono_ms() >= deadline)
					break;
			}
			if (rc == MQS_OK && b->next_row == b->nrows) {
				if (subject_finish(b) != MQS_OK)
					rc = MQS_ERR_NOMEM;
				b->phase = PH_MEMBERS;
			}
			break;
		case PH_KEYS:
			/* protected topics and keys (keys.c), sliced: one unwrap per
			 * device key */
			if (b->keys == NULL)
				rc = mqsp_keys_load_start(b->db, b->mk, b->now, &b->keys);
			if (rc == MQS_OK)
				rc = mqsp_keys_load_step(b->keys, deadline, &b->s->keys);
			if (rc == MQSP_KEYS_AGAIN) {
				rc = MQS_OK; /* the same phase goes on in the next slice */
			} else if (rc == MQS_OK) {
				mqsp_keys_load_free(b->keys);
				b->keys = NULL;
				b->phase = PH_LINK;
			}
			break;
		case PH_LINK:
			rc = link_devices(b);
			if (rc == MQS_OK && b->in_txn) {
				sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL);
				b->in_txn = 0;
			}
			b->phase = PH_DONE;
			break;
		case PH_DONE:
			break;
		}
	}
	b->s->work_ms += mqsp_mono_ms() - t0;
	if (rc != MQS_OK) {
		if (err != NULL)
			snprintf(err, errlen, "cannot load %s: %s%s%s", phase_name[b->phase],
			         mqs_strerror(rc), rc == MQS_ERR_DB ? ": " : "",
			         rc == MQS_ERR_DB ? sqlite3_errmsg(b->db) : "");
		return rc;
	}
	if (b->phase != PH_DONE)
		return MQSP_BUILD_AGAIN;
	b->s->build_ms = mqsp_mono_ms() - b->started;
	*out = b->s;
	b->s = NULL;
	return MQS_OK;
}

/* Abandon or finish a build. */
void mqsp_build_free(struct mqsp_build *b)
{
	if (b == NULL)
		return;
	sqlite3_finalize(b->st);
	if (b->in_txn)
		sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL);
	mqs_free(b->rows);
	mqs_free(b->tmp);
	mqs_free(b->members);
	mqsp_keys_load_free(b->keys);
	mqsp_snapshot_free(b->s);
	mqs_free(b);
}

/* Build a snapshot in one go. */
int mqsp_snapshot_load(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], int64_t now,
                       struct mqsp_snapshot **out, char *err, size_t errlen)
{
	struct mqsp_build *b = NULL;
	int rc = mqsp_build_start(db, mk, now, &b);

	*out = NULL;
	if (rc != MQS_OK) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	do
		rc = mqsp_build_step(b, 1e9, out, err, errlen);
	while (rc == MQSP_BUILD_AGAIN);
	mqsp_build_free(b);
	return rc;
}

/* Find a device by name. */
struct mqsp_device *mqsp_snapshot_device(const struct mqsp_snapshot *s, const char *name)
{
	struct mqsp_device *d = NULL;

	if (s == NULL || name == NULL)
		return NULL;
	HASH_FIND(hh, s->devices, name, strlen(name), d);
	return d;
}

/* Wipe the secrets and free everything. */
void mqsp_snapshot_free(struct mqsp_snapshot *s)
{
	struct mqsp_device *d, *tmp;

	if (s == NULL)
		return;
	HASH_ITER(hh, s->devices, d, tmp)
	{
		OPENSSL_cleanse(d->secret, sizeof(d->secret));
		OPENSSL_cleanse(d->kconn, sizeof(d->kconn));
		mqs_free(d->cache);
	}
	HASH_CLEAR(hh, s->devices);
	HASH_CLEAR(hh, s->subjects);
	mqs_list_release(&s->deny);
	mqs_list_release(&s->allow);
	mqsp_keys_free(s->keys);
	mqs_arena_release(&s->arena);
	mqs_free(s);
}
