/* SPDX-License-Identifier: BSD-3-Clause */
/* bench-plugin-mkdb.c - fill a broker database for bench/bench-plugin.sh:
 * NDEV devices (TOTP secrets wrapped under the master key, as mqttsec-acl
 * does), NRULES ACL rules and NENTRIES deny-list entries, all in one
 * transaction (mqttsec-acl would take minutes for 10,000 devices).
 *
 *   bench-plugin-mkdb DB MASTER_KEY CREDS_OUT NDEV NRULES NENTRIES [PERIOD]
 *
 * PERIOD (default 30) is the TOTP step of every device: a short one lets
 * the benchmark log the same devices in again a few seconds later.
 * CREDS_OUT gets one line per device, "NAME totp:HEXSECRET:PERIOD", the format
 * bench-plugin-load reads.  Extra devices come first: bench-pub0..7 (group
 * benchpub: may publish to bench/#), bench-sub0..7 (group benchsub: may
 * subscribe to and read bench/#) and bench-aux0..7 (no rules); each can log
 * in once per 30 s time step.  Every device is in group "fleet"; half of the
 * rules belong
 * to @fleet and sit under bench/ (so the benchmark topic walks a populated
 * tree), the rest are per device.  The deny entries (client ids, usernames,
 * IPv4 and IPv6 networks) never match loopback clients.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/rand.h>
#include <sqlite3.h>

#include "mqs_db.h"
#include "mqs_error.h"
#include "mqs_master_key.h"
#include "mqs_totp.h"

#define EXTRA_EACH 8
#define EXTRA      (3 * EXTRA_EACH)

static const char *const extra_kind[] = {"pub", "sub", "aux"};
static sqlite3 *db;

static void fail(const char *what)
{
	fprintf(stderr, "bench-plugin-mkdb: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
	exit(1);
}

static sqlite3_stmt *prep(const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail(sql);
	return st;
}

static void run(sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		fail("insert");
	sqlite3_reset(st);
}

static void rule(sqlite3_stmt *st, const char *effect, const char *access, const char *subject,
                 const char *filter, int prio)
{
	sqlite3_bind_text(st, 1, effect, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, access, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, subject, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, filter, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 5, prio);
	run(st);
}

int main(int argc, char **argv)
{
	uint8_t mk[MQS_MASTER_KEY_LEN];
	sqlite3_stmt *dev, *mem, *acl, *ent;
	FILE *out;
	long ndev, nrules, nentries, period, made = 0;
	char err[256], name[64], aad[96], filter[128];
	time_t now = time(NULL);

	if (argc != 7 && argc != 8) {
		fprintf(stderr, "usage: bench-plugin-mkdb DB MASTER_KEY CREDS_OUT NDEV NRULES "
		                "NENTRIES [PERIOD]\n");
		return 64;
	}
	ndev = atol(argv[4]);
	nrules = atol(argv[5]);
	nentries = atol(argv[6]);
	period = argc == 8 ? atol(argv[7]) : 30;
	if (period < 1 || period > 3600) {
		fprintf(stderr, "bench-plugin-mkdb: bad PERIOD\n");
		return 64;
	}
	if (mqs_master_key_create(argv[2]) != MQS_OK && mqs_master_key_load(argv[2], mk) != MQS_OK)
		fail("master key");
	if (mqs_master_key_load(argv[2], mk) != MQS_OK)
		fail("master key");
	if (mqs_db_open(argv[1], MQS_DB_CREATE, mqs_broker_schema, mqs_broker_schema_count, &db,
	                err, sizeof(err)) != MQS_OK) {
		fprintf(stderr, "bench-plugin-mkdb: %s\n", err);
		return 1;
	}
	out = fopen(argv[3], "w");
	if (out == NULL)
		fail(argv[3]);
	chmod(argv[3], 0600);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	sqlite3_exec(db,
	             "INSERT OR IGNORE INTO groups (name) VALUES ('fleet'), ('benchpub'), "
	             "('benchsub')",
	             NULL, NULL, NULL);
	dev = prep("INSERT INTO devices (name, totp_wrapped, created_at, period) "
	           "VALUES (?1, ?2, ?3, ?4)");
	mem = prep("INSERT INTO group_members (grp, member) VALUES (?1, ?2)");
	acl = prep("INSERT INTO acl_rules (effect, access, subject, filter, priority, created_at) "
	           "VALUES (?1, ?2, ?3, ?4, ?5, 0)");
	ent = prep("INSERT INTO list_entries (kind, match, pattern, created_at, created_by) "
	           "VALUES ('deny', ?1, ?2, 0, 'bench')");
	for (long i = -EXTRA; i < ndev; i++) {
		uint8_t secret[MQS_TOTP_SECRET_LEN],
		    wrapped[MQS_TOTP_SECRET_LEN + MQS_WRAP_OVERHEAD];
		size_t wlen;

		if (i < 0)
			snprintf(name, sizeof(name), "bench-%s%ld",
			         extra_kind[(-i - 1) / EXTRA_EACH], (-i - 1) % EXTRA_EACH);
		else
			snprintf(name, sizeof(name), "dev%05ld", i);
		snprintf(aad, sizeof(aad), "mqttsec-totp:%s", name);
		if (RAND_bytes(secret, sizeof(secret)) != 1 ||
		    mqs_wrap_seal(mk, aad, secret, sizeof(secret), wrapped, sizeof(wrapped),
		                  &wlen) != MQS_OK)
			fail("wrap");
		sqlite3_bind_text(dev, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_blob(dev, 2, wrapped, (int)wlen, SQLITE_TRANSIENT);
		sqlite3_bind_int64(dev, 3, now);
		sqlite3_bind_int64(dev, 4, period);
		run(dev);
		sqlite3_bind_text(mem, 1, "fleet", -1, SQLITE_STATIC);
		sqlite3_bind_text(mem, 2, name, -1, SQLITE_TRANSIENT);
		run(mem);
		if (strncmp(name, "bench-pub", 9) == 0 || strncmp(name, "bench-sub", 9) == 0) {
			sqlite3_bind_text(mem, 1, name[6] == 'p' ? "benchpub" : "benchsub", -1,
			                  SQLITE_STATIC);
			sqlite3_bind_text(mem, 2, name, -1, SQLITE_TRANSIENT);
			run(mem);
		}
		fprintf(out, "%s totp:", name);
		for (size_t b = 0; b < sizeof(secret); b++)
			fprintf(out, "%02x", secret[b]);
		fprintf(out, ":%ld\n", period);
	}
	rule(acl, "allow", "pub", "@benchpub", "bench/#", 0);
	rule(acl, "allow", "sub", "@benchsub", "bench/#", 0);
	rule(acl, "allow", "read", "@benchsub", "bench/#", 0);
	made = 3;
	/* half on @fleet, under bench/ */
	for (long i = 0; made < nrules / 2; i++, made++) {
		static const char *const tails[] = {"data", "status", "+", "#", "cmd/+"};

		snprintf(filter, sizeof(filter), "bench/site%ld/dev%05ld/%s", i % 100,
		         i % (ndev > 0 ? ndev : 1), tails[i % 5]);
		/* below the bench devices' own rules (priority 0) */
		rule(acl, i % 11 == 0 ? "deny" : "allow", i % 2 ? "read" : "pub", "@fleet", filter,
		     (int)(-1 - i % 3));
	}
	/* the rest per device */
	for (long i = 0; made < nrules; i++, made++) {
		long d = ndev > 0 ? i % ndev : 0;

		snprintf(name, sizeof(name), "dev%05ld", d);
		snprintf(filter, sizeof(filter), "devices/%s/%ld/#", name,
		         i / (ndev > 0 ? ndev : 1));
		rule(acl, "allow", "all", name, filter, 0);
	}
	for (long i = 0; i < nentries; i++) {
		const char *match = "ip";

		switch (i % 4) {
		case 0:
			match = "clientid";
			snprintf(filter, sizeof(filter), "blocked-client-%ld", i);
			break;
		case 1:
			match = "username";
			snprintf(filter, sizeof(filter), "blocked-user-%ld", i);
			break;
		case 2:
			snprintf(filter, sizeof(filter), "10.%ld.%ld.0/24", (i >> 8) & 255,
			         i & 255);
			break;
		default:
			snprintf(filter, sizeof(filter), "2001:db8:%lx::/48", i);
			break;
		}
		sqlite3_bind_text(ent, 1, match, -1, SQLITE_STATIC);
		sqlite3_bind_text(ent, 2, filter, -1, SQLITE_TRANSIENT);
		run(ent);
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		fail("commit");
	sqlite3_finalize(dev);
	sqlite3_finalize(mem);
	sqlite3_finalize(acl);
	sqlite3_finalize(ent);
	sqlite3_close_v2(db);
	fclose(out);
	printf("devices=%ld rules=%ld entries=%ld\n", ndev + EXTRA, made, nentries);
	return 0;
}
