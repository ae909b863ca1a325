/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_revoke.c - holders that lost their read right rotate the filter (see
 * mqs_revoke.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqs_cidr.h"
#include "mqs_error.h"
#include "mqs_keyaccess.h"
#include "mqs_keyrotate.h"
#include "mqs_keystore.h"
#include "mqs_lists.h"
#include "mqs_revoke.h"

#define REVOKE_MAX (1u << 22) /* (holder, filter) pairs looked at per change */
#define IDS_MAX    128

/* one (holder, filter) pair, with the client id and address of one online
 * fetch of it (NULL: an export, or not recorded) */
struct holder {
	char *name;
	char *filter;
	char *cid;
	char *addr;
	int lost;
};

/* the list entries that tie a fetch's client id or address to the lists */
struct fetch_lists {
	struct mqs_list deny;  /* administrators' deny entries by client id or ip */
	struct mqs_list allow; /* every allow entry */
	int allowlist;         /* the allow list is on */
};

/* The name of the max-th holder (by name) after `after` into *upto
 * (malloc'd), NULL when fewer remain. */
static int slice_end(sqlite3 *db, const char *after, unsigned max, char **upto)
{
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_DB, step;

	*upto = NULL;
	if (sqlite3_prepare_v2(db,
	                       "SELECT DISTINCT username FROM key_grants WHERE username > ?1 "
	                       "ORDER BY username LIMIT 1 OFFSET ?2",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max - 1);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		const char *u = (const char *)sqlite3_column_text(st, 0);

		rc = MQS_ERR_NOMEM;
		*upto = strdup(u != NULL ? u : "");
		if (*upto == NULL)
			goto out;
	} else if (step != SQLITE_DONE) {
		goto out;
	}
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Load every holder of a filter's current keys (sorted by holder) whose
 * name sorts after `after` (NULL: from the first) and not after upto
 * (NULL: to the last). */
static int holders_load(sqlite3 *db, int64_t now, const char *after, const char *upto,
                        struct holder **out, size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct holder *h = NULL;
	size_t cap = 0;
	int rc = MQS_OK;

	*n = 0;
	/* holders of a filter's current key (active or announced), and of
	 * the key that seals now: during an announce period that is a retired
	 * key in its grace (as the plugin picks it, broker-plugin/keys.c) */
#define HOLDERS_SQL                                                                                \
	"SELECT DISTINCT g.username, g.filter, g.clientid, g.address FROM key_grants g JOIN keys " \
	"k ON k.id = g.key_id "                                                                    \
	"JOIN protected_topics p ON p.filter = g.filter WHERE p.per_device = 0 AND (k.state = "    \
	"'active' OR k.id = (SELECT max(id) FROM keys WHERE purpose = 'topic' AND owner = "        \
	"g.filter AND seal_after <= ?1 AND (state = 'active' OR retire_after >= ?1)))"
	/* a slice: a range of key_grants' primary key (username first) */
	if (sqlite3_prepare_v2(db,
	                       after == NULL && upto == NULL ? HOLDERS_SQL " ORDER BY g.username"
	                                                     : HOLDERS_SQL
	                           " AND g.username > ?2 AND (?3 IS NULL OR "
	                           "g.username <= ?3) ORDER BY g.username",
	                       -1, &st, NULL) != SQLITE_OK) {
		rc = MQS_ERR_DB;
		goto out;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	sqlite3_bind_text(st, 2, after != NULL ? after : "", -1, SQLITE_STATIC);
	if (upto != NULL)
		sqlite3_bind_text(st, 3, upto, -1, SQLITE_STATIC);
	for (;;) {
		int step = sqlite3_step(st);
		const char *u, *f;

		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = MQS_ERR_DB;
			break;
		}
		rc = mqs_array_reserve((void **)&h, &cap, *n + 1, sizeof(*h), REVOKE_MAX, 0);
		if (rc != MQS_OK)
			break;
		u = (const char *)sqlite3_column_text(st, 0);
		f = (const char *)sqlite3_column_text(st, 1);
		h[*n].name = mqs_strdup(u != NULL ? u : "");
		h[*n].filter = mqs_strdup(f != NULL ? f : "");
		h[*n].cid = NULL;
		h[*n].addr = NULL;
		h[*n].lost = 0;
		(*n)++;
		u = (const char *)sqlite3_column_text(st, 2);
		if (u != NULL)
			h[*n - 1].cid = mqs_strdup(u);
		f = (const char *)sqlite3_column_text(st, 3);
		if (f != NULL)
			h[*n - 1].addr = mqs_strdup(f);
		if (h[*n - 1].name == NULL || h[*n - 1].filter == NULL ||
		    (sqlite3_column_type(st, 2) != SQLITE_NULL && h[*n - 1].cid == NULL) ||
		    (sqlite3_column_type(st, 3) != SQLITE_NULL && h[*n - 1].addr == NULL)) {
			rc = MQS_ERR_NOMEM;
			break;
		}
	}
out:
	if (rc == MQS_ERR_DB)
		snprintf(err, errlen, "cannot read key grants: %s", sqlite3_errmsg(db));
	else if (rc != MQS_OK)
		snprintf(err, errlen, "cannot read key grants: %s", mqs_strerror(rc));
	sqlite3_finalize(st);
	*out = h;
	return rc;
}

/* Forget name's grants of filter. */
static int grants_drop(sqlite3 *db, const char *name, const char *filter)
{
	sqlite3_stmt *st = NULL;
	int ok;

	if (sqlite3_prepare_v2(db, "DELETE FROM key_grants WHERE username = ?1 AND filter = ?2", -1,
	                       &st, NULL) != SQLITE_OK)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, filter, -1, SQLITE_STATIC);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	return ok ? MQS_OK : MQS_ERR_DB;
}

/* Rotate filter now, with its own audit row. */
static int rotate_now(sqlite3 *db, const uint8_t *mk, int64_t now, int64_t retire_after,
                      const char *who, const char *filter, const char *holder, size_t nlost,
                      char *err, size_t errlen)
{
	struct mqs_key k;
	sqlite3_stmt *st = NULL;
	char ids[IDS_MAX], detail[1024];
	int n = 0;
	int rc;

	mqs_key_init(&k);
	if (mk == NULL) {
		rc = MQS_ERR_NOENT;
		snprintf(err, errlen, "cannot rotate the key of %.300s: no master key", filter);
		goto out;
	}
	rc = mqs_keystore_rotate(db, mk, filter, retire_after, 0, &k, ids, sizeof(ids), &n);
	if (rc != MQS_OK) {
		if (rc == MQS_ERR_DB)
			snprintf(err, errlen, "cannot rotate topic key: %s", sqlite3_errmsg(db));
		else
			snprintf(err, errlen, "cannot rotate the key of %.300s: %s", filter,
			         mqs_strerror(rc));
		goto out;
	}
	snprintf(detail, sizeof(detail),
	         "filter=%.300s key=%lu retired=%s grace=%lld lost=%zu reason=revoke holder=%.64s",
	         filter, (unsigned long)k.id, n > 0 ? ids : "-", (long long)(retire_after - now),
	         nlost, holder);
	rc = MQS_ERR_DB;
	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO audit (at, who, action, detail) VALUES (?1, ?2, "
	                       "'key rotate', ?3)",
	                       -1, &st, NULL) != SQLITE_OK)
		goto dberr;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	sqlite3_bind_text(st, 2, who, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, detail, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto dberr;
	rc = MQS_OK;
	goto out;
dberr:
	snprintf(err, errlen, "cannot write audit row: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	mqs_key_release(&k);
	return rc;
}

/* Load the unexpired list entries at now into l (docs/payload-encryption.md,
 * "Revoking rotates"). */
static int lists_load(sqlite3 *db, int64_t now, struct fetch_lists *l, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_DB;

	if (sqlite3_prepare_v2(db,
	                       "SELECT coalesce((SELECT value FROM settings WHERE name = "
	                       "'allowlist'), 'off') = 'on'",
	                       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto dberr;
	l->allowlist = sqlite3_column_int(st, 0) != 0;
	sqlite3_finalize(st);
	st = NULL;
	/* the plugin's automatic bans are temporary lockouts, not revocations;
	 * username deny entries are the read rule's (lib/mqs_keyaccess.c) */
	if (sqlite3_prepare_v2(db,
	                       "SELECT kind, match, pattern, expires_at FROM list_entries WHERE "
	                       "(expires_at = 0 OR expires_at > ?1) AND (kind = 'allow' OR (match "
	                       "IN ('clientid', 'ip') AND created_by <> 'mqttsec-plugin'))",
	                       -1, &st, NULL) != SQLITE_OK)
		goto dberr;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	for (;;) {
		int step = sqlite3_step(st);
		const char *kind, *match, *pattern;
		enum mqs_match m;
		int deny, e, anyone = 0;

		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW)
			goto dberr;
		kind = (const char *)sqlite3_column_text(st, 0);
		match = (const char *)sqlite3_column_text(st, 1);
		pattern = (const char *)sqlite3_column_text(st, 2);
		deny = kind != NULL && strcmp(kind, "deny") == 0;
		if (match == NULL || pattern == NULL || mqs_match_parse(match, &m) != MQS_OK)
			e = MQS_ERR_PARSE;
		else
			e = mqs_list_add(deny ? &l->deny : &l->allow, m, pattern,
			                 sqlite3_column_int64(st, 3));
		if (e == MQS_ERR_NOMEM) {
			rc = MQS_ERR_NOMEM;
			snprintf(err, errlen, "cannot read the lists: out of memory");
			goto out;
		}
		/* a deny entry that cannot be used but could match anyone: fail
		 * closed (an allow entry that cannot be used admits nobody) */
		if (e != MQS_OK && deny &&
		    (match == NULL || pattern == NULL ||
		     (mqs_list_entry_problem(match, pattern, &anyone) != NULL && anyone)))
			mqs_list_match_all(&l->deny);
	}
	rc = MQS_OK;
	goto out;
dberr:
	snprintf(err, errlen, "cannot read the lists: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	return rc;
}

/* 1 when the lists at now keep out the recorded fetch of h: a deny entry
 * matches its client id or address, or, with the allow list on, no allow
 * entry matches its client id, address or username.  0 for a grant with
 * neither recorded (an export: the read rule alone decides). */
static int fetch_kept_out(const struct fetch_lists *l, const struct holder *h, int64_t now)
{
	uint8_t addr[16];
	const uint8_t *a = NULL;

	if (h->cid == NULL && h->addr == NULL)
		return 0;
	if (h->addr != NULL && mqs_ip_parse(h->addr, addr) == MQS_OK)
		a = addr;
	if (mqs_list_match(&l->deny, h->cid, NULL, a, now))
		return 1;
	return l->allowlist && !mqs_list_match(&l->allow, h->cid, h->name, a, now);
}

/* qsort: by filter, then holder. */
static int by_filter(const void *x, const void *y)
{
	const struct holder *a = x;
	const struct holder *b = y;
	int c = strcmp(a->filter, b->filter);

	return c != 0 ? c : strcmp(a->name, b->name);
}

/* Evaluate h[0..n) (one holder's filters) at once; mark the lost ones and
 * drop their grants. */
static int holder_check(sqlite3 *db, int64_t now, const struct fetch_lists *l, struct holder *h,
                        size_t n, char *err, size_t errlen)
{
	const char **filters = mqs_malloc(n * sizeof(*filters));
	int *ok = mqs_malloc(n * sizeof(*ok));
	int rc = MQS_ERR_NOMEM;

	if (filters == NULL || ok == NULL) {
		snprintf(err, errlen, "cannot check key holders: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		filters[i] = h[i].filter;
	rc = mqs_keyaccess_read_covers_many(db, h[0].name, filters, n, now, ok, err, errlen);
	if (rc == MQS_ERR_INVAL) /* a deny rule it cannot evaluate: fail closed */
		rc = MQS_OK;
	for (size_t i = 0; i < n && rc == MQS_OK; i++) {
		if (ok[i] && !fetch_kept_out(l, &h[i], now))
			continue;
		h[i].lost = 1;
		rc = grants_drop(db, h[i].name, h[i].filter);
		if (rc != MQS_OK)
			snprintf(err, errlen, "cannot forget key grants: %s", sqlite3_errmsg(db));
	}
out:
	mqs_free(filters);
	mqs_free(ok);
	return rc;
}

/* The rule over the holders after `after` (NULL: from the first), at most
 * max of them (0: all); *next (may be NULL) gets the last one looked at,
 * NULL when none remain. */
static int revoke_run(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], int64_t now,
                      int64_t retire_after, const char *who, const char *after, unsigned max,
                      char **next, unsigned *nrotated, char *err, size_t errlen)
{
	/* every holder is looked at (in one go, or slice after slice): a cap
	 * would let a revoked holder past the first ones keep reading what
	 * comes next */
	struct holder *h = NULL;
	struct fetch_lists lists;
	char *upto = NULL;
	size_t n = 0;
	unsigned rotated = 0;
	int rc = MQS_OK;

	err[0] = '\0';
	memset(&lists, 0, sizeof(lists));
	mqs_list_init(&lists.deny);
	mqs_list_init(&lists.allow);
	if (next != NULL)
		*next = NULL;
	if (max > 0) {
		rc = slice_end(db, after != NULL ? after : "", max, &upto);
		if (rc == MQS_ERR_DB)
			snprintf(err, errlen, "cannot read key grants: %s", sqlite3_errmsg(db));
		else if (rc != MQS_OK)
			snprintf(err, errlen, "cannot read key grants: %s", mqs_strerror(rc));
	}
	if (rc == MQS_OK)
		rc = holders_load(db, now, after, upto, &h, &n, err, errlen);
	/* the entries are read only for a slice holding a recorded fetch */
	for (size_t i = 0; i < n && rc == MQS_OK; i++) {
		if (h[i].cid == NULL && h[i].addr == NULL)
			continue;
		rc = lists_load(db, now, &lists, err, errlen);
		break;
	}
	/* each holder's device, lists and rules read once for all its filters */
	for (size_t i = 0; i < n && rc == MQS_OK;) {
		size_t j = i;

		while (j < n && strcmp(h[j].name, h[i].name) == 0)
			j++;
		rc = holder_check(db, now, &lists, h + i, j - i, err, errlen);
		i = j;
	}
	if (n > 1)
		qsort(h, n, sizeof(*h), by_filter);
	/* one rotation per filter, however many holders lost it (sorted) */
	for (size_t i = 0; i < n && rc == MQS_OK;) {
		size_t j = i, nlost = 0;
		const char *first = NULL, *last = NULL;

		/* a holder counts once, however many fetches it has rows for
		 * (sorted by holder within the filter) */
		for (; j < n && strcmp(h[j].filter, h[i].filter) == 0; j++) {
			if (!h[j].lost || (last != NULL && strcmp(last, h[j].name) == 0))
				continue;
			if (nlost++ == 0)
				first = h[j].name;
			last = h[j].name;
		}
		if (nlost > 0) {
			rc = rotate_now(db, mk, now, retire_after, who, h[i].filter, first, nlost,
			                err, errlen);
			rotated += rc == MQS_OK;
		}
		i = j;
	}
	for (size_t i = 0; i < n; i++) {
		mqs_free(h[i].name);
		mqs_free(h[i].filter);
		mqs_free(h[i].cid);
		mqs_free(h[i].addr);
	}
	mqs_free(h);
	mqs_list_release(&lists.deny);
	mqs_list_release(&lists.allow);
	if (rc == MQS_OK && next != NULL) {
		*next = upto; /* the next slice starts after it */
		upto = NULL;
	}
	mqs_free(upto);
	if (nrotated != NULL)
		*nrotated = rotated;
	return rc;
}

/* The rule of mqs_revoke.h. */
int mqs_revoke_check(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], int64_t now,
                     int64_t retire_after, const char *who, unsigned *nrotated, char *err,
                     size_t errlen)
{
	return revoke_run(db, mk, now, retire_after, who, NULL, 0, NULL, nrotated, err, errlen);
}

/* The rule of mqs_revoke.h over one slice of holders. */
int mqs_revoke_check_slice(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], int64_t now,
                           int64_t retire_after, const char *who, const char *after, unsigned max,
                           char **next, unsigned *nrotated, char *err, size_t errlen)
{
	return revoke_run(db, mk, now, retire_after, who, after, max > 0 ? max : 1, next, nrotated,
	                  err, errlen);
}
