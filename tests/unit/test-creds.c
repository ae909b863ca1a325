/* SPDX-License-Identifier: BSD-3-Clause */
/* test-creds.c - the credentials file (docs/acl.md, "Devices"; mqs_creds.h): parse, unknown
 * fields, round trip, file modes, and malformed input. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mqs_creds.h"
#include "mqs_error.h"
#include "mqs_util.h"

#include "tap.h"

static char tmpdir[256];

/* base64 of bytes 0x00..0x1f and 0x20..0x3f; base32 of "12345678901234567890" */
#define KEY_A  "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_B  "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
#define SECRET "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

static const char example[] =
    "{\"username\": \"dev1\",\n"
    " \"totp\": {\"secret\": \"" SECRET "\", \"digits\": 6, \"period\": 30, "
    "\"algorithm\": \"SHA1\"},\n"
    " \"keys\": [{\"id\": 17, \"key\": \"" KEY_A "\", \"use\": \"device\"},\n"
    "          {\"id\": 42, \"key\": \"" KEY_B "\", \"use\": \"topic\", \"topic\": "
    "\"alerts/#\"}]}\n";

static void make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/mqs-test-creds-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(99);
	}
}

static int is_empty(const struct mqs_creds *c)
{
	return c->username == NULL && c->keys == NULL && c->nkeys == 0 && c->totp_secret_len == 0;
}

/* Check that c holds the example's content. */
static int is_example(const struct mqs_creds *c)
{
	uint8_t a[32], b[32];

	for (int i = 0; i < 32; i++) {
		a[i] = (uint8_t)i;
		b[i] = (uint8_t)(32 + i);
	}
	return c->username != NULL && strcmp(c->username, "dev1") == 0 && c->has_totp &&
	       c->totp.digits == 6 && c->totp.period == 30 && c->totp.algorithm == MQS_TOTP_SHA1 &&
	       c->totp_secret_len == 20 &&
	       memcmp(c->totp_secret, "12345678901234567890", 20) == 0 && c->nkeys == 2 &&
	       c->keys[0].id == 17 && c->keys[0].use == MQS_CREDS_USE_DEVICE &&
	       c->keys[0].topic == NULL && memcmp(c->keys[0].key, a, 32) == 0 &&
	       c->keys[1].id == 42 && c->keys[1].use == MQS_CREDS_USE_TOPIC &&
	       c->keys[1].topic != NULL && strcmp(c->keys[1].topic, "alerts/#") == 0 &&
	       memcmp(c->keys[1].key, b, 32) == 0;
}

/* Return 1 when a and b hold the same credentials. */
static int creds_equal(const struct mqs_creds *a, const struct mqs_creds *b)
{
	if ((a->username == NULL) != (b->username == NULL) ||
	    (a->username && strcmp(a->username, b->username) != 0) || a->has_totp != b->has_totp ||
	    a->nkeys != b->nkeys)
		return 0;
	if (a->has_totp &&
	    (a->totp.digits != b->totp.digits || a->totp.period != b->totp.period ||
	     a->totp.algorithm != b->totp.algorithm || a->totp_secret_len != b->totp_secret_len ||
	     memcmp(a->totp_secret, b->totp_secret, a->totp_secret_len) != 0))
		return 0;
	for (size_t i = 0; i < a->nkeys; i++) {
		const struct mqs_creds_key *x = &a->keys[i], *y = &b->keys[i];
		if (x->id != y->id || x->use != y->use || memcmp(x->key, y->key, 32) != 0 ||
		    (x->topic == NULL) != (y->topic == NULL) ||
		    (x->topic && strcmp(x->topic, y->topic) != 0) ||
		    (x->name == NULL) != (y->name == NULL) ||
		    (x->name && strcmp(x->name, y->name) != 0))
			return 0;
	}
	return 1;
}

static int parse_str(const char *json, struct mqs_creds *c)
{
	char err[256] = "";

	return mqs_creds_parse(json, strlen(json), c, err, sizeof(err));
}

static void test_parse_example(void)
{
	struct mqs_creds c, d;
	char err[256] = "";
	char *json = NULL, *copy;
	int rc;

	mqs_creds_init(&c);
	rc = mqs_creds_parse(example, strlen(example), &c, err, sizeof(err));
	tap_ok(rc == MQS_OK, "parse the documented example shape (docs/acl.md) (%s)", err);
	tap_ok(is_example(&c), "every field as written");
	tap_ok(mqs_creds_device_key(&c) == &c.keys[0], "device_key is the id 17 key");
	tap_ok(mqs_creds_find_key(&c, 42) == &c.keys[1], "find_key(42)");
	tap_ok(mqs_creds_find_key(&c, 99) == NULL, "find_key(99) is NULL");

	/* not NUL-terminated input: exactly len bytes in their own allocation */
	copy = malloc(strlen(example));
	memcpy(copy, example, strlen(example));
	mqs_creds_init(&d);
	rc = mqs_creds_parse(copy, strlen(example), &d, NULL, 0);
	tap_ok(rc == MQS_OK && is_example(&d), "parse reads only len bytes (no terminator)");
	mqs_creds_release(&d);
	free(copy);

	/* round trip */
	rc = mqs_creds_to_json(&c, &json);
	tap_ok(rc == MQS_OK && json != NULL, "to_json");
	mqs_creds_init(&d);
	rc = json ? mqs_creds_parse(json, strlen(json), &d, err, sizeof(err)) : -1;
	tap_ok(rc == MQS_OK && creds_equal(&c, &d), "to_json -> parse round trip (%s)", err);
	if (json != NULL) {
		tap_ok(strstr(json, KEY_A) != NULL && strstr(json, KEY_B) != NULL &&
		           strstr(json, SECRET) != NULL && strstr(json, "\"use\"") != NULL,
		       "json carries base64 keys, base32 secret and use");
		mqs_secret_free_str(json);
	}
	mqs_creds_release(&d);
	mqs_creds_release(&c);
	tap_ok(is_empty(&c), "release leaves an empty struct");
	mqs_creds_release(&c);
	mqs_creds_release(NULL);
	tap_ok(1, "release twice and release(NULL) are fine");
}

static void test_unknown_and_optional(void)
{
	struct mqs_creds c;
	int rc;
	const char *unknown =
	    "{\"comment\": \"made by hand\", \"username\": \"dev1\", \"version\": 3,"
	    " \"extra\": {\"nested\": [1, 2, {\"x\": null}]},"
	    " \"totp\": {\"secret\": \"" SECRET "\", \"digits\": 6, \"period\": 30,"
	    " \"algorithm\": \"SHA1\", \"label\": \"x\", \"issuer\": true},"
	    " \"keys\": [{\"id\": 17, \"key\": \"" KEY_A "\", \"use\": \"device\", "
	    "\"created\": 12345},"
	    "  {\"note\": [], \"id\": 42, \"key\": \"" KEY_B "\", \"use\": \"topic\", "
	    "\"topic\": \"alerts/#\"}],"
	    " \"trailer\": 1.5}";

	mqs_creds_init(&c);
	rc = parse_str(unknown, &c);
	tap_ok(rc == MQS_OK && is_example(&c), "unknown fields at every level are ignored");
	mqs_creds_release(&c);

	rc = parse_str("{\"username\": \"gw\", \"keys\": []}", &c);
	tap_ok(rc == MQS_OK && c.has_totp == 0 && c.nkeys == 0 && strcmp(c.username, "gw") == 0,
	       "totp and keys are optional (has_totp 0)");
	mqs_creds_release(&c);

	rc = parse_str("{\"username\": \"d8\", \"totp\": {\"secret\": \"" SECRET
	               "\", \"digits\": 8, \"period\": 60, \"algorithm\": \"SHA256\"}}",
	               &c);
	tap_ok(rc == MQS_OK && c.has_totp && c.totp.digits == 8 && c.totp.period == 60 &&
	           c.totp.algorithm == MQS_TOTP_SHA256,
	       "8 digits, period 60, SHA256");
	mqs_creds_release(&c);

	rc = parse_str("{\"username\": \"d\", \"totp\": {\"secret\": \"gezd gnbv gy3t qojq gezd "
	               "gnbv gy3t qojq\", \"digits\": 6, \"period\": 30, \"algorithm\": "
	               "\"sha1\"}}",
	               &c);
	tap_ok(rc == MQS_OK && c.totp_secret_len == 20 &&
	           memcmp(c.totp_secret, "12345678901234567890", 20) == 0,
	       "base32 secret: case and spaces ignored");
	mqs_creds_release(&c);
}

static void test_malformed(void)
{
	static const struct {
		const char *what;
		const char *json;
	} bad[] = {
	    {"empty text", ""},
	    {"just {", "{"},
	    {"array", "[]"},
	    {"null", "null"},
	    {"string", "\"dev1\""},
	    {"missing value", "{\"username\": }"},
	    {"trailing comma", "{\"username\": \"dev1\",}"},
	    {"missing username", "{\"keys\": []}"},
	    {"username null", "{\"username\": null}"},
	    {"username number", "{\"username\": 17}"},
	    {"username empty", "{\"username\": \"\"}"},
	    {"keys object", "{\"username\": \"d\", \"keys\": {}}"},
	    {"keys string", "{\"username\": \"d\", \"keys\": \"x\"}"},
	    {"key entry not object", "{\"username\": \"d\", \"keys\": [17]}"},
	    {"id string", "{\"username\": \"d\", \"keys\": [{\"id\": \"17\", \"key\": \"" KEY_A
	                  "\", \"use\": \"device\"}]}"},
	    {"id missing",
	     "{\"username\": \"d\", \"keys\": [{\"key\": \"" KEY_A "\", \"use\": \"device\"}]}"},
	    {"id negative", "{\"username\": \"d\", \"keys\": [{\"id\": -1, \"key\": \"" KEY_A
	                    "\", \"use\": \"device\"}]}"},
	    {"id 2^32", "{\"username\": \"d\", \"keys\": [{\"id\": 4294967296, \"key\": \"" KEY_A
	                "\", \"use\": \"device\"}]}"},
	    {"id fractional", "{\"username\": \"d\", \"keys\": [{\"id\": 1.5, \"key\": \"" KEY_A
	                      "\", \"use\": \"device\"}]}"},
	    {"key number", "{\"username\": \"d\", \"keys\": [{\"id\": 1, \"key\": 5, \"use\": "
	                   "\"device\"}]}"},
	    {"key missing", "{\"username\": \"d\", \"keys\": [{\"id\": 1, \"use\": \"device\"}]}"},
	    {"key 31 bytes", "{\"username\": \"d\", \"keys\": [{\"id\": 1, \"key\": "
	                     "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\", \"use\": "
	                     "\"device\"}]}"},
	    {"key 33 bytes", "{\"username\": \"d\", \"keys\": [{\"id\": 1, \"key\": "
	                     "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\", \"use\": "
	                     "\"device\"}]}"},
	    {"key empty", "{\"username\": \"d\", \"keys\": [{\"id\": 1, \"key\": \"\", \"use\": "
	                  "\"device\"}]}"},
	    {"key bad base64", "{\"username\": \"d\", \"keys\": [{\"id\": 1, \"key\": "
	                       "\"!!!!AwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\", \"use\": "
	                       "\"device\"}]}"},
	    {"key base64 without padding",
	     "{\"username\": \"d\", \"keys\": [{\"id\": 1, \"key\": "
	     "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\", \"use\": \"device\"}]}"},
	    {"use number",
	     "{\"username\": \"d\", \"keys\": [{\"id\": 1, \"key\": \"" KEY_A "\", \"use\": 1}]}"},
	    {"topic number", "{\"username\": \"d\", \"keys\": [{\"id\": 1, \"key\": \"" KEY_A
	                     "\", \"use\": \"topic\", \"topic\": 5}]}"},
	    {"totp string", "{\"username\": \"d\", \"totp\": \"x\"}"},
	    {"totp secret missing", "{\"username\": \"d\", \"totp\": {\"digits\": 6}}"},
	    {"totp bad base32", "{\"username\": \"d\", \"totp\": {\"secret\": \"0189!!@@\", "
	                        "\"digits\": 6, \"period\": 30, \"algorithm\": \"SHA1\"}}"},
	    {"totp secret number", "{\"username\": \"d\", \"totp\": {\"secret\": 12, \"digits\": "
	                           "6, \"period\": 30, \"algorithm\": \"SHA1\"}}"},
	    {"totp secret too long",
	     "{\"username\": \"d\", \"totp\": {\"secret\": \"" SECRET SECRET SECRET SECRET SECRET
	     "\", \"digits\": 6, \"period\": 30, \"algorithm\": \"SHA1\"}}"},
	    {"totp digits string", "{\"username\": \"d\", \"totp\": {\"secret\": \"" SECRET
	                           "\", \"digits\": \"6\", \"period\": 30, \"algorithm\": "
	                           "\"SHA1\"}}"},
	    {"totp digits 7", "{\"username\": \"d\", \"totp\": {\"secret\": \"" SECRET
	                      "\", \"digits\": 7, \"period\": 30, \"algorithm\": \"SHA1\"}}"},
	    {"totp period 0", "{\"username\": \"d\", \"totp\": {\"secret\": \"" SECRET
	                      "\", \"digits\": 6, \"period\": 0, \"algorithm\": \"SHA1\"}}"},
	    {"totp algorithm MD5", "{\"username\": \"d\", \"totp\": {\"secret\": \"" SECRET
	                           "\", \"digits\": 6, \"period\": 30, \"algorithm\": "
	                           "\"MD5\"}}"},
	};
	struct mqs_creds c;
	char err[256];
	int rc;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mqs_creds_init(&c);
		err[0] = '\0';
		rc = mqs_creds_parse(bad[i].json, strlen(bad[i].json), &c, err, sizeof(err));
		tap_ok(rc == MQS_ERR_PARSE && is_empty(&c), "%s is MQS_ERR_PARSE (got %d: %s)",
		       bad[i].what, rc, err);
		mqs_creds_release(&c);
	}
	/* NULL errbuf */
	mqs_creds_init(&c);
	rc = mqs_creds_parse("{", 1, &c, NULL, 0);
	tap_is_int(rc, MQS_ERR_PARSE, "errbuf may be NULL");

	/* username above its cap */
	{
		char json[600], name[300];
		memset(name, 'u', 256);
		name[256] = '\0';
		snprintf(json, sizeof(json), "{\"username\": \"%s\"}", name);
		rc = parse_str(json, &c);
		tap_ok(rc != MQS_OK && is_empty(&c), "a 256-byte username is refused (got %d)", rc);
		mqs_creds_release(&c);
		name[255] = '\0';
		snprintf(json, sizeof(json), "{\"username\": \"%s\"}", name);
		rc = parse_str(json, &c);
		tap_ok(rc == MQS_OK && strlen(c.username) == 255, "a 255-byte username is fine");
		mqs_creds_release(&c);
	}
	/* oversize text */
	{
		size_t n = MQS_CREDS_FILE_MAX + 1;
		char *big = malloc(n + 1);
		int off = snprintf(big, n, "{\"username\": \"d\", \"pad\": \"");
		memset(big + off, 'p', n - (size_t)off - 2);
		memcpy(big + n - 2, "\"}", 2);
		big[n] = '\0';
		rc = mqs_creds_parse(big, n, &c, NULL, 0);
		tap_ok(rc == MQS_ERR_TOOBIG && is_empty(&c),
		       "text above 256 KiB is MQS_ERR_TOOBIG");
		free(big);
	}
	/* too many keys */
	{
		size_t cap = (MQS_CREDS_KEYS_MAX + 2) * 100 + 100, len;
		char *json = malloc(cap);
		len = (size_t)snprintf(json, cap, "{\"username\": \"d\", \"keys\": [");
		for (unsigned i = 0; i <= MQS_CREDS_KEYS_MAX; i++)
			len += (size_t)snprintf(json + len, cap - len,
			                        "%s{\"id\": %u, \"key\": \"" KEY_A
			                        "\", \"use\": \"device\"}",
			                        i ? "," : "", i + 1);
		snprintf(json + len, cap - len, "]}");
		rc = parse_str(json, &c);
		tap_ok(rc != MQS_OK && is_empty(&c), "%d keys are refused (got %d)",
		       MQS_CREDS_KEYS_MAX + 1, rc);
		mqs_creds_release(&c);
		/* exactly the cap is fine */
		len = (size_t)snprintf(json, cap, "{\"username\": \"d\", \"keys\": [");
		for (unsigned i = 0; i < MQS_CREDS_KEYS_MAX; i++)
			len += (size_t)snprintf(json + len, cap - len,
			                        "%s{\"id\": %u, \"key\": \"" KEY_A
			                        "\", \"use\": \"device\"}",
			                        i ? "," : "", i + 1);
		snprintf(json + len, cap - len, "]}");
		rc = parse_str(json, &c);
		tap_ok(rc == MQS_OK && c.nkeys == MQS_CREDS_KEYS_MAX, "%d keys are fine",
		       MQS_CREDS_KEYS_MAX);
		mqs_creds_release(&c);
		free(json);
	}
	/* deep nesting in an unknown field must not crash */
	{
		size_t depth = 20000, len = 0;
		char *json = malloc(2 * depth + 64);
		len += (size_t)sprintf(json, "{\"username\": \"d\", \"x\": ");
		memset(json + len, '[', depth);
		len += depth;
		memset(json + len, ']', depth);
		len += depth;
		json[len++] = '}';
		json[len] = '\0';
		rc = parse_str(json, &c);
		tap_ok(1, "20000 nested arrays do not crash (got %d)", rc);
		mqs_creds_release(&c);
		free(json);
	}
}

static void test_build(void)
{
	struct mqs_creds c, d;
	uint8_t key[32];
	char *json = NULL, name[300];
	int rc;

	memset(key, 0x77, sizeof(key));
	mqs_creds_init(&c);
	tap_is_int(mqs_creds_set_username(&c, "gateway-1"), MQS_OK, "set_username");
	tap_is_int(mqs_creds_set_username(&c, "gateway-2"), MQS_OK, "set_username again");
	memset(name, 'n', 256);
	name[256] = '\0';
	tap_ok(mqs_creds_set_username(&c, name) != MQS_OK && strcmp(c.username, "gateway-2") == 0,
	       "a 256-byte username is refused and the old one kept");
	tap_is_int(mqs_creds_add_key(&c, 7, MQS_CREDS_USE_DEVICE, NULL, key), MQS_OK,
	           "add a device key");
	key[0] = 1;
	tap_is_int(mqs_creds_add_key(&c, 8, MQS_CREDS_USE_TOPIC, "medical/+/record", key), MQS_OK,
	           "add a topic key");
	tap_is_int(mqs_creds_add_key(&c, 9, 5, NULL, key), MQS_ERR_INVAL,
	           "add with an unknown use is MQS_ERR_INVAL");
	tap_is_int(mqs_creds_add_key(&c, 9, MQS_CREDS_USE_TOPIC, NULL, key), MQS_ERR_INVAL,
	           "a topic key without a topic is MQS_ERR_INVAL");
	tap_ok(c.nkeys == 2 && c.keys[1].topic != NULL &&
	           strcmp(c.keys[1].topic, "medical/+/record") == 0,
	       "two keys");
	rc = mqs_creds_to_json(&c, &json);
	mqs_creds_init(&d);
	rc = rc == MQS_OK ? parse_str(json, &d) : rc;
	tap_ok(rc == MQS_OK && creds_equal(&c, &d) && d.has_totp == 0,
	       "built credentials round trip without totp");
	if (json)
		mqs_secret_free_str(json);
	mqs_creds_release(&d);
	mqs_creds_release(&c);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    fchmod(fd, mode) != 0)
		exit(99);
	close(fd);
}

static void test_files(void)
{
	struct mqs_creds c, d;
	char path[512], err[256];
	struct stat st;
	const mode_t bad[] = {0640, 0644, 0604, 0660};
	int rc;

	snprintf(path, sizeof(path), "%s/dev1.json", tmpdir);
	mqs_creds_init(&c);
	mqs_creds_init(&d);
	parse_str(example, &c);
	rc = mqs_creds_save(path, &c);
	tap_is_int(rc, MQS_OK, "save");
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600, "saved file mode is 0600 (%o)",
	       (unsigned)(st.st_mode & 07777));
	rc = mqs_creds_load(path, &d, err, sizeof(err));
	tap_ok(rc == MQS_OK && creds_equal(&c, &d), "load what was saved");
	mqs_creds_release(&d);
	/* save over an existing file (atomic replace) */
	mqs_creds_set_username(&c, "dev2");
	rc = mqs_creds_save(path, &c);
	tap_ok(rc == MQS_OK && mqs_creds_load(path, &d, NULL, 0) == MQS_OK &&
	           strcmp(d.username, "dev2") == 0,
	       "save replaces an existing file");
	mqs_creds_release(&d);
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600, "still mode 0600");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, example, bad[i]);
		rc = mqs_creds_load(path, &d, err, sizeof(err));
		tap_ok(rc == MQS_ERR_PERM && is_empty(&d), "load refuses mode %04o",
		       (unsigned)bad[i]);
		mqs_creds_release(&d);
	}
	write_file(path, example, 0400);
	rc = mqs_creds_load(path, &d, err, sizeof(err));
	tap_ok(rc == MQS_OK && is_example(&d), "load accepts mode 0400");
	mqs_creds_release(&d);
	write_file(path, "{\"username\": ", 0600);
	rc = mqs_creds_load(path, &d, err, sizeof(err));
	tap_ok(rc == MQS_ERR_PARSE && err[0] != '\0', "malformed file is MQS_ERR_PARSE (%s)", err);
	snprintf(path, sizeof(path), "%s/absent.json", tmpdir);
	rc = mqs_creds_load(path, &d, err, sizeof(err));
	tap_is_int(rc, MQS_ERR_NOENT, "missing file is MQS_ERR_NOENT");
	{
		size_t n = MQS_CREDS_FILE_MAX + 10;
		char *big = malloc(n + 1);
		memset(big, ' ', n);
		memcpy(big, "{\"username\": \"d\"}", 17);
		big[n] = '\0';
		snprintf(path, sizeof(path), "%s/big.json", tmpdir);
		write_file(path, big, 0600);
		rc = mqs_creds_load(path, &d, err, sizeof(err));
		tap_is_int(rc, MQS_ERR_TOOBIG, "file above 256 KiB is MQS_ERR_TOOBIG");
		free(big);
	}
	mqs_creds_release(&c);
}

/* Record keys (docs/medical.md, "Record keys"): "use": "record" with a
 * name, key files without username, and record keys never standing in for
 * device or topic keys. */
static void test_record_keys(void)
{
	static const char keyfile[] =
	    "{\"keys\": [{\"id\": 7, \"key\": \"" KEY_A "\", \"use\": \"record\", "
	    "\"name\": \"vitals\"}]}";
	static const char keyfile2[] =
	    "{\"keys\": [{\"id\": 8, \"key\": \"" KEY_B "\", \"use\": \"record\", "
	    "\"name\": \"lab-2.x\"}]}";
	static const char *const bad[] = {
	    "{\"keys\": [{\"id\": 7, \"key\": \"" KEY_A "\", \"use\": \"record\"}]}",
	    "{\"keys\": [{\"id\": 7, \"key\": \"" KEY_A
	    "\", \"use\": \"record\", \"name\": \"\"}]}",
	    "{\"keys\": [{\"id\": 7, \"key\": \"" KEY_A
	    "\", \"use\": \"record\", \"name\": \"a b\"}]}",
	    "{\"keys\": [{\"id\": 7, \"key\": \"" KEY_A "\", \"use\": \"record\", \"name\": 5}]}",
	    "{\"keys\": [{\"id\": 7, \"key\": \"" KEY_A "\", \"use\": \"record\", \"name\": \"v\"},"
	    "{\"id\": 8, \"key\": \"" KEY_B "\", \"use\": \"record\", \"name\": \"v\"}]}",
	    "{\"keys\": [{\"id\": 7, \"key\": \"" KEY_A "\", \"use\": \"sms\"}]}",
	};
	struct mqs_creds c, d;
	char err[256] = "", path[512], *json = NULL;
	char longname[MQS_CREDS_NAME_MAX + 2];
	uint8_t key[32] = {9};
	const struct mqs_creds_key *k;
	int rc;

	mqs_creds_init(&c);
	mqs_creds_init(&d);
	/* key file without username or totp */
	rc = mqs_creds_parse_keys(keyfile, strlen(keyfile), &c, err, sizeof(err));
	tap_ok(rc == MQS_OK && c.nkeys == 1 && c.username == NULL,
	       "parse_keys: record key file (%s)", err);
	k = mqs_creds_record_key(&c, "vitals");
	tap_ok(k != NULL && k->id == 7 && k->use == MQS_CREDS_USE_RECORD && k->topic == NULL &&
	           k->key[1] == 1,
	       "record_key(vitals)");
	tap_ok(mqs_creds_record_key(&c, "other") == NULL && mqs_creds_record_key(&c, NULL) == NULL,
	       "record_key of an unknown name is NULL");
	/* a record key is never a device or topic key */
	tap_ok(mqs_creds_device_key(&c) == NULL, "device_key never returns a record key");
	tap_ok(mqs_creds_key_for(&c, 7, "a/b") == NULL &&
	           mqs_creds_key_for(&c, 7, "vitals") == NULL,
	       "key_for never returns a record key");
	tap_ok(mqs_creds_find_key(&c, 7) == k, "find_key finds it by id (callers check use)");
	tap_ok(!mqs_creds_topic_protected(&c, "vitals"), "a record key protects no topic");
	/* appending: same id refused, nothing appended */
	rc = mqs_creds_parse_keys(keyfile, strlen(keyfile), &c, err, sizeof(err));
	tap_ok(rc == MQS_ERR_EXISTS && c.nkeys == 1, "parse_keys: an id already there is refused");
	rc = mqs_creds_parse_keys(keyfile2, strlen(keyfile2), &c, err, sizeof(err));
	tap_ok(rc == MQS_OK && c.nkeys == 2 && mqs_creds_record_key(&c, "lab-2.x") != NULL,
	       "parse_keys appends a second file");
	/* add_record_key */
	tap_is_int(mqs_creds_add_record_key(&c, 9, "vitals", key), MQS_ERR_EXISTS,
	           "add_record_key: a name already there is MQS_ERR_EXISTS");
	tap_is_int(mqs_creds_add_record_key(&c, 8, "new", key), MQS_ERR_EXISTS,
	           "add_record_key: an id already there is MQS_ERR_EXISTS");
	tap_is_int(mqs_creds_add_record_key(&c, 9, "bad/name", key), MQS_ERR_INVAL,
	           "add_record_key: a name outside [A-Za-z0-9._-] is MQS_ERR_INVAL");
	tap_is_int(mqs_creds_add_record_key(&c, 9, "", key), MQS_ERR_INVAL,
	           "add_record_key: an empty name is MQS_ERR_INVAL");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	tap_is_int(mqs_creds_add_record_key(&c, 9, longname, key), MQS_ERR_INVAL,
	           "add_record_key: a name of %d bytes is MQS_ERR_INVAL", MQS_CREDS_NAME_MAX + 1);
	longname[MQS_CREDS_NAME_MAX] = '\0';
	tap_is_int(mqs_creds_add_record_key(&c, 9, longname, key), MQS_OK,
	           "add_record_key: a name of %d bytes is fine", MQS_CREDS_NAME_MAX);
	tap_is_int(mqs_creds_add_key(&c, 10, MQS_CREDS_USE_RECORD, "x", key), MQS_ERR_INVAL,
	           "add_key refuses a record key (no name)");
	/* to_json keeps the names, and a key file has no username */
	rc = mqs_creds_to_json(&c, &json);
	tap_ok(rc == MQS_OK && json != NULL && strstr(json, "\"record\"") != NULL &&
	           strstr(json, "\"vitals\"") != NULL && strstr(json, "username") == NULL,
	       "to_json writes record keys with their name, no username");
	err[0] = '\0';
	rc = json != NULL ? mqs_creds_parse_keys(json, strlen(json), &d, err, sizeof(err)) : -1;
	tap_ok(rc == MQS_OK && creds_equal(&c, &d), "key file round trip (%s)", err);
	if (json != NULL)
		mqs_secret_free(json, strlen(json));
	json = NULL;
	mqs_creds_release(&d);
	/* a full credentials file with a record key */
	mqs_creds_set_username(&c, "dev1");
	rc = mqs_creds_to_json(&c, &json);
	rc = rc == MQS_OK ? parse_str(json, &d) : rc;
	tap_ok(rc == MQS_OK && creds_equal(&c, &d) && mqs_creds_record_key(&d, "vitals") != NULL,
	       "credentials with record keys round trip");
	if (json != NULL)
		mqs_secret_free(json, strlen(json));
	mqs_creds_release(&d);
	/* the credentials parser still needs a username */
	tap_is_int(parse_str(keyfile, &d), MQS_ERR_PARSE,
	           "parse (not parse_keys) needs a username");
	mqs_creds_release(&d);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t before = c.nkeys;

		err[0] = '\0';
		rc = mqs_creds_parse_keys(bad[i], strlen(bad[i]), &c, err, sizeof(err));
		tap_ok(rc != MQS_OK && c.nkeys == before && err[0] != '\0',
		       "bad key file %zu refused, nothing appended (%s)", i, err);
	}
	/* load_keys: file mode */
	snprintf(path, sizeof(path), "%s/keys.json", tmpdir);
	write_file(path, keyfile, 0644);
	mqs_creds_release(&c);
	rc = mqs_creds_load_keys(path, &c, err, sizeof(err));
	tap_ok(rc == MQS_ERR_PERM && c.nkeys == 0, "load_keys refuses mode 0644");
	write_file(path, keyfile, 0600);
	err[0] = '\0';
	rc = mqs_creds_load_keys(path, &c, err, sizeof(err));
	tap_ok(rc == MQS_OK && mqs_creds_record_key(&c, "vitals") != NULL, "load_keys (%s)", err);
	mqs_creds_release(&c);
}

/* Key push freshness (docs/payload-encryption.md, "Online keys"): an older
 * push, or one whose newest key of a filter is older than one held, is stale;
 * keys_issued_ms survives a save and a parse. */
static void test_push_stale(void)
{
	struct mqs_creds held, push, back;
	uint8_t key[MQS_ENVELOPE_KEY_LEN] = {1};
	char *json = NULL;
	char err[256] = "";

	mqs_creds_init(&held);
	mqs_creds_init(&push);
	mqs_creds_init(&back);
	held.keys_issued_ms = 2000;
	tap_is_int(mqs_creds_add_key(&held, 5, MQS_CREDS_USE_TOPIC, "site/#", key), MQS_OK,
	           "held: key 5 of site/#");
	tap_is_int(mqs_creds_add_key(&held, 6, MQS_CREDS_USE_TOPIC, "site/#", key), MQS_OK,
	           "held: key 6 of site/#");
	(void)mqs_creds_add_protected(&push, "site/#");
	(void)mqs_creds_add_key(&push, 6, MQS_CREDS_USE_TOPIC, "site/#", key);
	(void)mqs_creds_add_key(&push, 7, MQS_CREDS_USE_TOPIC, "site/#", key);
	push.keys_issued_ms = 3000;
	tap_ok(!mqs_creds_push_stale(&held, &push), "a newer push with a newer key is fresh");
	push.keys_issued_ms = 2000;
	tap_ok(!mqs_creds_push_stale(&held, &push), "one issued at the same time is fresh");
	push.keys_issued_ms = 1999;
	tap_ok(mqs_creds_push_stale(&held, &push), "an older push is stale (a replay)");
	mqs_creds_release(&push);
	mqs_creds_init(&push);
	(void)mqs_creds_add_protected(&push, "site/#");
	(void)mqs_creds_add_key(&push, 4, MQS_CREDS_USE_TOPIC, "site/#", key);
	(void)mqs_creds_add_key(&push, 5, MQS_CREDS_USE_TOPIC, "site/#", key);
	push.keys_issued_ms = 9000;
	tap_ok(mqs_creds_push_stale(&held, &push),
	       "a push whose newest key is older than one held is stale, whatever its time");
	tap_ok(
	    mqs_creds_answer_stale(&held, &push),
	    "an answer whose newest key is older than one held is stale (held back on the path)");
	push.keys_issued_ms = 1;
	mqs_creds_release(&push);
	mqs_creds_init(&push);
	(void)mqs_creds_add_protected(&push, "site/#");
	(void)mqs_creds_add_key(&push, 6, MQS_CREDS_USE_TOPIC, "site/#", key);
	push.keys_issued_ms = 1;
	tap_ok(!mqs_creds_answer_stale(&held, &push),
	       "an answer with the newest key is taken whatever its time (a broker clock behind)");
	(void)mqs_creds_add_protected(&held, "site/#");
	(void)mqs_creds_set_username(&held, "dev1");
	held.keys_issued_ms = 1733500000123ULL;
	tap_is_int(mqs_creds_to_json(&held, &json), MQS_OK, "saved with keys_issued_ms");
	tap_is_int(json != NULL ? mqs_creds_parse(json, strlen(json), &back, err, sizeof(err)) : -1,
	           MQS_OK, "parsed back (%s)", err);
	tap_ok(back.keys_issued_ms == 1733500000123ULL, "keys_issued_ms kept exactly");
	free(json);
	mqs_creds_release(&back);
	mqs_creds_release(&push);
	mqs_creds_release(&held);
}

int main(void)
{
	char cmd[600];

	make_tmpdir();
	test_parse_example();
	test_unknown_and_optional();
	test_malformed();
	test_build();
	test_files();
	test_record_keys();
	test_push_stale();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", tmpdir);
	tap_done();
	return tap_exit();
}
