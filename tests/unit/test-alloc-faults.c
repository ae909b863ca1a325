/* SPDX-License-Identifier: BSD-3-Clause */
/* test-alloc-faults.c - allocation-failure injection (HACKING.md, "Fault
 * injection"): the library allocates through lib/mqs_alloc.h, OpenSSL
 * through CRYPTO_set_mem_functions, cJSON through cJSON_InitHooks and
 * SQLite through SQLITE_CONFIG_MALLOC, all pointed here at one counter.
 * For each operation (envelope seal and open, key store, share split and
 * combine, share records, the share receiver, the SMS envelope, the
 * credentials and master key parsers, the client lists' hash tables) a first run counts its N
 * allocations; then the operation runs N more times, refusing allocation
 * k in run k.  Every run must give an error code or the right result
 * (never a success with a wrong result, never a crash), and leave nothing
 * allocated that it did not free (counted here; run under
 * --enable-sanitizers for LeakSanitizer as well). */
#include "config.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <sqlite3.h>

#include "mqs_alloc.h"
#include "mqs_creds.h"
#include "mqs_db.h"
#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_join.h"
#include "mqs_keystore.h"
#include "mqs_lists.h"
#include "mqs_master_key.h"
#include "mqs_share.h"
#include "mqs_sms.h"
#include "mqs_util.h"

#include "alloc-faults.h"
#include "tap.h"

static const uint8_t key32[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                  16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static char tmpdir[256];
static char mk_path[300];
static uint8_t mk[MQS_MASTER_KEY_LEN];

/* Seal and open an envelope. */
static int op_envelope(void)
{
	static const uint8_t nonce[12] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
	const char *topic = "site/a/temp";
	const char *plain = "21.5 degrees";
	uint8_t env[256], out[256];
	size_t env_len = 0, out_len = 0;
	struct mqs_envelope_info info;
	int rc;

	rc = mqs_envelope_seal(key32, 7, 1000, nonce, "dev-1", 5, topic, strlen(topic),
	                       (const uint8_t *)plain, strlen(plain), env, sizeof(env), &env_len);
	if (rc != MQS_OK)
		return env_len == 0 ? 1 : -1;
	rc = mqs_envelope_open(key32, 7, env, env_len, topic, strlen(topic), out, sizeof(out),
	                       &out_len, &info);
	if (rc != MQS_OK)
		return out_len == 0 ? 1 : -1;
	return out_len == strlen(plain) && memcmp(out, plain, out_len) == 0 ? 0 : -1;
}

/* Create a key in a fresh database, load it by id and as the active one. */
static int op_keystore(void)
{
	struct mqs_key a, b, c;
	sqlite3 *db = NULL;
	char path[320], err[256];
	int rc, res = 1;

	mqs_key_init(&a);
	mqs_key_init(&b);
	mqs_key_init(&c);
	snprintf(path, sizeof(path), "%s/ks.db", tmpdir);
	(void)unlink(path);
	rc = mqs_db_open(path, MQS_DB_CREATE, mqs_broker_schema, mqs_broker_schema_count, &db, err,
	                 sizeof(err));
	if (rc != MQS_OK)
		goto out;
	if (mqs_keystore_create(db, mk, "topic", "dev-1", &a) != MQS_OK)
		goto out;
	if (mqs_keystore_get(db, mk, a.id, &b) != MQS_OK)
		goto out;
	if (mqs_keystore_active(db, mk, "topic", "dev-1", &c) != MQS_OK)
		goto out;
	res = memcmp(a.key, b.key, sizeof(a.key)) == 0 &&
	              memcmp(a.key, c.key, sizeof(a.key)) == 0 && b.id == a.id && c.id == a.id &&
	              b.owner != NULL && strcmp(b.owner, "dev-1") == 0
	          ? 0
	          : -1;
out:
	mqs_key_release(&a);
	mqs_key_release(&b);
	mqs_key_release(&c);
	if (db != NULL)
		sqlite3_close_v2(db);
	(void)unlink(path);
	return res;
}

/* Split a secret into 3 shares (k 2), parse them and combine two. */
static int op_share(void)
{
	static const uint8_t secret[40] = "a secret of forty bytes, give or take..";
	uint8_t tk[32], id[MQS_SHARE_ID_LEN] = {1, 2, 3};
	uint8_t shares[3 * (40 + 44)], out[40];
	size_t one = mqs_share_len(sizeof(secret));
	struct mqs_share_hdr h;
	const uint8_t *bodies[2];
	uint8_t xs[2] = {1, 3};

	if (mqs_share_tag_key(key32, tk) != MQS_OK)
		return 1;
	if (mqs_share_split(secret, sizeof(secret), 3, 2, tk, id, NULL, shares, sizeof(shares)) !=
	    MQS_OK)
		return 1;
	for (int i = 0; i < 3; i++) {
		if (mqs_share_parse(shares + i * one, one, &h) != MQS_OK)
			return -1; /* parse allocates nothing */
		/* a tag check that cannot run says "not ok": the share is refused */
		if (!mqs_share_tag_ok(shares + i * one, one, tk))
			return 1;
	}
	bodies[0] = shares + 28;
	bodies[1] = shares + 2 * one + 28;
	if (mqs_share_combine(2, xs, bodies, sizeof(secret), out) != MQS_OK)
		return 1;
	return memcmp(out, secret, sizeof(secret)) == 0 ? 0 : -1;
}

/* Seal a record as a share secret and open it again. */
static int op_record(void)
{
	uint8_t id[MQS_SHARE_ID_LEN] = {4, 5, 6};
	uint8_t *secret = NULL, *plain = NULL;
	size_t slen = 0, plen = 0;
	char topic[64], origin[MQS_ENVELOPE_ORIGIN_MAX + 1];
	uint64_t ts = 0;
	int res = 1;

	if (mqs_share_record_seal(key32, 5, id, "clinic/3/record", "dev-3",
	                          (const uint8_t *)"blood type 0+", 13, &secret, &slen) != MQS_OK) {
		res = secret == NULL ? 1 : -1;
		goto out;
	}
	if (mqs_share_record_open(key32, 5, id, secret, slen, topic, sizeof(topic), origin, &plain,
	                          &plen, &ts) != MQS_OK) {
		res = plain == NULL ? 1 : -1;
		goto out;
	}
	res = plen == 13 && memcmp(plain, "blood type 0+", 13) == 0 &&
	              strcmp(topic, "clinic/3/record") == 0 && strcmp(origin, "dev-3") == 0
	          ? 0
	          : -1;
out:
	mqs_secret_free(secret, slen);
	mqs_secret_free(plain, plen);
	return res;
}

struct join_seen {
	int records;
	int right;
};

static void join_on_record(void *arg, const struct mqs_join_record *r)
{
	struct join_seen *s = arg;

	s->records++;
	s->right = r->len == 9 && memcmp(r->data, "pulse 72.", 9) == 0 &&
	           strcmp(r->sender, "alice") == 0 && strcmp(r->topic, "clinic/3/record") == 0;
}

/* The shares of one record, made before the runs (unarmed). */
static uint8_t *join_shares;
static size_t join_one;

/* A receiver of 3 channels (k 2) rebuilds a record from two shares. */
static int op_join(void)
{
	struct mqs_join_conf conf;
	struct mqs_join_key keys[1];
	struct mqs_join *j = NULL;
	struct join_seen s = {0, 0};
	int res = 1, r;

	memset(&conf, 0, sizeof(conf));
	memset(keys, 0, sizeof(keys));
	snprintf(keys[0].name, sizeof(keys[0].name), "alice");
	keys[0].id = 5;
	memcpy(keys[0].key, key32, sizeof(keys[0].key));
	conf.n = 3;
	conf.k = 2;
	if (mqs_join_new(&conf, keys, 1, join_on_record, &s, &j) != MQS_OK) {
		res = j == NULL ? 1 : -1;
		goto out;
	}
	r = mqs_join_feed(j, 2, join_shares + 2 * join_one, join_one, 1000);
	if (r != MQS_JOIN_PENDING)
		goto out; /* refused: an error, not a record */
	r = mqs_join_feed(j, 0, join_shares, join_one, 1001);
	if (r != MQS_JOIN_RECORD) {
		res = s.records == 0 ? 1 : -1;
		goto out;
	}
	res = s.records == 1 && s.right ? 0 : -1;
out:
	mqs_join_free(j);
	return res;
}

/* Seal an M1 SMS, parse and open it. */
static int op_sms(void)
{
	static const uint8_t nonce[12] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
	char body[2048];
	size_t blen = 0;
	struct mqs_sms_msg m;
	int rc, res;

	rc = mqs_sms_seal(key32, 3, 1767225600u, nonce, "+15551234567", 12, MQS_SMS_ACTION_CODE,
	                  "login", 5, "your code is 123456", 19, body, sizeof(body), &blen);
	if (rc != MQS_OK)
		return blen == 0 ? 1 : -1;
	if (mqs_sms_parse(body, blen, &m) != MQS_OK)
		return -1; /* parse allocates nothing: it cannot fail here */
	rc = mqs_sms_open(key32, body, blen, "+15551234567", 12, &m);
	if (rc != MQS_OK)
		return m.text_len == 0 ? 1 : -1;
	res = m.key_id == 3 && m.action == MQS_SMS_ACTION_CODE &&
	              strcmp(m.component, "login") == 0 &&
	              strcmp(m.text, "your code is 123456") == 0
	          ? 0
	          : -1;
	mqs_sms_msg_wipe(&m);
	return res;
}

/* Parse device credentials, write them as JSON and parse that again. */
static int op_creds(void)
{
	static const char json[] =
	    "{\"username\": \"dev1\",\n"
	    " \"totp\": {\"secret\": \"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\", \"digits\": 6, "
	    "\"period\": 30, \"algorithm\": \"SHA1\"},\n"
	    " \"keys\": [{\"id\": 17, \"key\": \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\", "
	    "\"use\": \"device\"},\n"
	    "          {\"id\": 42, \"key\": \"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\", "
	    "\"use\": \"topic\", \"topic\": \"alerts/#\"}],\n"
	    " \"protected\": [\"alerts/#\", \"meds/+/dose\"]}\n";
	struct mqs_creds c, d;
	char err[256], *out = NULL;
	int res = 1;

	mqs_creds_init(&c);
	mqs_creds_init(&d);
	if (mqs_creds_parse(json, strlen(json), &c, err, sizeof(err)) != MQS_OK) {
		res = c.username == NULL && c.nkeys == 0 ? 1 : -1;
		goto out;
	}
	if (c.username == NULL || strcmp(c.username, "dev1") != 0 || c.nkeys != 2 ||
	    c.keys[1].topic == NULL || strcmp(c.keys[1].topic, "alerts/#") != 0) {
		res = -1;
		goto out;
	}
	if (mqs_creds_to_json(&c, &out) != MQS_OK) {
		res = out == NULL ? 1 : -1;
		goto out;
	}
	if (mqs_creds_parse(out, strlen(out), &d, err, sizeof(err)) != MQS_OK) {
		res = d.username == NULL ? 1 : -1;
		goto out;
	}
	res = d.username != NULL && strcmp(d.username, "dev1") == 0 && d.nkeys == 2 &&
	              memcmp(d.keys[0].key, c.keys[0].key, sizeof(c.keys[0].key)) == 0
	          ? 0
	          : -1;
out:
	mqs_secret_free_str(out);
	mqs_creds_release(&c);
	mqs_creds_release(&d);
	return res;
}

/* Load the master key file and wrap and unwrap a key under it. */
static int op_master_key(void)
{
	uint8_t k[MQS_MASTER_KEY_LEN], wrapped[128], back[64];
	size_t wlen = 0, blen = 0;
	int res = 1;

	memset(k, 0, sizeof(k));
	if (mqs_master_key_load(mk_path, k) != MQS_OK)
		goto out;
	if (memcmp(k, mk, sizeof(k)) != 0) {
		res = -1;
		goto out;
	}
	if (mqs_wrap_seal(k, "key:1:topic", key32, sizeof(key32), wrapped, sizeof(wrapped),
	                  &wlen) != MQS_OK)
		goto out;
	if (mqs_wrap_open(k, "key:1:topic", wrapped, wlen, back, sizeof(back), &blen) != MQS_OK)
		goto out;
	res = blen == sizeof(key32) && memcmp(back, key32, blen) == 0 ? 0 : -1;
out:
	OPENSSL_cleanse(k, sizeof(k));
	return res;
}

/* Fill a client list (400 client ids, 40 usernames, 20 networks: the hash
 * tables grow their buckets on the way) and match against it. */
static int op_lists(void)
{
	static const uint8_t addr[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 7, 1, 2};
	struct mqs_list l;
	char name[32];
	int rc = MQS_OK, res = 1;

	mqs_list_init(&l);
	for (int i = 0; i < 400 && rc == MQS_OK; i++) {
		snprintf(name, sizeof(name), "sensor-%d", i);
		rc = mqs_list_add(&l, MQS_MATCH_CLIENTID, name, 0);
	}
	for (int i = 0; i < 40 && rc == MQS_OK; i++) {
		snprintf(name, sizeof(name), "user-%d", i);
		rc = mqs_list_add(&l, MQS_MATCH_USERNAME, name, 0);
	}
	for (int i = 0; i < 20 && rc == MQS_OK; i++) {
		snprintf(name, sizeof(name), "10.%d.0.0/16", i);
		rc = mqs_list_add(&l, MQS_MATCH_IP, name, 0);
	}
	if (rc != MQS_OK) {
		res = rc == MQS_ERR_NOMEM ? 1 : -1;
		goto out;
	}
	res = mqs_list_match(&l, "sensor-399", NULL, NULL, 1000) &&
	              mqs_list_match(&l, NULL, "user-0", NULL, 1000) &&
	              mqs_list_match(&l, NULL, NULL, addr, 1000) &&
	              !mqs_list_match(&l, "sensor-400", "user-40", NULL, 1000)
	          ? 0
	          : -1;
out:
	mqs_list_release(&l);
	return res;
}

/* Temporary folder, master key file, the shares for the receiver. */
static void setup(void)
{
	const char *base = getenv("TMPDIR");
	uint8_t id[MQS_SHARE_ID_LEN] = {8, 8, 8}, tk[32];
	uint8_t *secret = NULL;
	size_t slen = 0;

	snprintf(tmpdir, sizeof(tmpdir), "%s/mqs-test-faults-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(99);
	}
	snprintf(mk_path, sizeof(mk_path), "%s/master.key", tmpdir);
	if (mqs_master_key_create(mk_path) != MQS_OK ||
	    mqs_master_key_load(mk_path, mk) != MQS_OK) {
		fprintf(stderr, "cannot create master key\n");
		exit(99);
	}
	if (mqs_share_tag_key(key32, tk) != MQS_OK ||
	    mqs_share_record_seal(key32, 5, id, "clinic/3/record", "dev-3",
	                          (const uint8_t *)"pulse 72.", 9, &secret, &slen) != MQS_OK)
		exit(99);
	join_one = mqs_share_len(slen);
	join_shares = malloc(3 * join_one);
	if (join_shares == NULL ||
	    mqs_share_split(secret, slen, 3, 2, tk, id, NULL, join_shares, 3 * join_one) != MQS_OK)
		exit(99);
	mqs_secret_free(secret, slen);
}

int main(void)
{
	static const struct {
		const char *name;
		op_fn *op;
	} ops[] = {
	    {"envelope seal/open", op_envelope}, {"key store", op_keystore},
	    {"share split/combine", op_share},   {"share record seal/open", op_record},
	    {"share receiver", op_join},         {"sms envelope", op_sms},
	    {"credentials parser", op_creds},    {"master key", op_master_key},
	    {"client lists", op_lists},
	};
	size_t nops = sizeof(ops) / sizeof(ops[0]);
	char path[320];

	hooks_install();
	setup();
	tap_plan((unsigned)(3 * nops));
	for (size_t i = 0; i < nops; i++)
		drive(ops[i].name, ops[i].op);
	free(join_shares);
	(void)unlink(mk_path);
	snprintf(path, sizeof(path), "%s/ks.db-wal", tmpdir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/ks.db-shm", tmpdir);
	(void)unlink(path);
	(void)rmdir(tmpdir);
	return tap_exit();
}
