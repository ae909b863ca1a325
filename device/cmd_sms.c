/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_sms.c - mqttsec-device sms-open: open a secure SMS body M1 with the
 * key export of a recipient (docs/sms-envelope.md, "Opening on the
 * phone"). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "device.h"
#include "mqs_sms.h"
#include "mqs_util.h"

#define SMS_KEYFILE_MAX   (64u * 1024u)
#define SMS_KEYS_MAX      64
#define SMS_MAX_AGE_DFL   86400L
#define SMS_MAX_AGE_MAX   (366L * 86400L)
#define SMS_FUTURE_SKEW   300 /* seconds a phone clock may lag the gateway */
#define SMS_REPLAY_SUFFIX ".replay"
#define SMS_REPLAY_MAX    1024 /* entries kept (docs/sms-envelope.md, "Replay file") */
#define SMS_REPLAY_LINE   64

/* One SMS key of the export. */
struct sms_key {
	uint16_t id;
	int64_t expires; /* Unix seconds, 0: none */
	uint8_t key[MQS_SMS_KEY_LEN];
};

/* The key export. */
struct sms_keys {
	struct sms_key keys[SMS_KEYS_MAX];
	size_t n;
	char phone[MQS_SMS_TO_MAX + 1];
};

/* One remembered (key id, nonce) and its timestamp. */
struct sms_seen {
	uint16_t id;
	uint32_t ts;
	uint8_t nonce[MQS_SMS_NONCE_LEN];
};

/* Read the key export at path into k.  Returns a sysexits code; prints
 * the reason. */
static int keys_load(const char *path, struct sms_keys *k)
{
	uint8_t *data = NULL;
	size_t len = 0;
	cJSON *root = NULL;
	const cJSON *item, *sms, *phone;
	int rc, ex = EX_CONFIG;

	memset(k, 0, sizeof(*k));
	errno = 0;
	rc = mqs_file_read(path, SMS_KEYFILE_MAX, 1, &data, &len);
	if (rc == MQS_ERR_NOENT) {
		dev_err("cannot read key file %s: no such file", path);
		ex = EX_NOINPUT;
		goto out;
	}
	if (rc == MQS_ERR_PERM) {
		dev_err("cannot use key file %s: readable by group or others (chmod 600 it)", path);
		ex = EX_NOPERM;
		goto out;
	}
	if (rc != MQS_OK) {
		dev_err("cannot read key file %s: %s", path, mqs_strerror(rc));
		ex = EX_IOERR;
		goto out;
	}
	root = cJSON_ParseWithLength((const char *)data, len);
	if (root == NULL) {
		dev_err("cannot parse key file %s: not JSON", path);
		goto out;
	}
	sms = cJSON_GetObjectItemCaseSensitive(root, "sms");
	phone = cJSON_GetObjectItemCaseSensitive(sms, "phone");
	if (cJSON_IsString(phone) &&
	    mqs_sms_to_valid(phone->valuestring, strlen(phone->valuestring)))
		snprintf(k->phone, sizeof(k->phone), "%s", phone->valuestring);
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "keys"))
	{
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(item, "key");
		const cJSON *use = cJSON_GetObjectItemCaseSensitive(item, "use");
		const cJSON *exp = cJSON_GetObjectItemCaseSensitive(item, "expires");
		uint8_t *raw = NULL;
		size_t raw_len = 0;

		if (!cJSON_IsString(use) || strcmp(use->valuestring, "sms") != 0)
			continue; /* readers ignore other keys */
		if (!cJSON_IsNumber(id) || id->valuedouble < 1 || id->valuedouble > 65535 ||
		    id->valuedouble != (double)(uint16_t)id->valuedouble || !cJSON_IsString(key) ||
		    mqs_base64_decode(key->valuestring, strlen(key->valuestring), MQS_SMS_KEY_LEN,
		                      &raw, &raw_len) != MQS_OK ||
		    raw_len != MQS_SMS_KEY_LEN) {
			mqs_secret_free(raw, raw_len);
			dev_err("cannot parse key file %s: an sms key needs an id 1..65535 and "
			        "base64 of 32 bytes",
			        path);
			goto out;
		}
		if (k->n >= SMS_KEYS_MAX) {
			mqs_secret_free(raw, raw_len);
			dev_err("cannot parse key file %s: more than %d sms keys", path,
			        SMS_KEYS_MAX);
			goto out;
		}
		k->keys[k->n].id = (uint16_t)id->valuedouble;
		/* an expiry outside 1..2^53 counts as already expired */
		if (cJSON_IsNumber(exp))
			k->keys[k->n].expires =
			    exp->valuedouble >= 1 && exp->valuedouble <= 9007199254740992.0
			        ? (int64_t)exp->valuedouble
			        : 1;
		memcpy(k->keys[k->n].key, raw, MQS_SMS_KEY_LEN);
		k->n++;
		mqs_secret_free(raw, raw_len);
	}
	if (k->n == 0) {
		dev_err("cannot use key file %s: no sms key", path);
		goto out;
	}
	ex = EX_OK;
out:
	cJSON_Delete(root);
	mqs_secret_free(data, len);
	return ex;
}

/* The key of id that is still valid at now, or NULL. */
static const struct sms_key *keys_find(const struct sms_keys *k, uint16_t id, int64_t now)
{
	for (size_t i = 0; i < k->n; i++) {
		if (k->keys[i].id == id && (k->keys[i].expires == 0 || k->keys[i].expires > now))
			return &k->keys[i];
	}
	return NULL;
}

/* Parse one replay line "floor TS" or "ID NONCEHEX TS" into e (floor: id 0,
 * no nonce).  Returns 1 when valid. */
static int replay_line_parse(const char *line, struct sms_seen *e)
{
	char hex[2 * MQS_SMS_NONCE_LEN + 2];
	unsigned id = 0;
	unsigned long ts = 0;

	memset(e, 0, sizeof(*e));
	if (sscanf(line, "floor %lu", &ts) == 1 && ts <= UINT32_MAX) {
		e->ts = (uint32_t)ts;
		return 1;
	}
	if (sscanf(line, "%u %25s %lu", &id, hex, &ts) != 3 || id < 1 || id > 65535 ||
	    ts > UINT32_MAX || strlen(hex) != 2 * MQS_SMS_NONCE_LEN)
		return 0;
	for (size_t i = 0; i < MQS_SMS_NONCE_LEN; i++) {
		int hi = mqs_hex_digit(hex[2 * i]), lo = mqs_hex_digit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return 0;
		e->nonce[i] = (uint8_t)(hi << 4 | lo);
	}
	e->id = (uint16_t)id;
	e->ts = (uint32_t)ts;
	return 1;
}

/* Check (key id, nonce) of m against the replay file next to keyfile and
 * record it.  Entries older than now - max_age are dropped and, as past
 * SMS_REPLAY_MAX entries the oldest, raise the floor to their timestamp (a
 * later run with a larger --max-age must not take them again): a body not
 * newer than the floor is refused.  Returns EX_OK, EX_DATAERR (repeated; reason printed) or
 * another sysexits code (reason printed). */
static int replay_check(const char *keyfile, const struct mqs_sms_msg *m, int64_t now, long max_age)
{
	static struct sms_seen seen[SMS_REPLAY_MAX + 1];
	char path[4096], line[SMS_REPLAY_LINE];
	size_t n = 0;
	uint32_t floor_ts = 0;
	FILE *f = NULL;
	int fd = -1, ex = EX_IOERR;

	if (snprintf(path, sizeof(path), "%s%s", keyfile, SMS_REPLAY_SUFFIX) >= (int)sizeof(path)) {
		dev_err("cannot use replay file: path too long");
		ex = EX_USAGE;
		goto out;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) != 0 || fchmod(fd, 0600) != 0) {
		dev_err("cannot open replay file %s: %s", path, strerror(errno));
		goto out;
	}
	f = fdopen(fd, "r+");
	if (f == NULL) {
		dev_err("cannot open replay file %s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		struct sms_seen e;

		if (!replay_line_parse(line, &e)) {
			dev_err("cannot use replay file %s: damaged line (remove the file only "
			        "together with a new key)",
			        path);
			ex = EX_DATAERR;
			goto out;
		}
		if (e.id == 0) {
			floor_ts = e.ts > floor_ts ? e.ts : floor_ts;
			continue;
		}
		if ((int64_t)e.ts < now - max_age - SMS_FUTURE_SKEW) {
			/* stale under this --max-age, but a later run may allow more:
			 * forgotten only behind the floor, so it stays refused */
			floor_ts = e.ts > floor_ts ? e.ts : floor_ts;
			continue;
		}
		if (e.id == m->key_id && CRYPTO_memcmp(e.nonce, m->nonce, MQS_SMS_NONCE_LEN) == 0) {
			dev_err("cannot open sms: repeated (key id %u, nonce)",
			        (unsigned)m->key_id);
			ex = EX_DATAERR;
			goto out;
		}
		if (n < SMS_REPLAY_MAX)
			seen[n++] = e;
		else
			floor_ts = e.ts > floor_ts ? e.ts : floor_ts; /* damaged cap: be safe */
	}
	if (floor_ts != 0 && m->timestamp <= floor_ts) {
		dev_err("cannot open sms: not newer than the replay file's floor (too many recent "
		        "messages remembered)");
		ex = EX_DATAERR;
		goto out;
	}
	seen[n].id = m->key_id;
	seen[n].ts = m->timestamp;
	memcpy(seen[n].nonce, m->nonce, MQS_SMS_NONCE_LEN);
	n++;
	while (n > SMS_REPLAY_MAX) {
		size_t oldest = 0;

		for (size_t i = 1; i < n; i++) {
			if (seen[i].ts < seen[oldest].ts)
				oldest = i;
		}
		floor_ts = seen[oldest].ts > floor_ts ? seen[oldest].ts : floor_ts;
		seen[oldest] = seen[--n];
	}
	if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0 || ftruncate(fileno(f), 0) != 0)
		goto write_err;
	if (floor_ts != 0 && fprintf(f, "floor %" PRIu32 "\n", floor_ts) < 0)
		goto write_err;
	for (size_t i = 0; i < n; i++) {
		char hex[2 * MQS_SMS_NONCE_LEN + 1];

		mqs_hex_encode(seen[i].nonce, MQS_SMS_NONCE_LEN, hex);
		if (fprintf(f, "%u %s %" PRIu32 "\n", (unsigned)seen[i].id, hex, seen[i].ts) < 0)
			goto write_err;
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		goto write_err;
	ex = EX_OK;
	goto out;
write_err:
	dev_err("cannot write replay file %s: %s", path, strerror(errno));
	ex = EX_IOERR;
out:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	return ex;
}

/* sms-open [--to TO] [--max-age SECS] < body > text */
int dev_cmd_sms_open(struct dev_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"to", required_argument, NULL, 't'},
	    {"max-age", required_argument, NULL, 'a'},
	    {NULL, 0, NULL, 0},
	};
	static struct sms_keys keys;
	struct mqs_sms_msg m;
	const struct sms_key *k;
	const char *to = NULL;
	long max_age = SMS_MAX_AGE_DFL;
	uint8_t *body = NULL;
	size_t body_len = 0;
	int64_t now = (int64_t)time(NULL);
	int opt, rc, ex = EX_USAGE;

	memset(&m, 0, sizeof(m));
	for (;;) {
		opt = getopt_long(argc, argv, "", longopts, NULL);
		if (opt == -1)
			break;
		if (opt == 't') {
			to = optarg;
		} else if (opt == 'a') {
			max_age = dev_opt_num("max-age", optarg, SMS_MAX_AGE_MAX);
			if (max_age < 0)
				goto out;
		} else {
			ex = dev_usage_cmd("sms-open");
			goto out;
		}
	}
	if (optind != argc) {
		ex = dev_usage_cmd("sms-open");
		goto out;
	}
	if (ctx->creds_path == NULL || ctx->creds_path[0] == '\0') {
		dev_err("no key file: use -c KEYFILE (a recipient key export)");
		goto out;
	}
	ex = keys_load(ctx->creds_path, &keys);
	if (ex != EX_OK)
		goto out;
	if (to == NULL)
		to = keys.phone;
	if (!mqs_sms_to_valid(to, strlen(to))) {
		dev_err(
		    "cannot open sms: no valid number (--to +E164 or \"sms\": {\"phone\"} in %s)",
		    ctx->creds_path);
		ex = EX_USAGE;
		goto out;
	}
	rc = mqs_read_all(STDIN_FILENO, MQS_SMS_BODY_MAX + 2, &body, &body_len);
	if (rc != MQS_OK && rc != MQS_ERR_TOOBIG) {
		dev_err("cannot read stdin: %s", mqs_strerror(rc));
		ex = EX_IOERR;
		goto out;
	}
	ex = EX_DATAERR;
	if (rc == MQS_ERR_TOOBIG) {
		dev_err("cannot open sms: longer than %d characters", MQS_SMS_BODY_MAX);
		goto out;
	}
	while (body_len > 0 && (body[body_len - 1] == '\n' || body[body_len - 1] == '\r'))
		body_len--;
	rc = mqs_sms_parse((const char *)body, body_len, &m);
	if (rc != MQS_OK) {
		dev_err("cannot open sms: not an M1 body (%s)", mqs_strerror(rc));
		goto out;
	}
	k = keys_find(&keys, m.key_id, now);
	if (k == NULL) {
		dev_err("cannot open sms: unknown key id %u", (unsigned)m.key_id);
		goto out;
	}
	rc = mqs_sms_open(k->key, (const char *)body, body_len, to, strlen(to), &m);
	if (rc != MQS_OK) {
		dev_err("cannot open sms: %s", rc == MQS_ERR_ENV_AUTH
		                                   ? "altered, wrong key or wrong number"
		                                   : mqs_strerror(rc));
		goto out;
	}
	if ((int64_t)m.timestamp < now - max_age) {
		dev_err("cannot open sms: stale (sealed %" PRId64 " s ago, --max-age %ld)",
		        now - (int64_t)m.timestamp, max_age);
		goto out;
	}
	if ((int64_t)m.timestamp > now + SMS_FUTURE_SKEW) {
		dev_err("cannot open sms: timestamp %" PRId64 " s in the future",
		        (int64_t)m.timestamp - now);
		goto out;
	}
	ex = replay_check(ctx->creds_path, &m, now, max_age);
	if (ex != EX_OK)
		goto out;
	fprintf(stderr, "action: %u\ncomponent: ", (unsigned)m.action);
	/* escaped like an origin: a component cannot drive the terminal */
	dev_origin_write(stderr, (const uint8_t *)m.component, m.component_len);
	fputc('\n', stderr);
	if (fwrite(m.text, 1, m.text_len, stdout) != m.text_len || fflush(stdout) != 0) {
		dev_err("cannot write stdout: %s", strerror(errno));
		ex = EX_IOERR;
	}
out:
	mqs_sms_msg_wipe(&m);
	OPENSSL_cleanse(&keys, sizeof(keys));
	free(body);
	return ex;
}
