/* SPDX-License-Identifier: BSD-3-Clause */
/* test-cs-session.c - console sessions (docs/console.md "Sessions and
 * CSRF"): only a hash stored, idle and absolute limits, drop, flash. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_int.h"
#include "tap.h"

static long long count_rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int main(void)
{
	char dir[] = "/tmp/test-cs-session.XXXXXX", path[64], err[256];
	char sid[CS_SID_TEXT + 1], sid2[CS_SID_TEXT + 1], bad[CS_SID_TEXT + 1];
	struct cs_session s, s2;
	struct cs_user u;
	sqlite3 *db = NULL;
	const long long t0 = 1700000000, idle = 900, max = 12 * 3600;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/c.db", dir);
	tap_is_int(cs_db_open(path, &db, err, sizeof(err)), MQS_OK, "console db opened");
	memset(&u, 0, sizeof(u));
	snprintf(u.name, sizeof(u.name), "alice");
	u.role = CS_ROLE_ADMIN;
	snprintf(u.pw_hash, sizeof(u.pw_hash), "$argon2id$x");
	u.totp_wrapped = (uint8_t *)strdup("sealed");
	u.totp_wrapped_len = 6;
	tap_is_int(cs_db_user_add(db, &u, t0), MQS_OK, "user added");
	tap_is_int(cs_db_user_add(db, &u, t0), MQS_ERR_EXISTS, "the same name twice refused");
	tap_is_int(cs_session_create(db, u.id, t0, sid), MQS_OK, "session created");
	tap_is_int((long long)strlen(sid), CS_SID_TEXT, "id: 43 characters (256 bits)");
	tap_is_int(count_rows(db, "SELECT count(*) FROM sessions WHERE instr(id_hash, 'x') >= 0 "
	                          "AND length(id_hash) = 32"),
	           1, "the database holds a 32-byte hash");
	{
		char q[160];

		snprintf(q, sizeof(q),
		         "SELECT count(*) FROM sessions WHERE CAST(id_hash AS TEXT) = '%s'", sid);
		tap_is_int(count_rows(db, q), 0, "never the id itself");
	}
	tap_is_int(cs_session_find(db, sid, t0 + 60, idle, max, &s), MQS_OK, "found");
	tap_is_int(s.user_id, u.id, "its user");
	tap_is_int((long long)strlen(s.csrf), CS_CSRF_TEXT, "with a CSRF token");
	tap_is_int(cs_session_create(db, u.id, t0, sid2), MQS_OK, "a second session");
	tap_ok(strcmp(sid, sid2) != 0, "another id");
	tap_is_int(cs_session_find(db, sid2, t0 + 1, idle, max, &s2), MQS_OK, "found");
	tap_ok(strcmp(s.csrf, s2.csrf) != 0, "another CSRF token");
	memcpy(bad, sid, sizeof(bad));
	bad[0] = bad[0] == 'A' ? 'B' : 'A';
	tap_is_int(cs_session_find(db, bad, t0 + 60, idle, max, &s2), MQS_ERR_NOENT,
	           "a changed id is not found");
	tap_is_int(cs_session_find(db, "short", t0 + 60, idle, max, &s2), MQS_ERR_NOENT,
	           "a malformed id is not found");
	/* idle: last seen t0 + 60 */
	tap_is_int(cs_session_find(db, sid, t0 + 60 + idle - 1, idle, max, &s), MQS_OK,
	           "used within the idle limit");
	tap_is_int(cs_session_find(db, sid, t0 + 60 + 2 * idle - 1, idle, max, &s), MQS_ERR_NOENT,
	           "idle for 15 min: expired");
	tap_is_int(cs_session_find(db, sid, t0 + 60 + idle - 1, idle, max, &s), MQS_ERR_NOENT,
	           "and deleted");
	/* absolute: keep sid2 busy every 10 min until 12 h */
	{
		long long t = t0 + 1;
		int alive = 1;

		while (t + 600 < t0 + max && alive) {
			t += 600;
			alive = cs_session_find(db, sid2, t, idle, max, &s2) == MQS_OK;
		}
		tap_ok(alive, "a busy session lives until 12 h");
		tap_is_int(cs_session_find(db, sid2, t0 + max, idle, max, &s2), MQS_ERR_NOENT,
		           "at 12 h: expired however busy");
	}
	tap_is_int(cs_session_create(db, u.id, t0, sid), MQS_OK, "another session");
	tap_is_int(cs_session_find(db, sid, t0 + 1, idle, max, &s), MQS_OK, "found");
	cs_session_flash_set(db, s.id_hash, "done <b>", 1);
	tap_is_int(cs_session_find(db, sid, t0 + 2, idle, max, &s), MQS_OK, "found");
	tap_ok(strcmp(s.flash, "done <b>") == 0 && s.flash_ok, "flash stored");
	cs_session_flash_clear(db, s.id_hash);
	tap_is_int(cs_session_find(db, sid, t0 + 3, idle, max, &s), MQS_OK, "found");
	tap_ok(s.flash[0] == '\0', "flash cleared");
	cs_session_drop(db, s.id_hash);
	tap_is_int(cs_session_find(db, sid, t0 + 4, idle, max, &s), MQS_ERR_NOENT,
	           "signed out: gone");
	/* step-up (docs/console.md "Step-up") */
	tap_is_int(cs_session_create(db, u.id, t0, sid), MQS_OK, "another session");
	tap_is_int(cs_session_find(db, sid, t0 + 1, idle, max, &s), MQS_OK, "found");
	tap_ok(s.stepup_at == t0, "the sign-in counts as a step-up");
	tap_ok(cs_stepup_fresh(s.stepup_at, t0 + 299, 300), "fresh for 300 s");
	tap_ok(!cs_stepup_fresh(s.stepup_at, t0 + 300, 300), "not at 300 s");
	tap_ok(!cs_stepup_fresh(s.stepup_at, t0 - 1, 300), "not before it (clock set back)");
	tap_ok(!cs_stepup_fresh(0, 10, 300), "never stepped up: not fresh");
	tap_is_int(cs_session_stepup(db, s.id_hash, t0 + 400), MQS_OK, "step-up recorded");
	tap_is_int(cs_session_find(db, sid, t0 + 401, idle, max, &s), MQS_OK, "found");
	tap_ok(s.stepup_at == t0 + 400, "stored");
	tap_ok(cs_stepup_fresh(s.stepup_at, t0 + 401, 300), "fresh again");
	tap_is_int(cs_session_create(db, u.id, t0 + 402, sid2), MQS_OK, "a second session");
	/* a refused DELETE is reported, not taken for done */
	tap_is_int(sqlite3_exec(db,
	                        "CREATE TRIGGER keep BEFORE DELETE ON sessions BEGIN "
	                        "SELECT RAISE(ABORT, 'kept'); END",
	                        NULL, NULL, NULL),
	           SQLITE_OK, "sessions made undeletable");
	tap_is_int(cs_session_drop_others(db, u.id, s.id_hash), MQS_ERR_DB,
	           "a failed drop of the others is an error");
	tap_is_int(cs_session_find(db, sid2, t0 + 403, idle, max, &s2), MQS_OK,
	           "the other session is still there");
	tap_is_int(sqlite3_exec(db, "DROP TRIGGER keep", NULL, NULL, NULL), SQLITE_OK,
	           "sessions deletable again");
	tap_is_int(cs_session_drop_others(db, u.id, s.id_hash), MQS_OK, "the others dropped");
	tap_is_int(cs_session_find(db, sid2, t0 + 403, idle, max, &s2), MQS_ERR_NOENT,
	           "the other session ended");
	tap_is_int(cs_session_find(db, sid, t0 + 403, idle, max, &s), MQS_OK, "this one kept");
	cs_session_drop(db, s.id_hash);
	tap_is_int(cs_session_stepup(db, s.id_hash, t0 + 404), MQS_ERR_DB,
	           "no step-up for a session gone");
	tap_is_int(cs_session_create(db, u.id, t0, sid), MQS_OK, "another session");
	tap_is_int(cs_db_user_rm(db, "alice"), MQS_OK, "user removed");
	tap_is_int(cs_session_find(db, sid, t0 + 5, idle, max, &s), MQS_ERR_NOENT,
	           "a removed user's sessions are gone");
	cs_user_release(&u);
	sqlite3_close_v2(db);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		tap_diag("cannot remove %s", dir);
	tap_done();
	return tap_exit();
}
