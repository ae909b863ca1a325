/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_cidr.c - IPv4/IPv6 addresses and CIDR networks in 16-byte mapped form. */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "mqs_cidr.h"
#include "mqs_error.h"

/* longest address text we accept: full IPv6 with an embedded IPv4 tail */
#define ADDR_TEXT_MAX 45

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Return 1 when addr is an IPv4-mapped IPv6 address. */
static int is_v4mapped(const uint8_t addr[16])
{
	return memcmp(addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
}

/* Parse len bytes of text as one address; *is_v4 tells whether it was IPv4 text. */
static int addr_parse(const char *text, size_t len, uint8_t addr[16], int *is_v4)
{
	char buf[ADDR_TEXT_MAX + 1];
	int rc = MQS_ERR_PARSE;

	if (len == 0 || len > ADDR_TEXT_MAX)
		goto out;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, addr + 12) == 1) {
		memcpy(addr, v4mapped_prefix, sizeof(v4mapped_prefix));
		*is_v4 = 1;
		rc = MQS_OK;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		*is_v4 = 0;
		rc = MQS_OK;
	}
out:
	return rc;
}

/* Parse a decimal prefix length: digits only, no leading zero, at most max. */
static int prefix_parse(const char *text, unsigned max, unsigned *prefix)
{
	unsigned v = 0;
	size_t len = strlen(text);

	if (len == 0 || len > 3 || (len > 1 && text[0] == '0'))
		return MQS_ERR_PARSE;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return MQS_ERR_PARSE;
		v = v * 10 + (unsigned)(text[i] - '0');
	}
	if (v > max)
		return MQS_ERR_PARSE;
	*prefix = v;
	return MQS_OK;
}

/* Clear the host bits of addr beyond prefix. */
static void host_bits_clear(uint8_t addr[16], unsigned prefix)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned bit = i * 8;

		if (bit >= prefix)
			addr[i] = 0;
		else if (prefix - bit < 8)
			addr[i] &= (uint8_t)(0xff << (8 - (prefix - bit)));
	}
}

/* Parse "ADDR" or "ADDR/PREFIX" into net. */
int mqs_cidr_parse(const char *text, struct mqs_cidr *net)
{
	const char *slash;
	size_t alen;
	int is_v4 = 0;
	unsigned prefix;
	struct mqs_cidr tmp;
	int rc = MQS_ERR_PARSE;

	if (text == NULL || net == NULL)
		goto out;
	slash = strchr(text, '/');
	alen = slash ? (size_t)(slash - text) : strlen(text);
	if (addr_parse(text, alen, tmp.addr, &is_v4) != MQS_OK)
		goto out;
	prefix = 128;
	if (slash != NULL) {
		if (prefix_parse(slash + 1, is_v4 ? 32 : 128, &prefix) != MQS_OK)
			goto out;
		if (is_v4)
			prefix += 96;
	}
	host_bits_clear(tmp.addr, prefix);
	tmp.prefix = prefix;
	*net = tmp;
	rc = MQS_OK;
out:
	return rc;
}

/* Parse one address into 16-byte mapped form. */
int mqs_ip_parse(const char *text, uint8_t addr[16])
{
	int is_v4;

	if (text == NULL || addr == NULL)
		return MQS_ERR_PARSE;
	return addr_parse(text, strlen(text), addr, &is_v4);
}

/* Write the canonical text of net into buf. */
int mqs_cidr_format(const struct mqs_cidr *net, char *buf, size_t cap)
{
	char addr[INET6_ADDRSTRLEN];
	int n;
	int rc = MQS_ERR_INVAL;

	if (net == NULL || buf == NULL || net->prefix > 128)
		goto out;
	if (net->prefix >= 96 && is_v4mapped(net->addr)) {
		if (inet_ntop(AF_INET, net->addr + 12, addr, sizeof(addr)) == NULL)
			goto out;
		if (net->prefix == 128)
			n = snprintf(buf, cap, "%s", addr);
		else
			n = snprintf(buf, cap, "%s/%u", addr, net->prefix - 96);
	} else {
		if (inet_ntop(AF_INET6, net->addr, addr, sizeof(addr)) == NULL)
			goto out;
		if (net->prefix == 128)
			n = snprintf(buf, cap, "%s", addr);
		else
			n = snprintf(buf, cap, "%s/%u", addr, net->prefix);
	}
	rc = (n < 0 || (size_t)n >= cap) ? MQS_ERR_BUFSIZE : MQS_OK;
out:
	return rc;
}

/* Return 1 when addr lies in net. */
int mqs_cidr_contains(const struct mqs_cidr *net, const uint8_t addr[16])
{
	unsigned full, rest;

	if (net == NULL || addr == NULL || net->prefix > 128)
		return 0;
	full = net->prefix / 8;
	rest = net->prefix % 8;
	if (memcmp(net->addr, addr, full) != 0)
		return 0;
	if (rest != 0) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		if ((net->addr[full] & mask) != (addr[full] & mask))
			return 0;
	}
	return 1;
}
