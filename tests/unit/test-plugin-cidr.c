/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-cidr.c - CIDR parsing, formatting and matching (lib/mqs_cidr.c). */
#include "config.h"

#include <string.h>

#include "mqs_cidr.h"
#include "mqs_error.h"
#include "tap.h"

/* Return 1 when network text contains address text (both must parse). */
static int contains(const char *net_text, const char *addr_text)
{
	struct mqs_cidr net;
	uint8_t addr[16];

	if (mqs_cidr_parse(net_text, &net) != MQS_OK || mqs_ip_parse(addr_text, addr) != MQS_OK)
		return -1;
	return mqs_cidr_contains(&net, addr);
}

/* Check that text parses and formats back to want. */
static void canon(const char *text, const char *want)
{
	struct mqs_cidr net;
	char buf[MQS_CIDR_TEXT_MAX];
	int rc = mqs_cidr_parse(text, &net);

	if (rc == MQS_OK)
		rc = mqs_cidr_format(&net, buf, sizeof(buf));
	tap_ok(rc == MQS_OK && strcmp(buf, want) == 0, "canonical %s -> %s (got %s)", text, want,
	       rc == MQS_OK ? buf : "error");
}

int main(void)
{
	static const char *bad[] = {
	    "",
	    "/",
	    "10.0.0.1/",
	    "10.0.0.1/33",
	    "10.0.0.1/-1",
	    "10.0.0.1/08",
	    "10.0.0/8",
	    "10.0.0.256",
	    "1.2.3.4.5",
	    "::1/129",
	    "::1/1a",
	    "abc",
	    "10.0.0.1 ",
	    " 10.0.0.1",
	    "10.0.0.1/8/8",
	    "fe80::1%lo",
	    "::g",
	    "10.0.0.1/+8",
	    "1:2:3:4:5:6:7:8:9",
	    "0x0a.0.0.1",
	    "10.0.0.1/1000",
	};
	struct mqs_cidr net;
	uint8_t addr[16];
	char small[4];

	/* IPv4 */
	tap_is_int(contains("10.0.0.0/8", "10.1.2.3"), 1, "v4 /8 contains");
	tap_is_int(contains("10.0.0.0/8", "11.0.0.0"), 0, "v4 /8 excludes neighbour");
	tap_is_int(contains("192.168.1.7/32", "192.168.1.7"), 1, "v4 /32 exact");
	tap_is_int(contains("192.168.1.7/32", "192.168.1.8"), 0, "v4 /32 other");
	tap_is_int(contains("192.168.1.7", "192.168.1.7"), 1, "v4 without prefix is /32");
	tap_is_int(contains("172.16.0.0/12", "172.31.255.255"), 1, "v4 /12 top of range");
	tap_is_int(contains("172.16.0.0/12", "172.32.0.0"), 0, "v4 /12 past range");
	tap_is_int(contains("0.0.0.0/0", "203.0.113.9"), 1, "v4 /0 contains every v4");
	tap_is_int(contains("0.0.0.0/0", "2001:db8::1"), 0, "v4 /0 excludes v6");
	tap_is_int(contains("10.0.0.5/8", "10.200.0.1"), 1, "host bits cleared on parse");

	/* IPv4-mapped */
	tap_is_int(contains("10.0.0.0/8", "::ffff:10.9.8.7"), 1, "mapped client in v4 net");
	tap_is_int(contains("::ffff:10.0.0.0/104", "10.9.8.7"), 1, "mapped net holds v4 client");
	tap_is_int(contains("::ffff:10.0.0.0/104", "11.9.8.7"), 0, "mapped net excludes v4");
	canon("::ffff:10.1.2.3", "10.1.2.3");
	canon("::ffff:10.0.0.0/104", "10.0.0.0/8");
	canon("::FFFF:0A00:0001", "10.0.0.1");

	/* IPv6 */
	tap_is_int(contains("2001:db8::/32", "2001:db8:ffff::1"), 1, "v6 /32 contains");
	tap_is_int(contains("2001:db8::/32", "2001:db9::1"), 0, "v6 /32 excludes");
	tap_is_int(contains("::1/128", "::1"), 1, "v6 /128 exact");
	tap_is_int(contains("::1", "::2"), 0, "v6 without prefix is /128");
	tap_is_int(contains("::/0", "2001:db8::1"), 1, "v6 /0 contains v6");
	tap_is_int(contains("::/0", "10.0.0.1"), 1, "v6 /0 contains mapped v4 too");
	tap_is_int(contains("2001:db8::/33", "2001:db8:7fff::1"), 1, "v6 odd prefix inside");
	tap_is_int(contains("2001:db8::/33", "2001:db8:8000::1"), 0, "v6 odd prefix outside");

	/* canonical text */
	canon("10.1.2.3/8", "10.0.0.0/8");
	canon("10.1.2.3/32", "10.1.2.3");
	canon("0.0.0.0/0", "0.0.0.0/0");
	canon("2001:0DB8:0000::1/64", "2001:db8::/64");
	canon("::/0", "::/0");
	canon("::1/128", "::1");
	tap_ok(mqs_cidr_parse("10.0.0.0/8", &net) == MQS_OK && net.prefix == 104,
	       "v4 prefix stored as 96 + p");
	tap_is_int(mqs_cidr_format(&net, small, sizeof(small)), MQS_ERR_BUFSIZE,
	           "format into a small buffer fails");

	/* bad input */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		tap_is_int(mqs_cidr_parse(bad[i], &net), MQS_ERR_PARSE, "refuses \"%s\"", bad[i]);
	tap_is_int(mqs_cidr_parse(NULL, &net), MQS_ERR_PARSE, "refuses NULL");
	tap_is_int(mqs_ip_parse("10.0.0.0/8", addr), MQS_ERR_PARSE, "address parse refuses prefix");
	tap_is_int(mqs_ip_parse("", addr), MQS_ERR_PARSE, "address parse refuses empty");
	tap_is_int(mqs_cidr_contains(NULL, addr), 0, "contains NULL net is 0");

	return tap_exit();
}
