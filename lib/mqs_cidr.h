/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_cidr.h - IPv4/IPv6 addresses and CIDR networks for the allow/deny lists.
 *
 * Every address is kept in 16-byte IPv6 form; IPv4 a.b.c.d is stored as the
 * IPv4-mapped ::ffff:a.b.c.d and an IPv4 prefix p as 96 + p, so an IPv4 entry
 * matches a client that a dual-stack listener reports as ::ffff:a.b.c.d.
 *
 * Ownership: pure functions over caller-owned memory; nothing allocates,
 * frees or keeps a pointer.  On a parse failure the output is unspecified.
 */
#ifndef MQS_CIDR_H
#define MQS_CIDR_H

#include <stddef.h>
#include <stdint.h>

#define MQS_CIDR_TEXT_MAX 64 /* enough for any formatted network */

struct mqs_cidr {
	uint8_t addr[16]; /* network address, host bits zero */
	unsigned prefix;  /* 0..128 over the 16-byte form */
};

/* Parse "ADDR" or "ADDR/PREFIX" (IPv4 or IPv6, IPv4-mapped allowed).  Host
 * bits are cleared.  Returns MQS_OK or MQS_ERR_PARSE. */
int mqs_cidr_parse(const char *text, struct mqs_cidr *net);

/* Parse one address (no prefix) into 16-byte mapped form.  Returns MQS_OK or
 * MQS_ERR_PARSE. */
int mqs_ip_parse(const char *text, uint8_t addr[16]);

/* Canonical text: IPv4 networks as "a.b.c.d/p", IPv6 as "x::/p"; a full-length
 * prefix is written without "/p".  Returns MQS_OK or MQS_ERR_BUFSIZE. */
int mqs_cidr_format(const struct mqs_cidr *net, char *buf, size_t cap);

/* Return 1 when addr (16-byte form) lies in net, else 0. */
int mqs_cidr_contains(const struct mqs_cidr *net, const uint8_t addr[16]);

#endif
