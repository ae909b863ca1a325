/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-lists.c - allow/deny list index of the broker plugin
 * (lib/mqs_lists.c); the bans are in test-plugin-bans.c. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mqs_lists.h"
#include "mqs_cidr.h"
#include "mqs_error.h"
#include "tap.h"

/* Match an address given as text. */
static int match_ip(const struct mqs_list *l, const char *ip, int64_t now)
{
	uint8_t addr[16];

	if (mqs_ip_parse(ip, addr) != MQS_OK)
		return -1;
	return mqs_list_match(l, NULL, NULL, addr, now);
}

static void test_lists(void)
{
	struct mqs_list l;
	enum mqs_match m;

	mqs_list_init(&l);
	tap_is_int(mqs_list_match(&l, "c", "u", NULL, 0), 0, "empty list matches nothing");
	tap_is_int(mqs_list_add(&l, MQS_MATCH_CLIENTID, "cid-1", 0), MQS_OK, "add client id");
	tap_is_int(mqs_list_add(&l, MQS_MATCH_USERNAME, "dev1", 0), MQS_OK, "add username");
	tap_is_int(mqs_list_add(&l, MQS_MATCH_IP, "10.0.0.0/8", 0), MQS_OK, "add v4 network");
	tap_is_int(mqs_list_add(&l, MQS_MATCH_IP, "2001:db8::/32", 0), MQS_OK, "add v6 network");
	tap_is_int(mqs_list_add(&l, MQS_MATCH_IP, "192.168.1.5", 0), MQS_OK, "add v4 host");
	tap_is_int(mqs_list_add(&l, MQS_MATCH_IP, "10.0.0.0/33", 0), MQS_ERR_PARSE,
	           "bad network refused");
	tap_is_int(mqs_list_add(&l, MQS_MATCH_CLIENTID, "", 0), MQS_ERR_INVAL,
	           "empty client id refused");

	tap_is_int(mqs_list_match(&l, "cid-1", NULL, NULL, 100), 1, "client id matches");
	tap_is_int(mqs_list_match(&l, "cid-2", NULL, NULL, 100), 0, "other client id does not");
	tap_is_int(mqs_list_match(&l, NULL, "dev1", NULL, 100), 1, "username matches");
	tap_is_int(mqs_list_match(&l, "dev1", NULL, NULL, 100), 0,
	           "a username entry does not match a client id");
	tap_is_int(match_ip(&l, "10.20.30.40", 100), 1, "address in v4 network");
	tap_is_int(match_ip(&l, "::ffff:10.20.30.40", 100), 1, "mapped address in v4 network");
	tap_is_int(match_ip(&l, "11.0.0.1", 100), 0, "address outside");
	tap_is_int(match_ip(&l, "2001:db8:1::1", 100), 1, "v6 address in network");
	tap_is_int(match_ip(&l, "192.168.1.5", 100), 1, "v4 host entry");
	tap_is_int(match_ip(&l, "192.168.1.6", 100), 0, "next host not matched");
	mqs_list_release(&l);
	tap_is_int(mqs_list_match(&l, "cid-1", NULL, NULL, 100), 0, "released list is empty");

	/* expiry */
	tap_is_int(mqs_list_add(&l, MQS_MATCH_USERNAME, "tmp", 1000), MQS_OK, "add expiring");
	tap_is_int(mqs_list_match(&l, NULL, "tmp", NULL, 999), 1, "matches before expiry");
	tap_is_int(mqs_list_match(&l, NULL, "tmp", NULL, 1000), 0, "stops at expiry");
	mqs_list_add(&l, MQS_MATCH_USERNAME, "tmp", 2000);
	tap_is_int(mqs_list_match(&l, NULL, "tmp", NULL, 1500), 1, "duplicate keeps latest expiry");
	mqs_list_add(&l, MQS_MATCH_USERNAME, "tmp", 0);
	tap_is_int(mqs_list_match(&l, NULL, "tmp", NULL, 1 << 30), 1, "0 means never");
	mqs_list_add(&l, MQS_MATCH_IP, "10.1.0.0/16", 500);
	mqs_list_add(&l, MQS_MATCH_IP, "10.0.0.0/8", 3000);
	tap_is_int(match_ip(&l, "10.1.2.3", 2000), 1, "expired /16 but live /8 still matches");
	tap_is_int(match_ip(&l, "10.1.2.3", 3000), 0, "both expired");
	tap_is_int(l.next_expiry, 500, "earliest expiry noted");
	tap_is_int(mqs_list_next_expiry(&l, 500), 3000, "next expiry after 500");
	tap_is_int(mqs_list_next_expiry(&l, 3000), 0, "no expiry after 3000");
	mqs_list_release(&l);

	tap_ok(mqs_match_parse("ip", &m) == MQS_OK && m == MQS_MATCH_IP, "parse ip");
	tap_ok(mqs_match_parse("IP", &m) == MQS_ERR_PARSE, "match words are exact");
}

static void test_lists_scale(void)
{
	struct mqs_list l;
	struct timespec t0, t1;
	unsigned hits = 0;
	uint8_t addr[16];
	char buf[64];
	double ns;

	mqs_list_init(&l);
	for (int i = 0; i < 10000; i++) {
		switch (i % 4) {
		case 0:
			snprintf(buf, sizeof(buf), "client-%d", i);
			mqs_list_add(&l, MQS_MATCH_CLIENTID, buf, 0);
			break;
		case 1:
			snprintf(buf, sizeof(buf), "user-%d", i);
			mqs_list_add(&l, MQS_MATCH_USERNAME, buf, 0);
			break;
		case 2:
			snprintf(buf, sizeof(buf), "10.%d.%d.0/24", (i >> 8) & 255, i & 255);
			mqs_list_add(&l, MQS_MATCH_IP, buf, 0);
			break;
		default:
			snprintf(buf, sizeof(buf), "2001:db8:%x::/%d", i, 48 + i % 17);
			mqs_list_add(&l, MQS_MATCH_IP, buf, 0);
			break;
		}
	}
	tap_is_int((long long)l.count, 10000, "10000 distinct entries");
	mqs_ip_parse("10.0.2.7", addr);
	tap_is_int(mqs_list_match(&l, NULL, NULL, addr, 1), 1, "address found among 10000");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 100000; i++) {
		snprintf(buf, sizeof(buf), "172.16.%d.%d", (i >> 8) & 255, i & 255);
		mqs_ip_parse(buf, addr);
		hits += mqs_list_match(&l, "nobody", "nobody", addr, 1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e5;
	tap_is_int(hits, 0, "misses over 10000 entries");
	tap_diag("10000 entries, %u prefix lengths: %.0f ns per miss (parse included)", l.nprefixes,
	         ns);
	mqs_list_release(&l);
}

static void test_entry_problem(void)
{
	static const struct {
		const char *match;
		const char *pattern;
		int ok;
		int anyone;
	} cases[] = {
	    {"ip", "192.0.2.0/24", 1, 0},
	    {"ip", "2001:db8::/32", 1, 0},
	    {"ip", "no-address", 0, 1},
	    {"ip", "192.0.2.0/33", 0, 1},
	    {"ip", NULL, 0, 1},
	    {"cidr", "192.0.2.1", 0, 1},
	    {NULL, "x", 0, 1},
	    {"username", "alice", 1, 0},
	    {"username", "", 0, 0},
	    {"clientid", "", 0, 0},
	    {"clientid", "c-1", 1, 0},
	};
	struct mqs_list l;
	uint8_t addr[16];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int anyone = -1;
		const char *why = mqs_list_entry_problem(cases[i].match, cases[i].pattern, &anyone);
		enum mqs_match m;
		int added = 0;

		tap_ok((why == NULL) == cases[i].ok && (why == NULL || anyone == cases[i].anyone),
		       "entry check %s %s: %s", cases[i].match != NULL ? cases[i].match : "(null)",
		       cases[i].pattern != NULL ? cases[i].pattern : "(null)",
		       why != NULL ? why : "usable");
		/* mqs_list_add accepts exactly what the check accepts */
		mqs_list_init(&l);
		if (cases[i].match != NULL && cases[i].pattern != NULL &&
		    mqs_match_parse(cases[i].match, &m) == MQS_OK)
			added = mqs_list_add(&l, m, cases[i].pattern, 0) == MQS_OK;
		tap_is_int(added, cases[i].ok, "list add agrees with the check");
		mqs_list_release(&l);
	}
	mqs_list_init(&l);
	mqs_ip_parse("198.51.100.7", addr);
	tap_ok(!mqs_list_match(&l, "c", "u", addr, 1), "empty list matches nobody");
	mqs_list_match_all(&l);
	tap_ok(mqs_list_match(&l, "c", "u", addr, 1) && mqs_list_match(&l, NULL, NULL, NULL, 1),
	       "a list failed closed matches everyone");
	mqs_list_release(&l);
}

int main(void)
{
	test_lists();
	test_lists_scale();
	test_entry_problem();
	return tap_exit();
}
