/* SPDX-License-Identifier: BSD-3-Clause */
/* test-master-key.c - master key file (create, load, modes, forms) and
 * secrets wrapped under it (mqs_master_key.h). */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mqs_error.h"
#include "mqs_master_key.h"

#include "tap.h"

#define MARKER 0xA5

static char tmpdir[256];

static void make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/mqs-test-mk-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(99);
	}
}

static void path_in(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", tmpdir, name);
}

/* Write exactly len bytes to path with mode. */
static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || fchmod(fd, mode) != 0) {
		perror(path);
		exit(99);
	}
	close(fd);
}

static int all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != 0)
			return 0;
	}
	return 1;
}

static void tohex(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

static void test_create_load(uint8_t mk[MQS_MASTER_KEY_LEN])
{
	char path[512], text[128], hex[65];
	uint8_t again[MQS_MASTER_KEY_LEN];
	struct stat st;
	FILE *fp;
	size_t n;
	int rc;

	path_in(path, sizeof(path), "master.key");
	rc = mqs_master_key_create(path);
	tap_is_int(rc, MQS_OK, "create a master key file");
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600, "file mode is 0600 (%o)",
	       (unsigned)(st.st_mode & 07777));
	fp = fopen(path, "r");
	n = fp ? fread(text, 1, sizeof(text) - 1, fp) : 0;
	if (fp)
		fclose(fp);
	text[n] = '\0';
	tap_ok(n == 65 && text[64] == '\n' && strspn(text, "0123456789abcdefABCDEF") == 64,
	       "file is 64 hex digits and a newline (%zu bytes)", n);

	memset(mk, MARKER, MQS_MASTER_KEY_LEN);
	rc = mqs_master_key_load(path, mk);
	tap_is_int(rc, MQS_OK, "load it back");
	tohex(mk, MQS_MASTER_KEY_LEN, hex);
	tap_ok(strncasecmp(hex, text, 64) == 0, "loaded key equals the hex in the file");
	tap_ok(!all_zero(mk, MQS_MASTER_KEY_LEN), "key is not all zero");

	rc = mqs_master_key_create(path);
	tap_is_int(rc, MQS_ERR_EXISTS, "create refuses an existing file");
	rc = mqs_master_key_load(path, again);
	tap_ok(rc == MQS_OK && memcmp(again, mk, sizeof(again)) == 0,
	       "the existing file is untouched");

	{
		char p2[512];
		uint8_t k2[MQS_MASTER_KEY_LEN];
		path_in(p2, sizeof(p2), "master2.key");
		rc = mqs_master_key_create(p2);
		tap_ok(rc == MQS_OK && mqs_master_key_load(p2, k2) == MQS_OK &&
		           memcmp(k2, mk, sizeof(k2)) != 0,
		       "a second master key differs from the first");
	}

	path_in(path, sizeof(path), "no/such/dir/master.key");
	rc = mqs_master_key_create(path);
	tap_ok(rc == MQS_ERR_IO || rc == MQS_ERR_NOENT, "create in a missing folder fails (got %d)",
	       rc);
}

static void test_modes(void)
{
	char path[512], text[80];
	uint8_t key[MQS_MASTER_KEY_LEN], want[MQS_MASTER_KEY_LEN];
	const mode_t bad[] = {0640, 0644, 0604, 0660, 0666, 0440};
	int rc;

	for (int i = 0; i < MQS_MASTER_KEY_LEN; i++)
		want[i] = (uint8_t)(0xf0 - i);
	tohex(want, sizeof(want), text);
	strcat(text, "\n");
	path_in(path, sizeof(path), "mode.key");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, text, strlen(text), bad[i]);
		memset(key, MARKER, sizeof(key));
		rc = mqs_master_key_load(path, key);
		tap_is_int(rc, MQS_ERR_PERM, "load refuses mode %04o", (unsigned)bad[i]);
		tap_ok(all_zero(key, sizeof(key)), "key buffer is wiped after mode %04o",
		       (unsigned)bad[i]);
	}
	write_file(path, text, strlen(text), 0400);
	rc = mqs_master_key_load(path, key);
	tap_ok(rc == MQS_OK && memcmp(key, want, sizeof(key)) == 0, "mode 0400 is accepted");

	path_in(path, sizeof(path), "absent.key");
	memset(key, MARKER, sizeof(key));
	rc = mqs_master_key_load(path, key);
	tap_is_int(rc, MQS_ERR_NOENT, "load of a missing file is MQS_ERR_NOENT");
	tap_ok(all_zero(key, sizeof(key)), "key buffer is wiped after NOENT");
}

static void test_forms(void)
{
	char path[512], text[160];
	uint8_t key[MQS_MASTER_KEY_LEN], want[MQS_MASTER_KEY_LEN], raw[80];
	int rc;

	for (int i = 0; i < MQS_MASTER_KEY_LEN; i++)
		want[i] = (uint8_t)i; /* holds 0x0a and 0x00: must stay raw */
	path_in(path, sizeof(path), "form.key");

	write_file(path, want, 32, 0600);
	rc = mqs_master_key_load(path, key);
	tap_ok(rc == MQS_OK && memcmp(key, want, 32) == 0, "raw 32-byte file is accepted");

	tohex(want, 32, text);
	write_file(path, text, 64, 0600);
	rc = mqs_master_key_load(path, key);
	tap_ok(rc == MQS_OK && memcmp(key, want, 32) == 0, "64 hex digits without newline");
	strcat(text, "\n");
	write_file(path, text, 65, 0600);
	rc = mqs_master_key_load(path, key);
	tap_ok(rc == MQS_OK && memcmp(key, want, 32) == 0, "64 hex digits and a newline");

	/* wrong sizes and contents */
	{
		struct {
			const char *what;
			size_t len;
		} cases[] = {{"empty file", 0},    {"1 byte", 1},         {"31 raw bytes", 31},
		             {"33 raw bytes", 33}, {"63 hex digits", 63}, {"66 hex digits", 66},
		             {"64 bytes", 64}};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			if (strcmp(cases[i].what, "64 bytes") == 0) {
				memset(raw, 'z', 64); /* 64 non-hex characters */
			} else if (strstr(cases[i].what, "hex") != NULL) {
				memset(raw, 'a', sizeof(raw));
			} else {
				for (size_t j = 0; j < sizeof(raw); j++)
					raw[j] = (uint8_t)(j + 1);
			}
			write_file(path, raw, cases[i].len, 0600);
			memset(key, MARKER, sizeof(key));
			rc = mqs_master_key_load(path, key);
			tap_is_int(rc, MQS_ERR_PARSE, "%s is MQS_ERR_PARSE", cases[i].what);
			tap_ok(all_zero(key, sizeof(key)), "key buffer wiped after %s",
			       cases[i].what);
		}
	}
	tohex(want, 32, text);
	text[10] = 'g';
	strcat(text, "\n");
	write_file(path, text, 65, 0600);
	rc = mqs_master_key_load(path, key);
	tap_is_int(rc, MQS_ERR_PARSE,
	           "64 digits with a non-hex one and a newline is MQS_ERR_PARSE");
}

static void test_wrap(const uint8_t mk[MQS_MASTER_KEY_LEN])
{
	uint8_t plain[MQS_WRAP_MAX_PLAIN + 1], w1[MQS_WRAP_MAX_PLAIN + 64],
	    w2[MQS_WRAP_MAX_PLAIN + 64], out[MQS_WRAP_MAX_PLAIN + 64];
	uint8_t other[MQS_MASTER_KEY_LEN];
	size_t l1 = 0, l2 = 0, ol = 0;
	const char *aad = "key:17:topic";
	int rc, bad;

	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)("SECRET-KEY-BYTES"[i % 16] ^ (i / 16));

	rc = mqs_wrap_seal(mk, aad, plain, 32, w1, sizeof(w1), &l1);
	tap_ok(rc == MQS_OK && l1 == 32 + MQS_WRAP_OVERHEAD, "wrap 32 bytes (%zu)", l1);
	tap_is_int(w1[0], 1, "wrapped version byte is 1");
	tap_ok(memmem(w1, l1, plain, 8) == NULL, "wrapped blob does not hold the secret");
	rc = mqs_wrap_seal(mk, aad, plain, 32, w2, sizeof(w2), &l2);
	tap_ok(rc == MQS_OK && l2 == l1 && memcmp(w1 + 1, w2 + 1, 12) != 0,
	       "a second wrap uses a fresh nonce");

	memset(out, MARKER, sizeof(out));
	rc = mqs_wrap_open(mk, aad, w1, l1, out, sizeof(out), &ol);
	tap_ok(rc == MQS_OK && ol == 32 && memcmp(out, plain, 32) == 0, "unwrap round trip");
	rc = mqs_wrap_open(mk, aad, w1, l1, out, 32, &ol);
	tap_ok(rc == MQS_OK && ol == 32, "unwrap into an exact-size buffer");

	/* wrong master key */
	memcpy(other, mk, sizeof(other));
	other[0] ^= 1;
	memset(out, MARKER, sizeof(out));
	ol = 99;
	rc = mqs_wrap_open(other, aad, w1, l1, out, sizeof(out), &ol);
	tap_is_int(rc, MQS_ERR_UNWRAP, "unwrap with a wrong master key is MQS_ERR_UNWRAP");
	tap_ok(ol == 0 && memmem(out, sizeof(out), plain, 8) == NULL,
	       "out_len 0 and no secret in out after a wrong master key");
	/* wrong aad */
	memset(out, MARKER, sizeof(out));
	ol = 99;
	rc = mqs_wrap_open(mk, "key:18:topic", w1, l1, out, sizeof(out), &ol);
	tap_ok(rc == MQS_ERR_UNWRAP && ol == 0 && memmem(out, sizeof(out), plain, 8) == NULL,
	       "unwrap with another aad is MQS_ERR_UNWRAP and wipes (got %d)", rc);
	rc = mqs_wrap_open(mk, "key:17:topi", w1, l1, out, sizeof(out), &ol);
	tap_is_int(rc, MQS_ERR_UNWRAP, "unwrap with a prefix of the aad is MQS_ERR_UNWRAP");
	rc = mqs_wrap_open(mk, "", w1, l1, out, sizeof(out), &ol);
	tap_is_int(rc, MQS_ERR_UNWRAP, "unwrap with an empty aad is MQS_ERR_UNWRAP");

	/* every corrupted byte */
	bad = 0;
	for (size_t pos = 0; pos < l1; pos++) {
		memcpy(w2, w1, l1);
		w2[pos] ^= 0x10;
		memset(out, MARKER, sizeof(out));
		ol = 99;
		rc = mqs_wrap_open(mk, aad, w2, l1, out, sizeof(out), &ol);
		if (rc != MQS_ERR_UNWRAP || ol != 0 || memmem(out, sizeof(out), plain, 8) != NULL) {
			tap_diag("corrupt byte %zu: got %d", pos, rc);
			bad++;
		}
	}
	tap_is_int(bad, 0, "every corrupted byte is MQS_ERR_UNWRAP with out wiped");
	/* truncated */
	bad = 0;
	for (size_t len = 0; len < l1; len++) {
		ol = 99;
		rc = mqs_wrap_open(mk, aad, w1, len, out, sizeof(out), &ol);
		if (rc == MQS_OK || ol != 0 || memmem(out, sizeof(out), plain, 8) != NULL) {
			tap_diag("truncated to %zu: got %d", len, rc);
			bad++;
		}
	}
	tap_is_int(bad, 0, "every truncated wrap is refused");

	/* sizes and buffers */
	rc = mqs_wrap_seal(mk, aad, plain, 0, w1, sizeof(w1), &l1);
	tap_ok(rc == MQS_OK && l1 == MQS_WRAP_OVERHEAD, "wrap of 0 bytes");
	rc = mqs_wrap_open(mk, aad, w1, l1, out, sizeof(out), &ol);
	tap_ok(rc == MQS_OK && ol == 0, "unwrap of 0 bytes");
	rc = mqs_wrap_seal(mk, aad, plain, MQS_WRAP_MAX_PLAIN, w1, sizeof(w1), &l1);
	tap_ok(rc == MQS_OK && l1 == MQS_WRAP_MAX_PLAIN + MQS_WRAP_OVERHEAD, "wrap of 4096 bytes");
	rc = mqs_wrap_open(mk, aad, w1, l1, out, sizeof(out), &ol);
	tap_ok(rc == MQS_OK && ol == MQS_WRAP_MAX_PLAIN && memcmp(out, plain, ol) == 0,
	       "unwrap of 4096 bytes");
	memset(out, MARKER, sizeof(out));
	rc = mqs_wrap_open(mk, aad, w1, l1, out, MQS_WRAP_MAX_PLAIN - 1, &ol);
	tap_ok(rc == MQS_ERR_BUFSIZE && ol == 0 && memmem(out, sizeof(out), plain, 8) == NULL,
	       "unwrap into a too-small buffer is MQS_ERR_BUFSIZE (got %d)", rc);
	l1 = 99;
	rc = mqs_wrap_seal(mk, aad, plain, MQS_WRAP_MAX_PLAIN + 1, w1, sizeof(w1), &l1);
	tap_is_int(rc, MQS_ERR_TOOBIG, "wrap of 4097 bytes is MQS_ERR_TOOBIG");
	rc = mqs_wrap_seal(mk, aad, plain, 32, w1, 32 + MQS_WRAP_OVERHEAD - 1, &l1);
	tap_is_int(rc, MQS_ERR_BUFSIZE, "wrap into a too-small buffer is MQS_ERR_BUFSIZE");
	rc = mqs_wrap_seal(NULL, aad, plain, 32, w1, sizeof(w1), &l1);
	tap_is_int(rc, MQS_ERR_INVAL, "wrap with a NULL master key is MQS_ERR_INVAL");
	rc = mqs_wrap_open(NULL, aad, w2, 61, out, sizeof(out), &ol);
	tap_is_int(rc, MQS_ERR_INVAL, "unwrap with a NULL master key is MQS_ERR_INVAL");
}

static void cleanup(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", tmpdir);
}

int main(void)
{
	uint8_t mk[MQS_MASTER_KEY_LEN];

	make_tmpdir();
	test_create_load(mk);
	test_modes();
	test_forms();
	test_wrap(mk);
	cleanup();
	tap_done();
	return tap_exit();
}
