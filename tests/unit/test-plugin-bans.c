/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-bans.c - failed-login counters and automatic bans of the
 * broker plugin (broker-plugin/bans.c): per-(username, address) bans,
 * username-wide bans from several addresses, NAT against spraying, the
 * progressive schedule with its cap and decay, bounded tables, and the
 * in-memory copy of database bans. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "bans.h"
#include "mqs_cidr.h"
#include "mqs_error.h"
#include "tap.h"

/* the defaults of docs/broker-plugin.md */
static struct mqsp_bans_cfg defaults(void)
{
	struct mqsp_bans_cfg c;

	memset(&c, 0, sizeof(c));
	c.max_user_failures = 5;
	c.user_addresses = 3;
	c.max_ip_failures = 50;
	c.max_ip_usernames = 20;
	c.window = 60;
	c.ban_seconds = 300;
	c.user_ban_seconds = 60;
	c.ban_max_seconds = 86400;
	c.user_ban_max = 3600;
	c.decay_seconds = 86400;
	c.table_max = 10000;
	return c;
}

/* A wrong code of a known device (counts for pair, username and address). */
static unsigned wrong(struct mqsp_bans *b, const char *user, const char *ip, int64_t now,
                      struct mqsp_ban_hit *h)
{
	return mqsp_bans_fail(b, user, ip, MQSP_COUNT_USER | MQSP_COUNT_IP, now, h);
}

/* An unknown username (counts for the address only). */
static unsigned unknown(struct mqsp_bans *b, const char *user, const char *ip, int64_t now)
{
	return mqsp_bans_fail(b, user, ip, MQSP_COUNT_IP, now, NULL);
}

/* Is user banned from ip (text) at now? */
static int banned(const struct mqsp_bans *b, const char *user, const char *ip, int64_t now)
{
	uint8_t addr[16];

	if (ip == NULL)
		return mqsp_bans_match(b, user, NULL, now);
	if (mqs_ip_parse(ip, addr) != MQS_OK)
		return -1;
	return mqsp_bans_match(b, user, addr, now);
}

/* n wrong codes of user from ip at now; the bits of the last one. */
static unsigned wrong_n(struct mqsp_bans *b, const char *user, const char *ip, int n, int64_t now,
                        struct mqsp_ban_hit *h)
{
	unsigned bits = 0;

	for (int i = 0; i < n; i++)
		bits = wrong(b, user, ip, now, h);
	return bits;
}

/* The attacker guesses alice's code from one address. */
static void test_pair(void)
{
	struct mqsp_bans_cfg cfg = defaults();
	struct mqsp_bans *b = mqsp_bans_new(&cfg);
	struct mqsp_ban_hit h;
	int64_t t = 1000;

	tap_ok(b != NULL, "bans table");
	tap_is_int(wrong_n(b, "alice", "10.0.0.2", 4, t, &h), 0, "4 wrong codes: no ban");
	tap_is_int(wrong(b, "alice", "10.0.0.2", t, &h), MQSP_BAN_PAIR,
	           "the 5th bans the pair only (no username-wide, no address ban)");
	tap_is_int(h.seconds[MQSP_HIT_PAIR], 300, "first pair ban: ban_seconds");
	tap_is_int(h.strike[MQSP_HIT_PAIR], 1, "first of this pair");
	tap_is_int(h.failures[MQSP_HIT_PAIR], 5, "after 5 failures");
	tap_is_int(banned(b, "alice", "10.0.0.2", t), 1, "alice refused from 10.0.0.2");
	tap_is_int(banned(b, "alice", "::ffff:10.0.0.2", t), 1,
	           "and from the same address written IPv4-mapped");
	tap_is_int(banned(b, "alice", "10.0.0.1", t), 0, "alice still welcome from 10.0.0.1");
	tap_is_int(banned(b, "alice", NULL, t), 0, "and from no known address");
	tap_is_int(banned(b, "bob", "10.0.0.2", t), 0, "bob still welcome from 10.0.0.2");
	tap_is_int(banned(b, "alice", "10.0.0.2", t + 299), 1, "banned until 300 s");
	tap_is_int(banned(b, "alice", "10.0.0.2", t + 300), 0, "lifted at 300 s");
	tap_is_int((long)mqsp_bans_pairs_active(b, t), 1, "one pair ban in force");
	tap_is_int((long)mqsp_bans_pairs_active(b, t + 300), 0, "none later");

	/* the sliding window: failures 16 s apart never make 5 in 60 s */
	mqsp_bans_free(b);
	b = mqsp_bans_new(&cfg);
	for (int i = 0; i < 100; i++) {
		if (wrong(b, "slow", "10.0.0.3", 5000 + i * 16, NULL) != 0) {
			tap_ok(0, "failures 16 s apart: at most 4 in 60 s, never banned");
			goto out;
		}
	}
	tap_ok(1, "failures 16 s apart: at most 4 in 60 s, never banned");
	tap_is_int(wrong_n(b, "slow", "10.0.0.3", 1, 5000 + 99 * 16 + 1, &h), MQSP_BAN_PAIR,
	           "a 5th within the window bans");
out:
	mqsp_bans_free(b);
}

/* Growth on repeat, the cap, and decay after a quiet period. */
static void test_schedule(void)
{
	struct mqsp_bans_cfg cfg = defaults();
	struct mqsp_bans *b = mqsp_bans_new(&cfg);
	unsigned want[] = {300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 76800, 86400, 86400};
	struct mqsp_ban_hit h;
	int64_t t = 10000;

	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		tap_is_int(wrong_n(b, "alice", "10.0.0.2", 5, t, &h), MQSP_BAN_PAIR, "pair ban %u",
		           i + 1);
		tap_is_int(h.seconds[MQSP_HIT_PAIR], want[i], "pair ban %u lasts %u s", i + 1,
		           want[i]);
		/* back right after it ends */
		t += h.seconds[MQSP_HIT_PAIR];
	}
	/* 11 repeats remembered; two quiet days forget two */
	t += 2 * 86400;
	wrong_n(b, "alice", "10.0.0.2", 5, t, &h);
	tap_is_int(h.strike[MQSP_HIT_PAIR], 10, "two quiet days forget two repeats");
	tap_is_int(h.seconds[MQSP_HIT_PAIR], 86400, "still capped at a day");
	/* back before the next window: the quiet time starts when a ban ends */
	t += 1;
	wrong_n(b, "alice", "10.0.0.2", 5, t, &h);
	tap_is_int(h.strike[MQSP_HIT_PAIR], 11, "failing during a ban forgets nothing");
	t += h.seconds[MQSP_HIT_PAIR] + 30 * 86400;
	wrong_n(b, "alice", "10.0.0.2", 5, t, &h);
	tap_is_int(h.strike[MQSP_HIT_PAIR], 1, "a quiet month forgets everything");
	tap_is_int(h.seconds[MQSP_HIT_PAIR], 300, "back to the first length");
	mqsp_bans_free(b);

	/* no decay, tiny cap below the base: the base wins */
	cfg.decay_seconds = 0;
	cfg.ban_max_seconds = 100;
	b = mqsp_bans_new(&cfg);
	t = 0;
	wrong_n(b, "x", "10.0.0.9", 5, t, &h);
	tap_is_int(h.seconds[MQSP_HIT_PAIR], 300, "a cap below ban_seconds: ban_seconds");
	t += 1000000;
	wrong_n(b, "x", "10.0.0.9", 5, t, &h);
	tap_is_int(h.strike[MQSP_HIT_PAIR], 2, "decay 0: repeats never forgotten");
	mqsp_bans_free(b);

	/* a huge cap: the length stops growing at its bound, no overflow */
	cfg = defaults();
	cfg.ban_max_seconds = 31536000;
	cfg.decay_seconds = 0;
	b = mqsp_bans_new(&cfg);
	t = 0;
	for (int i = 0; i < 40; i++) {
		wrong_n(b, "y", "10.0.0.9", 5, t, &h);
		t += h.seconds[MQSP_HIT_PAIR];
	}
	tap_is_int(h.seconds[MQSP_HIT_PAIR], 31536000, "40 repeats: capped at a year");
	mqsp_bans_free(b);
}

/* Username-wide bans need failures from several addresses. */
static void test_username_wide(void)
{
	struct mqsp_bans_cfg cfg = defaults();
	struct mqsp_bans *b = mqsp_bans_new(&cfg);
	unsigned want[] = {60, 120, 240, 480, 960, 1920, 3600, 3600};
	struct mqsp_ban_hit h;
	unsigned bits;
	int64_t t = 1000;

	/* one address, however many failures: never username-wide */
	for (int i = 0; i < 10; i++) {
		bits = wrong_n(b, "alice", "10.0.0.2", 5, t, &h);
		if ((bits & MQSP_BAN_USER) != 0)
			break;
		t += h.seconds[MQSP_HIT_PAIR];
	}
	tap_is_int(bits & MQSP_BAN_USER, 0, "one address: never a username-wide ban");

	/* two addresses: still not */
	mqsp_bans_free(b);
	b = mqsp_bans_new(&cfg);
	bits = wrong_n(b, "alice", "10.0.0.2", 3, t, &h);
	bits |= wrong_n(b, "alice", "10.0.0.3", 3, t, &h);
	tap_is_int(bits & MQSP_BAN_USER, 0, "6 failures from 2 addresses: no username-wide ban");
	/* a third address */
	bits = wrong(b, "alice", "10.0.0.4", t, &h);
	tap_is_int(bits, MQSP_BAN_USER, "a failure from a 3rd address bans alice everywhere");
	tap_is_int(h.seconds[MQSP_HIT_USER], 60, "first username-wide ban: user_ban_seconds");
	tap_is_int(h.distinct[MQSP_HIT_USER], 3, "from 3 addresses");
	tap_is_int(h.failures[MQSP_HIT_USER], 5, "last 5 failures counted");
	mqsp_bans_free(b);

	/* 3 addresses but fewer failures than max_user_failures: not yet */
	b = mqsp_bans_new(&cfg);
	bits = wrong(b, "bob", "10.0.0.2", t, NULL) | wrong(b, "bob", "10.0.0.3", t, NULL) |
	       wrong(b, "bob", "10.0.0.4", t, NULL) | wrong(b, "bob", "10.0.0.5", t, NULL);
	tap_is_int(bits, 0, "4 failures from 4 addresses: no ban");
	tap_is_int(wrong(b, "bob", "10.0.0.6", t, &h), MQSP_BAN_USER, "the 5th bans bob");

	/* progressive, capped */
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char ip[32];

		bits = 0;
		for (int k = 0; k < 5; k++) {
			snprintf(ip, sizeof(ip), "10.1.%u.%d", i, k);
			bits |= wrong(b, "carol", ip, t, &h);
		}
		tap_is_int(h.seconds[MQSP_HIT_USER], want[i], "username-wide ban %u lasts %u s",
		           i + 1, want[i]);
		t += h.seconds[MQSP_HIT_USER];
	}
	mqsp_bans_free(b);

	/* user_addresses 0: never username-wide */
	cfg.user_addresses = 0;
	b = mqsp_bans_new(&cfg);
	bits = 0;
	for (int k = 0; k < 50; k++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.2.0.%d", k);
		bits |= wrong(b, "dave", ip, t, NULL);
	}
	tap_is_int(bits & MQSP_BAN_USER, 0, "user_ban_addresses 0: never username-wide");
	mqsp_bans_free(b);
}

/* A NAT: many devices behind one address, each failing now and then. */
static void test_nat(void)
{
	struct mqsp_bans_cfg cfg = defaults();
	struct mqsp_bans *b = mqsp_bans_new(&cfg);
	unsigned bits = 0;
	int64_t t = 1000;
	char name[32];

	/* 5,000 devices fail once each in a stream of 19 a minute: no ban */
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "dev%d", i);
		bits |= wrong(b, name, "192.0.2.1", t + (int64_t)i * 60 / 19 + 1, NULL);
	}
	tap_is_int(bits, 0, "5000 devices failing once, 19 a minute: no ban at all");

	/* one broken device hammers: only its pair is banned; as a banned pair
	 * is refused before its code is checked, it adds no more failures */
	t += 100000;
	bits = wrong_n(b, "broken", "192.0.2.1", 5, t, NULL);
	tap_is_int(bits, MQSP_BAN_PAIR, "a broken device: its pair is banned, not the address");
	tap_is_int(banned(b, "dev7", "192.0.2.1", t), 0, "the other devices behind it still in");

	/* 12 devices fail 4 times each within one minute (a clock step): 48
	 * failures, 12 usernames: below both address thresholds */
	t += 1000;
	bits = 0;
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "dev%d", i);
		bits |= wrong_n(b, name, "192.0.2.1", 4, t, NULL);
	}
	tap_is_int(bits, 0, "12 devices x 4 failures in a minute: no ban");
	mqsp_bans_free(b);
}

/* One address spraying usernames, or failing fast. */
static void test_spray(void)
{
	struct mqsp_bans_cfg cfg = defaults();
	struct mqsp_bans *b = mqsp_bans_new(&cfg);
	struct mqsp_ban_hit h;
	unsigned bits = 0;
	int64_t t = 1000;
	char name[32];
	int i;

	for (i = 0; i < 19; i++) {
		snprintf(name, sizeof(name), "victim%d", i);
		bits |= wrong(b, name, "198.51.100.7", t, NULL);
	}
	tap_is_int(bits, 0, "19 usernames: not yet");
	bits = wrong(b, "victim19", "198.51.100.7", t, &h);
	tap_is_int(bits, MQSP_BAN_IP, "the 20th distinct username bans the address");
	tap_is_int(h.distinct[MQSP_HIT_IP], 20, "for 20 usernames");
	tap_is_int(h.seconds[MQSP_HIT_IP], 300, "first address ban: ban_seconds");

	/* unknown usernames count for the address too */
	for (i = 0, bits = 0; i < 20 && bits == 0; i++) {
		snprintf(name, sizeof(name), "nobody%d", i);
		bits = unknown(b, name, "198.51.100.8", t);
	}
	tap_is_int(bits, MQSP_BAN_IP, "20 unknown usernames ban the address");
	tap_is_int(i, 20, "at the 20th");

	/* the same unknown username at a high rate */
	for (i = 0, bits = 0; i < 100 && bits == 0; i++)
		bits = unknown(b, "nobody", "198.51.100.9", t);
	tap_is_int(i, 50, "50 failures in a window ban the address (max_ip_failures)");

	/* repeats of an address ban grow too (each round after the last ban) */
	for (int round = 2; round <= 3; round++) {
		t += h.seconds[MQSP_HIT_IP];
		for (i = 0, bits = 0; i < 20 && bits == 0; i++) {
			snprintf(name, sizeof(name), "r%d-%d", round, i);
			bits = mqsp_bans_fail(b, name, "198.51.100.7", MQSP_COUNT_IP, t, &h);
		}
	}
	tap_is_int(h.strike[MQSP_HIT_IP], 3, "third ban of the address");
	tap_is_int(h.seconds[MQSP_HIT_IP], 1200, "lasts 4 x ban_seconds");

	/* the same username sprayed under 10 client ids is one username */
	for (i = 0, bits = 0; i < 10; i++)
		bits |= unknown(b, "same", "198.51.100.10", t);
	tap_is_int(bits, 0, "10 failures of one username: no spray");
	mqsp_bans_free(b);

	/* max_ip_failures 0: no address bans at all (its meaning before the
	 * distinct usernames were counted) */
	cfg.max_ip_failures = 0;
	b = mqsp_bans_new(&cfg);
	for (i = 0, bits = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		bits |= unknown(b, name, "198.51.100.11", t);
	}
	tap_is_int(bits, 0, "max_ip_failures 0: never an address ban");
	mqsp_bans_free(b);

	/* max_ip_usernames 0: only the failure count bans */
	cfg = defaults();
	cfg.max_ip_usernames = 0;
	b = mqsp_bans_new(&cfg);
	for (i = 0, bits = 0; i < 100 && bits == 0; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		bits = unknown(b, name, "198.51.100.12", t);
	}
	tap_is_int(i, 50, "max_ip_usernames 0: banned at 50 failures only");
	mqsp_bans_free(b);
}

/* The tables stay bounded; a pair ban in force outlives a flood. */
static void test_bounds(void)
{
	struct mqsp_bans_cfg cfg = defaults();
	struct mqsp_bans *b;
	char name[300];
	int64_t t = 1000;
	unsigned bits = 0;

	cfg.table_max = 16;
	b = mqsp_bans_new(&cfg);
	wrong_n(b, "alice", "10.0.0.2", 5, t, NULL);
	tap_is_int(banned(b, "alice", "10.0.0.2", t), 1, "pair banned");
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "flood%d", i);
		bits |= mqsp_bans_fail(b, name, "10.9.9.9", MQSP_COUNT_USER | MQSP_COUNT_IP, t + 1,
		                       NULL);
	}
	tap_diag("bans the flood caused: %#x", bits);
	tap_ok(mqsp_bans_tracked(b) <= 3 * 16, "tables stay capped (%zu keys)",
	       mqsp_bans_tracked(b));
	tap_is_int(banned(b, "alice", "10.0.0.2", t + 1), 1,
	           "a pair ban in force is passed over by eviction");
	mqsp_bans_free(b);

	/* a table full of pair bans in force: the oldest goes, memory stays bounded */
	b = mqsp_bans_new(&cfg);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		wrong_n(b, name, "10.0.0.2", 5, t, NULL);
	}
	tap_ok(mqsp_bans_tracked(b) <= 3 * 16, "full of bans: still capped (%zu keys)",
	       mqsp_bans_tracked(b));
	tap_is_int(banned(b, "p99", "10.0.0.2", t), 1, "the newest pair ban holds");
	tap_is_int(banned(b, "p0", "10.0.0.2", t), 0, "the oldest was evicted");

	/* keys too long or empty are not counted */
	memset(name, 'a', 256);
	name[256] = '\0';
	tap_is_int(wrong_n(b, name, "10.0.0.3", 49, t, NULL), 0,
	           "a 256-byte username: no pair or username key");
	tap_is_int(wrong(b, name, "10.0.0.3", t, NULL), MQSP_BAN_IP,
	           "but it counts for the address (50 failures)");
	tap_is_int(mqsp_bans_fail(b, NULL, NULL, MQSP_COUNT_USER | MQSP_COUNT_IP, t, NULL), 0,
	           "nothing to count");
	tap_is_int(mqsp_bans_match(b, name, NULL, t), 0, "a long username matches nothing");
	/* no known address: the pair is (username, none) */
	tap_is_int(wrong_n(b, "nowhere", NULL, 5, t, NULL), MQSP_BAN_PAIR,
	           "no address: the pair of no address is banned");
	tap_is_int(banned(b, "nowhere", NULL, t), 1, "refused without an address");
	tap_is_int(banned(b, "nowhere", "10.0.0.1", t), 0, "not from a known address");
	mqsp_bans_free(b);
	mqsp_bans_free(NULL);
}

/* The in-memory copy of database bans. */
static void test_mem(void)
{
	struct mqsp_bans_cfg cfg = defaults();
	struct mqsp_bans *b = mqsp_bans_new(&cfg);
	uint8_t addr[16];

	tap_is_int(mqsp_bans_add(b, MQS_MATCH_USERNAME, "dev1", 500, 1, 0, 400), MQS_OK,
	           "mem ban user");
	tap_is_int(mqsp_bans_add(b, MQS_MATCH_IP, "10.0.0.1", 600, 2, 0, 400), MQS_OK,
	           "mem ban ip");
	mqs_ip_parse("::ffff:10.0.0.1", addr);
	tap_is_int(mqsp_bans_match(b, "dev1", NULL, 400), 1, "banned username");
	tap_is_int(mqsp_bans_match(b, "other", addr, 400), 1, "banned mapped address");
	tap_is_int(mqsp_bans_match(b, "dev1", NULL, 500), 0, "ban ends at its expiry");
	mqsp_bans_prune(b, 1, 400);
	tap_is_int(mqsp_bans_match(b, "dev1", NULL, 400), 0, "pruned once a snapshot holds it");
	tap_is_int(mqsp_bans_match(b, NULL, addr, 400), 1, "later ban kept");
	mqsp_bans_prune(b, 1, 600);
	tap_is_int(mqsp_bans_match(b, NULL, addr, 599), 0, "expired ban pruned");
	tap_is_int(mqsp_bans_take_reload(b), 0, "no reload needed so far");
	mqsp_bans_free(b);
}

/* The in-memory ban table when it is full. */
static void test_bans_full(void)
{
	struct mqsp_bans_cfg cfg = defaults();
	struct mqsp_bans *b = mqsp_bans_new(&cfg);
	char name[32];
	int rc = MQS_OK;

	/* a ban that never reached the database is only dropped by its expiry */
	tap_is_int(
	    mqsp_bans_add(b, MQS_MATCH_USERNAME, "memonly", 1000, MQSP_BAN_SEQ_MEMORY, 0, 100),
	    MQS_OK, "memory-only ban kept");
	mqsp_bans_prune(b, UINT64_MAX - 1, 100);
	tap_is_int(mqsp_bans_match(b, "memonly", NULL, 100), 1,
	           "memory-only ban survives a snapshot with every committed ban");
	mqsp_bans_prune(b, UINT64_MAX - 1, 1000);
	tap_is_int(mqsp_bans_match(b, "memonly", NULL, 999), 0, "and goes at its expiry");

	/* fill the table with queued (uncommitted) bans 1..MAX */
	for (unsigned i = 1; rc == MQS_OK && i <= MQSP_BANS_MEM_MAX; i++) {
		snprintf(name, sizeof(name), "q%u", i);
		rc = mqsp_bans_add(b, MQS_MATCH_USERNAME, name, 5000, i, 0, 100);
	}
	tap_is_int(rc, MQS_OK, "%d queued bans kept", MQSP_BANS_MEM_MAX);
	tap_is_int(mqsp_bans_add(b, MQS_MATCH_USERNAME, "new", 5000, MQSP_BANS_MEM_MAX + 1, 0, 100),
	           MQS_ERR_TOOBIG, "full of uncommitted bans: a new one is refused");
	tap_is_int(mqsp_bans_match(b, "q1", NULL, 100), 1,
	           "the oldest uncommitted ban still holds");
	tap_is_int(mqsp_bans_take_reload(b), 1, "the refused queued ban asks for a reload");
	tap_is_int(mqsp_bans_take_reload(b), 0, "once");

	/* bans 1..10 committed: the oldest committed one makes room */
	tap_is_int(
	    mqsp_bans_add(b, MQS_MATCH_USERNAME, "new", 5000, MQSP_BANS_MEM_MAX + 1, 10, 100),
	    MQS_OK, "with committed bans there is room");
	tap_is_int(mqsp_bans_match(b, "q1", NULL, 100), 0, "the oldest committed ban was evicted");
	tap_is_int(mqsp_bans_match(b, "q2", NULL, 100), 1, "the next one stays");
	tap_is_int(mqsp_bans_match(b, "new", NULL, 100), 1, "the new ban holds");
	tap_is_int(mqsp_bans_take_reload(b), 1, "the evicted ban asks for a reload");

	/* expired bans make room first, without a reload */
	tap_is_int(
	    mqsp_bans_add(b, MQS_MATCH_USERNAME, "late", 9000, MQSP_BANS_MEM_MAX + 2, 0, 5000),
	    MQS_OK, "expired bans make room");
	tap_is_int(mqsp_bans_take_reload(b), 0, "no reload for expired bans");
	tap_is_int(mqsp_bans_match(b, "late", NULL, 5000), 1, "the new ban holds");
	mqsp_bans_free(b);
}

int main(void)
{
	test_pair();
	test_schedule();
	test_username_wide();
	test_nat();
	test_spray();
	test_bounds();
	test_mem();
	test_bans_full();
	return tap_exit();
}
