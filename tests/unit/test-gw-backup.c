/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-backup.c - gateway restore checks before anything is touched
 * (gw_backup.h, docs/backup.md): a backup whose database is newer than this
 * build is refused with nothing changed (no database, no master key, no
 * KEY.new); a good one onto a fresh directory creates the database 0600
 * whatever the umask and leaves no KEY.new. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "gw_backup.h"
#include "mqs_backup.h"
#include "mqs_error.h"
#include "tap.h"

static char dir[] = "/tmp/test-gw-backup.XXXXXX";

/* Write a gateway backup of a database at user_version version to out. */
static int make_backup(const char *out, const char *key, int version)
{
	uint8_t xpriv[32], xpub[32], epriv[32], epub[32], mk[32];
	char src[4096], sql[64];
	sqlite3 *db = NULL;
	int rc = MQS_ERR_DB;

	memset(mk, 7, sizeof(mk));
	snprintf(src, sizeof(src), "%s/src.db", dir);
	unlink(src);
	if (sqlite3_open(src, &db) != SQLITE_OK)
		goto out;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
	if (version > 0 && sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	rc = mqs_backup_x25519_keygen(xpriv, xpub);
	if (rc == MQS_OK)
		rc = mqs_backup_ed25519_keygen(epriv, epub);
	if (rc == MQS_OK)
		rc = mqs_backup_recovery_write(key, xpriv, epub);
	if (rc == MQS_OK)
		rc = mqs_backup_file_write(out, MQS_BACKUP_KIND_GATEWAY, 1700000000, "box-1", xpub,
		                           epriv, mk, sizeof(mk), db, NULL, NULL);
out:
	sqlite3_close(db);
	return rc;
}

int main(void)
{
	char bak[4096], key[4096], live[4096], mkp[4096], staged[4096], err[600];
	struct gw_backup_info info;
	struct stat sb;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(bak, sizeof(bak), "%s/new.mqsbak", dir);
	snprintf(key, sizeof(key), "%s/recovery.key", dir);
	snprintf(live, sizeof(live), "%s/gateway.db", dir);
	snprintf(mkp, sizeof(mkp), "%s/gateway.key", dir);
	snprintf(staged, sizeof(staged), "%s/gateway.key.new", dir);

	tap_is_int(make_backup(bak, key, 100000), MQS_OK, "a backup of a newer database");
	tap_ok(gw_backup_restore(live, mkp, bak, key, 1, &info, err, sizeof(err)) != MQS_OK,
	       "a newer database is refused, even with --force");
	tap_ok(strstr(err, "newer than this build") != NULL, "it says why: %s", err);
	tap_ok(stat(live, &sb) != 0, "no database created");
	tap_ok(stat(mkp, &sb) != 0 && stat(staged, &sb) != 0, "no master key written");

	unlink(bak);
	unlink(key);
	unlink(live);
	snprintf(bak, sizeof(bak), "%s/old.mqsbak", dir);
	tap_is_int(make_backup(bak, key, 0), MQS_OK, "a backup of an old database");
	umask(0);
	err[0] = '\0';
	tap_is_int(gw_backup_restore(live, mkp, bak, key, 0, &info, err, sizeof(err)), MQS_OK,
	           "it restores onto a fresh directory (migrated in memory): %s", err);
	tap_ok(stat(live, &sb) == 0 && (sb.st_mode & 0777) == 0600,
	       "the database is 0600 (umask 0)");
	tap_ok(stat(mkp, &sb) == 0 && (sb.st_mode & 0777) == 0600, "the master key is 0600");
	tap_ok(stat(staged, &sb) != 0, "no KEY.new left behind");
	tap_ok(info.fresh && info.mk_changed, "fresh, master key written");
	tap_done();
	if (tap_exit() == 0 && snprintf(err, sizeof(err), "rm -rf '%s'", dir) < (int)sizeof(err) &&
	    system(err) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_exit();
}
