/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_smskey.c - `recipient key add|rotate|export`: the per-recipient SMS
 * key tables of the secure SMS envelope M1 (docs/sms-envelope.md, "Key
 * tables"). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "gw_address.h"
#include "gw_cmd.h"
#include "gw_recipient.h"
#include "gw_smskey.h"
#include "gw_util.h"
#include "mqs_util.h"

#define KEY_USAGE "key add NAME | key rotate NAME [--grace 30d] | key export NAME --out FILE"

/* Print the usage line and return EX_USAGE. */
static int usage_err(void)
{
	fprintf(stderr, "usage: mqttsec-gateway -c CONF recipient " KEY_USAGE "\n");
	return EX_USAGE;
}

/* The decrypted phone of recipient name into out (GW_ADDR_MAX): MQS_OK,
 * MQS_ERR_NOENT (no recipient or no phone) or MQS_ERR_DB/MQS_ERR_UNWRAP. */
static int phone_of(struct gw_store *s, const char *name, char *out)
{
	sqlite3_stmt *st = gw_store_prepare(s, "SELECT phone FROM recipients WHERE name = ?");
	int rc = MQS_ERR_DB, step;

	out[0] = '\0';
	if (st == NULL)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		rc = MQS_ERR_NOENT;
	} else if (step == SQLITE_ROW) {
		int a = gw_recipient_open(s, name, GW_F_PHONE, sqlite3_column_blob(st, 0),
		                          (size_t)sqlite3_column_bytes(st, 0), out, GW_ADDR_MAX);

		rc = a == GW_ADDR_OK ? MQS_OK : a == GW_ADDR_NONE ? MQS_ERR_NOENT : MQS_ERR_UNWRAP;
	}
	sqlite3_finalize(st);
	return rc;
}

/* The export JSON of keys[n] and phone: a new string (free with
 * mqs_secret_free_str), or NULL. */
static char *export_json(const struct gw_smskey *keys, size_t n, const char *phone)
{
	cJSON *root = cJSON_CreateObject(), *arr = NULL, *sms = NULL;
	char *b64 = NULL, *text = NULL;

	if (root == NULL)
		goto out;
	arr = cJSON_AddArrayToObject(root, "keys");
	if (arr == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		if (o == NULL || !cJSON_AddItemToArray(arr, o))
			goto out;
		if (mqs_base64_encode(keys[i].key, GW_SMSKEY_LEN, &b64) != MQS_OK ||
		    cJSON_AddNumberToObject(o, "id", keys[i].id) == NULL ||
		    cJSON_AddStringToObject(o, "key", b64) == NULL ||
		    cJSON_AddStringToObject(o, "use", "sms") == NULL)
			goto out;
		if (keys[i].expires_ms != 0 &&
		    cJSON_AddNumberToObject(o, "expires", (double)(keys[i].expires_ms / 1000)) ==
		        NULL)
			goto out;
		mqs_secret_free_str(b64);
		b64 = NULL;
	}
	sms = cJSON_AddObjectToObject(root, "sms");
	if (sms == NULL || cJSON_AddStringToObject(sms, "phone", phone) == NULL)
		goto out;
	text = cJSON_PrintUnformatted(root);
out:
	mqs_secret_free_str(b64);
	if (root != NULL) {
		/* wipe the base64 copies of the keys held by the tree */
		cJSON *k;

		cJSON_ArrayForEach(k, arr)
		{
			cJSON *v = cJSON_GetObjectItemCaseSensitive(k, "key");

			if (cJSON_IsString(v))
				OPENSSL_cleanse(v->valuestring, strlen(v->valuestring));
		}
		cJSON_Delete(root);
	}
	return text;
}

/* key export NAME --out FILE */
static int export_cmd(struct gw_store *s, const char *name, const char *out)
{
	static struct gw_smskey keys[GW_SMSKEY_MAX];
	char phone[GW_ADDR_MAX];
	char *text = NULL;
	size_t n = 0;
	int rc;

	rc = phone_of(s, name, phone);
	if (rc == MQS_ERR_NOENT) {
		fprintf(stderr, "mqttsec-gateway: no recipient %s with a phone number\n", name);
		goto out;
	}
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot read the phone number of %s: %s\n", name,
		        mqs_strerror(rc));
		goto out;
	}
	rc = gw_smskey_all(s, name, keys, GW_SMSKEY_MAX, &n);
	if (rc == MQS_OK && n == 0)
		rc = MQS_ERR_NOENT;
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot read the sms keys of %s: %s\n", name,
		        rc == MQS_ERR_NOENT    ? "no sms key (use recipient key add)"
		        : rc == MQS_ERR_UNWRAP ? "wrong master key or corrupted row"
		                               : mqs_strerror(rc));
		goto out;
	}
	text = export_json(keys, n, phone);
	if (text == NULL) {
		rc = MQS_ERR_NOMEM;
		fprintf(stderr, "mqttsec-gateway: cannot build the key export\n");
		goto out;
	}
	rc = mqs_file_write_secret(out, text, strlen(text), 0);
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot write %s: %s\n", out, strerror(errno));
		rc = MQS_ERR_IO;
		goto out;
	}
	printf("exported %zu sms key(s) of %s to %s\n", n, name, out);
out:
	mqs_secret_free_str(text);
	OPENSSL_cleanse(keys, sizeof(keys));
	OPENSSL_cleanse(phone, sizeof(phone));
	return rc == MQS_ERR_IO ? EX_CANTCREAT : gw_cmd_exit_code(rc);
}

/* recipient key add|rotate|export ... (argv[0] is "key"). */
int gw_cmd_recipient_key(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"grace", required_argument, NULL, 'g'},
	                                     {"out", required_argument, NULL, 'o'},
	                                     {NULL, 0, NULL, 0}};
	const char *sub = argc > 1 ? argv[1] : "", *out = NULL, *name;
	uint64_t grace_ms = 0;
	uint16_t id = 0;
	char err[256] = "";
	int opt, rc;

	optind = 0;
	for (opt = getopt_long(argc - 1, argv + 1, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc - 1, argv + 1, "", opts, NULL)) {
		if (opt == 'g' && strcmp(sub, "rotate") == 0 &&
		    gw_duration_parse(optarg, &grace_ms) == MQS_OK)
			continue;
		if (opt == 'o' && strcmp(sub, "export") == 0) {
			out = optarg;
			continue;
		}
		return usage_err();
	}
	if (optind != argc - 2)
		return usage_err();
	name = argv[optind + 1];
	if (strcmp(sub, "export") == 0) {
		if (out == NULL || *out == '\0')
			return usage_err();
		return export_cmd(s, name, out);
	}
	if (strcmp(sub, "add") == 0)
		rc = gw_smskey_add(s, name, &id, err, sizeof(err));
	else if (strcmp(sub, "rotate") == 0)
		rc = gw_smskey_rotate(s, name, (int64_t)grace_ms, &id, err, sizeof(err));
	else
		return usage_err();
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: %s\n", err[0] != '\0' ? err : mqs_strerror(rc));
		return gw_cmd_exit_code(rc);
	}
	printf("sms key %u of %s is active\n", (unsigned)id, name);
	return EX_OK;
}
