/* SPDX-License-Identifier: BSD-3-Clause */
/* share-tool.c - a test-only command line over mqs_share.h, for the interop
 * test with tests/tools/shamir.py (docs/medical.md, "Wire format").  Keys
 * and shares in hex, one share per line:
 *
 *   share-tool tag-key RKHEX
 *   share-tool split N K TAGKEYHEX [IDHEX] < secret > N lines
 *   share-tool combine TAGKEYHEX < lines > secret   (tags checked first)
 *   share-tool record-seal RKHEX KEYID IDHEX TOPIC [ORIGIN] < record > secret
 *   share-tool record-open RKHEX KEYID IDHEX < secret > record
 *              ("topic: T" and "origin: O" on stderr)
 *
 * IDHEX is the 16-byte record id: the record envelope is bound to it.
 *
 * Exit status 0, 1 when shares or a record are refused, 2 on usage errors.
 * Not installed. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_share.h"
#include "mqs_util.h"

#define TOOL_IN_MAX (4u * 1024u * 1024u)

/* Decode exactly len bytes of hex; 0 on success. */
static int hex_decode(const char *s, uint8_t *out, size_t len)
{
	if (strlen(s) != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int hi = mqs_hex_digit(s[2 * i]), lo = mqs_hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static void hex_print(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		printf("%02x", p[i]);
	printf("\n");
}

static int write_out(const uint8_t *p, size_t len)
{
	return mqs_write_all(STDOUT_FILENO, p, len) == MQS_OK ? 0 : 1;
}

static int cmd_split(int argc, char **argv)
{
	uint8_t tk[32], id[MQS_SHARE_ID_LEN], *in = NULL, *out = NULL;
	size_t len = 0, one;
	unsigned n = (unsigned)atoi(argv[0]), k = (unsigned)atoi(argv[1]);
	int rc, ex = 1;

	if (hex_decode(argv[2], tk, 32) != 0 ||
	    (argc > 3 && hex_decode(argv[3], id, sizeof(id)) != 0))
		return 2;
	if (mqs_read_all(STDIN_FILENO, TOOL_IN_MAX, &in, &len) != MQS_OK)
		return 2;
	one = mqs_share_len(len);
	out = malloc(one * (n > 0 ? n : 1));
	if (out == NULL)
		goto out;
	rc = mqs_share_split(in, len, n, k, tk, argc > 3 ? id : NULL, NULL, out, one * n);
	if (rc != MQS_OK) {
		fprintf(stderr, "share-tool: cannot split: %s\n", mqs_strerror(rc));
		goto out;
	}
	for (unsigned i = 0; i < n; i++)
		hex_print(out + i * one, one);
	ex = 0;
out:
	mqs_secret_free(in, len);
	free(out);
	return ex;
}

static int cmd_combine(char **argv)
{
	uint8_t tk[32], *shares[MQS_SHARE_N_MAX] = {0}, xs[MQS_SHARE_N_MAX];
	const uint8_t *bodies[MQS_SHARE_N_MAX];
	struct mqs_share_hdr first, h;
	uint8_t *secret = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	unsigned have = 0;
	int ex = 1, rc;

	if (hex_decode(argv[0], tk, 32) != 0)
		return 2;
	memset(&first, 0, sizeof(first));
	for (;;) {
		size_t hl, blen;
		uint8_t *p;

		got = getline(&line, &cap, stdin);
		if (got <= 0)
			break;
		hl = (size_t)got;
		while (hl > 0 && (line[hl - 1] == '\n' || line[hl - 1] == '\r'))
			line[--hl] = '\0';
		if (hl == 0)
			continue;
		blen = hl / 2;
		p = malloc(blen > 0 ? blen : 1);
		if (p == NULL || hex_decode(line, p, blen) != 0) {
			free(p);
			fprintf(stderr, "share-tool: a line is not hex\n");
			ex = 2;
			goto out;
		}
		rc = mqs_share_parse(p, blen, &h);
		if (rc != MQS_OK || !mqs_share_tag_ok(p, blen, tk)) {
			fprintf(stderr, "share-tool: refused: %s\n",
			        rc != MQS_OK ? mqs_strerror(rc) : "header tag does not verify");
			free(p);
			goto out;
		}
		if (have == 0)
			first = h;
		if (h.n != first.n || h.k != first.k || h.secret_len != first.secret_len ||
		    memcmp(h.id, first.id, MQS_SHARE_ID_LEN) != 0) {
			fprintf(stderr, "share-tool: refused: inconsistent shares\n");
			free(p);
			goto out;
		}
		for (unsigned i = 0; i < have; i++) {
			if (xs[i] == h.x) {
				free(p);
				p = NULL;
				break;
			}
		}
		if (p == NULL)
			continue;
		if (have == first.k) {
			free(p);
			continue;
		}
		xs[have] = h.x;
		shares[have] = p;
		bodies[have] = p + MQS_SHARE_HDR_LEN;
		have++;
	}
	if (have == 0 || have < first.k) {
		fprintf(stderr, "share-tool: refused: %u distinct shares, %u needed\n", have,
		        (unsigned)first.k);
		goto out;
	}
	secret = malloc(first.secret_len);
	if (secret == NULL)
		goto out;
	rc = mqs_share_combine(have, xs, bodies, first.secret_len, secret);
	if (rc != MQS_OK) {
		fprintf(stderr, "share-tool: cannot combine: %s\n", mqs_strerror(rc));
		goto out;
	}
	ex = write_out(secret, first.secret_len);
out:
	for (unsigned i = 0; i < MQS_SHARE_N_MAX; i++)
		free(shares[i]);
	mqs_secret_free(secret, first.secret_len);
	free(line);
	return ex;
}

static int cmd_record_seal(int argc, char **argv)
{
	uint8_t rk[MQS_ENVELOPE_KEY_LEN], id[MQS_SHARE_ID_LEN], *in = NULL, *secret = NULL;
	size_t len = 0, slen = 0;
	int rc, ex = 1;

	if (hex_decode(argv[0], rk, sizeof(rk)) != 0 || hex_decode(argv[2], id, sizeof(id)) != 0)
		return 2;
	if (mqs_read_all(STDIN_FILENO, TOOL_IN_MAX, &in, &len) != MQS_OK)
		return 2;
	rc = mqs_share_record_seal(rk, (uint32_t)strtoul(argv[1], NULL, 10), id, argv[3],
	                           argc > 4 ? argv[4] : NULL, in, len, &secret, &slen);
	if (rc != MQS_OK) {
		fprintf(stderr, "share-tool: cannot seal: %s\n", mqs_strerror(rc));
		goto out;
	}
	ex = write_out(secret, slen);
out:
	mqs_secret_free(in, len);
	mqs_secret_free(secret, slen);
	return ex;
}

static int cmd_record_open(char **argv)
{
	uint8_t rk[MQS_ENVELOPE_KEY_LEN], id[MQS_SHARE_ID_LEN], *in = NULL, *plain = NULL;
	char origin[MQS_ENVELOPE_ORIGIN_MAX + 1], *topic = NULL;
	size_t len = 0, plen = 0;
	uint64_t ts = 0;
	int rc, ex = 1;

	if (hex_decode(argv[0], rk, sizeof(rk)) != 0 || hex_decode(argv[2], id, sizeof(id)) != 0)
		return 2;
	if (mqs_read_all(STDIN_FILENO, TOOL_IN_MAX, &in, &len) != MQS_OK)
		return 2;
	topic = malloc(MQS_ENVELOPE_TOPIC_MAX + 1);
	if (topic == NULL)
		goto out;
	rc = mqs_share_record_open(rk, (uint32_t)strtoul(argv[1], NULL, 10), id, in, len, topic,
	                           MQS_ENVELOPE_TOPIC_MAX + 1, origin, &plain, &plen, &ts);
	if (rc != MQS_OK) {
		fprintf(stderr, "share-tool: refused: %s\n", mqs_strerror(rc));
		goto out;
	}
	fprintf(stderr, "topic: %s\norigin: %s\n", topic, origin);
	ex = write_out(plain, plen);
out:
	mqs_secret_free(in, len);
	mqs_secret_free(plain, plen);
	free(topic);
	return ex;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "tag-key") == 0) {
		uint8_t rk[MQS_ENVELOPE_KEY_LEN], tk[32];

		if (hex_decode(argv[2], rk, sizeof(rk)) != 0 || mqs_share_tag_key(rk, tk) != MQS_OK)
			return 2;
		hex_print(tk, sizeof(tk));
		return 0;
	}
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "split") == 0)
		return cmd_split(argc - 2, argv + 2);
	if (argc == 3 && strcmp(argv[1], "combine") == 0)
		return cmd_combine(argv + 2);
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "record-seal") == 0)
		return cmd_record_seal(argc - 2, argv + 2);
	if (argc == 5 && strcmp(argv[1], "record-open") == 0)
		return cmd_record_open(argv + 2);
	fprintf(stderr, "usage: share-tool tag-key RKHEX | split N K TAGKEYHEX [IDHEX] | combine "
	                "TAGKEYHEX | record-seal RKHEX KEYID IDHEX TOPIC [ORIGIN] | record-open "
	                "RKHEX KEYID IDHEX\n");
	return 2;
}
