/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_reviewer.c - `reviewer add|list|rm`, `author add|list|rm` and
 * `audit` (docs/marketing.md, "Review"; gw_cmd.h). */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <qrencode.h>

#include "gw_cmd.h"
#include "gw_kind.h"
#include "gw_review.h"
#include "mqs_error.h"
#include "mqs_totp.h"
#include "mqs_util.h"

#define QR_QUIET 4 /* modules of quiet zone around the symbol */

/* Print the usage of a subcommand; EX_USAGE. */
static int usage_err(const char *cmd, const char *what)
{
	fprintf(stderr, "usage: mqttsec-gateway %s%s%s\n", cmd, *what ? " " : "", what);
	return EX_USAGE;
}

/* ms since the epoch as UTC ISO 8601 into out, "-" for 0. */
static const char *when(int64_t ms, char *out, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(out, cap, "-");
		return out;
	}
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

/* 1 when level is a review level of some marketing route. */
static int level_known(const struct gw_config *conf, const char *level)
{
	for (size_t i = 0; i < conf->nroutes; i++) {
		const struct gw_route *r = &conf->routes[i];

		for (size_t l = 0; r->kind == GW_KIND_MARKETING && l < r->nlevels; l++) {
			if (strcmp(r->levels[l], level) == 0)
				return 1;
		}
	}
	return 0;
}

/* Is module (x, y) of a symbol with a quiet zone drawn as a block?  Light
 * modules are drawn (light text on a dark terminal), as mqttsec-acl does. */
static int qr_block(const QRcode *qr, int x, int y)
{
	int size = qr->width + 2 * QR_QUIET;

	if (x < 0 || y < 0 || x >= size || y >= size)
		return 0;
	x -= QR_QUIET;
	y -= QR_QUIET;
	if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
		return 1;
	return !(qr->data[y * qr->width + x] & 1);
}

/* Draw uri as a QR code with UTF-8 half blocks, two module rows a line. */
static void qr_print(const char *uri)
{
	static const char *const glyph[4] = {" ", "\u2584", "\u2580", "\u2588"};
	QRcode *qr = QRcode_encodeString8bit(uri, 0, QR_ECLEVEL_M);
	int size;

	if (qr == NULL) {
		fprintf(stderr, "mqttsec-gateway: cannot draw the QR code (use the URI)\n");
		return;
	}
	size = qr->width + 2 * QR_QUIET;
	for (int y = 0; y < size; y += 2) {
		for (int x = 0; x < size; x++)
			fputs(glyph[qr_block(qr, x, y) * 2 + qr_block(qr, x, y + 1)], stdout);
		fputc('\n', stdout);
	}
	QRcode_free(qr);
}

/* Print the TOTP secret of a new person once: base32, otpauth URI, QR
 * code.  MQS_OK or MQS_ERR_CRYPTO. */
static int secret_print(const char *person, const char *secret)
{
	struct mqs_totp_params p;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	char *uri = NULL;
	int rc = MQS_OK;

	mqs_totp_params_default(&p);
	if (mqs_base32_decode(secret, strlen(secret), &raw, &raw_len) != MQS_OK ||
	    mqs_totp_uri("mqttsec-gateway", person, raw, raw_len, &p, &uri) != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot build the otpauth URI\n");
		rc = MQS_ERR_CRYPTO;
		goto out;
	}
	printf("new person %s: TOTP secret (shown once; SHA1, 6 digits, 30 s):\n%s\n", person,
	       secret);
	printf("%s\n", uri);
	qr_print(uri);
out:
	if (raw != NULL)
		mqs_secret_free(raw, raw_len);
	if (uri != NULL)
		mqs_secret_free_str(uri);
	return rc;
}

/* reviewer add PRINCIPAL --level LEVEL --person PERSON */
static int add(const struct gw_config *conf, struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"level", required_argument, NULL, 'l'},
	                                     {"person", required_argument, NULL, 'p'},
	                                     {NULL, 0, NULL, 0}};
	static const char use[] = "add PRINCIPAL --level LEVEL --person PERSON";
	const char *level = NULL, *person = NULL, *principal;
	char secret[80] = "", err[256];
	int opt, rc, fresh = 0;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt == 'l')
			level = optarg;
		else if (opt == 'p')
			person = optarg;
		else
			return usage_err("reviewer", use);
	}
	if (optind != argc - 1 || level == NULL || person == NULL)
		return usage_err("reviewer", use);
	principal = argv[optind];
	if (!level_known(conf, level)) {
		fprintf(stderr,
		        "mqttsec-gateway: %s is not a review level of any marketing route "
		        "(review_levels)\n",
		        level);
		return EX_DATAERR;
	}
	rc = gw_reviewer_add(s, principal, level, person, (int64_t)mqs_now_ms(), &fresh, secret,
	                     sizeof(secret), err, sizeof(err));
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot add reviewer: %s\n", err);
		return gw_cmd_exit_code(rc);
	}
	printf("%s reviews level %s for person %s\n", principal, level, person);
	if (fresh)
		rc = secret_print(person, secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	return gw_cmd_exit_code(rc);
}

/* One reviewer: a table line or a JSON object. */
static int list_row(const struct gw_reviewer_info *ri, void *arg)
{
	cJSON *arr = arg, *o;
	char t[32];

	if (arr == NULL) {
		printf("%-30s %-16s %-16s %s\n", ri->principal, ri->level, ri->person,
		       when(ri->created_at, t, sizeof(t)));
		return MQS_OK;
	}
	o = cJSON_CreateObject();
	if (o == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(arr, o);
	cJSON_AddStringToObject(o, "principal", ri->principal);
	cJSON_AddStringToObject(o, "level", ri->level);
	cJSON_AddStringToObject(o, "person", ri->person);
	cJSON_AddNumberToObject(o, "created_at", (double)ri->created_at);
	return MQS_OK;
}

/* reviewer list [--json] */
static int list(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	cJSON *arr = NULL;
	int opt, rc, json = 0;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt != 'j')
			return usage_err("reviewer", "list [--json]");
		json = 1;
	}
	if (optind != argc)
		return usage_err("reviewer", "list [--json]");
	if (json) {
		arr = cJSON_CreateArray();
		if (arr == NULL)
			return EX_SOFTWARE;
	} else {
		printf("%-30s %-16s %-16s %s\n", "PRINCIPAL", "LEVEL", "PERSON", "ADDED");
	}
	rc = gw_reviewer_each(s, list_row, arr);
	if (rc == MQS_OK && json)
		rc = gw_cmd_json_print(stdout, arr);
	cJSON_Delete(arr);
	if (rc != MQS_OK)
		fprintf(stderr, "mqttsec-gateway: cannot list reviewers\n");
	return gw_cmd_exit_code(rc);
}

/* reviewer rm PRINCIPAL [--level L] */
static int rm(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"level", required_argument, NULL, 'l'},
	                                     {NULL, 0, NULL, 0}};
	const char *level = NULL;
	char err[256];
	int opt, rc;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt != 'l')
			return usage_err("reviewer", "rm PRINCIPAL [--level L]");
		level = optarg;
	}
	if (optind != argc - 1)
		return usage_err("reviewer", "rm PRINCIPAL [--level L]");
	rc = gw_reviewer_rm(s, argv[optind], level, err, sizeof(err));
	if (rc != MQS_OK)
		fprintf(stderr, "mqttsec-gateway: %s\n", err);
	return gw_cmd_exit_code(rc);
}

/* reviewer ...: check the subcommand, open the store, run it. */
int gw_cmd_reviewer(struct gw_config *conf, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	struct gw_store s;
	int rc;

	if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "rm") != 0)
		return usage_err("reviewer", "add|list|rm ...");
	rc = gw_cmd_open_store(conf, &s);
	if (rc != EX_OK)
		return rc;
	if (strcmp(sub, "add") == 0)
		rc = add(conf, &s, argc - 1, argv + 1);
	else if (strcmp(sub, "list") == 0)
		rc = list(&s, argc - 1, argv + 1);
	else
		rc = rm(&s, argc - 1, argv + 1);
	gw_store_close(&s);
	return rc;
}

/* author add PRINCIPAL --person PERSON */
static int author_add(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"person", required_argument, NULL, 'p'},
	                                     {NULL, 0, NULL, 0}};
	static const char use[] = "add PRINCIPAL --person PERSON";
	const char *person = NULL, *principal;
	char secret[80] = "", err[256];
	int opt, rc, fresh = 0;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt != 'p')
			return usage_err("author", use);
		person = optarg;
	}
	if (optind != argc - 1 || person == NULL)
		return usage_err("author", use);
	principal = argv[optind];
	rc = gw_author_add(s, principal, person, (int64_t)mqs_now_ms(), &fresh, secret,
	                   sizeof(secret), err, sizeof(err));
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot add author: %s\n", err);
		return gw_cmd_exit_code(rc);
	}
	printf("%s submits campaigns for person %s\n", principal, person);
	if (fresh)
		rc = secret_print(person, secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	return gw_cmd_exit_code(rc);
}

/* One author: a table line or a JSON object. */
static int author_row(const struct gw_reviewer_info *ri, void *arg)
{
	cJSON *arr = arg, *o;
	char t[32];

	if (arr == NULL) {
		printf("%-30s %-16s %s\n", ri->principal, ri->person,
		       when(ri->created_at, t, sizeof(t)));
		return MQS_OK;
	}
	o = cJSON_CreateObject();
	if (o == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(arr, o);
	cJSON_AddStringToObject(o, "principal", ri->principal);
	cJSON_AddStringToObject(o, "person", ri->person);
	cJSON_AddNumberToObject(o, "created_at", (double)ri->created_at);
	return MQS_OK;
}

/* author list [--json] */
static int author_list(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	cJSON *arr = NULL;
	int opt, rc, json = 0;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt != 'j')
			return usage_err("author", "list [--json]");
		json = 1;
	}
	if (optind != argc)
		return usage_err("author", "list [--json]");
	if (json) {
		arr = cJSON_CreateArray();
		if (arr == NULL)
			return EX_SOFTWARE;
	} else {
		printf("%-30s %-16s %s\n", "PRINCIPAL", "PERSON", "ADDED");
	}
	rc = gw_author_each(s, author_row, arr);
	if (rc == MQS_OK && json)
		rc = gw_cmd_json_print(stdout, arr);
	cJSON_Delete(arr);
	if (rc != MQS_OK)
		fprintf(stderr, "mqttsec-gateway: cannot list authors\n");
	return gw_cmd_exit_code(rc);
}

/* author ...: check the subcommand, open the store, run it. */
int gw_cmd_author(struct gw_config *conf, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	struct gw_store s;
	char err[256];
	int rc;

	if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "rm") != 0)
		return usage_err("author", "add|list|rm ...");
	if (strcmp(sub, "rm") == 0 && argc != 3)
		return usage_err("author", "rm PRINCIPAL");
	rc = gw_cmd_open_store(conf, &s);
	if (rc != EX_OK)
		return rc;
	if (strcmp(sub, "add") == 0) {
		rc = author_add(&s, argc - 1, argv + 1);
	} else if (strcmp(sub, "list") == 0) {
		rc = author_list(&s, argc - 1, argv + 1);
	} else {
		rc = gw_author_rm(&s, argv[2], err, sizeof(err));
		if (rc != MQS_OK)
			fprintf(stderr, "mqttsec-gateway: %s\n", err);
		rc = gw_cmd_exit_code(rc);
	}
	gw_store_close(&s);
	return rc;
}

/* One audit row: a table line or a JSON object. */
static int audit_row(const struct gw_audit_info *ai, void *arg)
{
	cJSON *arr = arg, *o;
	char t[32];

	if (arr == NULL) {
		printf("%s %-24s %-14s %-10s %-24s %-10s %s %s%s%s\n", when(ai->at, t, sizeof(t)),
		       ai->campaign, ai->event, ai->level ? ai->level : "-",
		       ai->principal ? ai->principal : "-", ai->person ? ai->person : "-",
		       ai->sha256 ? ai->sha256 : "-", ai->source ? ai->source : "-",
		       ai->reason ? ": " : "", ai->reason ? ai->reason : "");
		return MQS_OK;
	}
	o = cJSON_CreateObject();
	if (o == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(arr, o);
	cJSON_AddNumberToObject(o, "id", (double)ai->id);
	cJSON_AddNumberToObject(o, "at", (double)ai->at);
	cJSON_AddStringToObject(o, "campaign", ai->campaign);
	cJSON_AddStringToObject(o, "event", ai->event);
	if (ai->level != NULL)
		cJSON_AddStringToObject(o, "level", ai->level);
	if (ai->principal != NULL)
		cJSON_AddStringToObject(o, "principal", ai->principal);
	if (ai->person != NULL)
		cJSON_AddStringToObject(o, "person", ai->person);
	if (ai->sha256 != NULL)
		cJSON_AddStringToObject(o, "sha256", ai->sha256);
	if (ai->reason != NULL)
		cJSON_AddStringToObject(o, "reason", ai->reason);
	if (ai->source != NULL)
		cJSON_AddStringToObject(o, "source", ai->source);
	return MQS_OK;
}

/* audit [--campaign ID] [--limit N] [--json] */
int gw_cmd_audit(struct gw_config *conf, int argc, char **argv)
{
	static const struct option opts[] = {{"campaign", required_argument, NULL, 'c'},
	                                     {"limit", required_argument, NULL, 'n'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	static const char use[] = "[--campaign ID] [--limit N] [--json]";
	const char *cid = NULL;
	struct gw_store s;
	cJSON *arr = NULL;
	long limit = 0;
	char *end;
	int opt, rc, json = 0;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt == 'c') {
			cid = optarg;
		} else if (opt == 'n') {
			limit = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || limit < 1 || limit > 1000000)
				return usage_err("audit", use);
		} else if (opt == 'j') {
			json = 1;
		} else {
			return usage_err("audit", use);
		}
	}
	if (optind != argc)
		return usage_err("audit", use);
	rc = gw_cmd_open_store(conf, &s);
	if (rc != EX_OK)
		return rc;
	if (json) {
		arr = cJSON_CreateArray();
		if (arr == NULL) {
			gw_store_close(&s);
			return EX_SOFTWARE;
		}
	} else {
		printf("%-20s %-24s %-14s %-10s %-24s %-10s %-64s %s\n", "AT", "CAMPAIGN", "EVENT",
		       "LEVEL", "PRINCIPAL", "PERSON", "SHA256", "SOURCE: REASON");
	}
	rc = gw_audit_each(&s, cid, (int)limit, audit_row, arr);
	if (rc == MQS_OK && json)
		rc = gw_cmd_json_print(stdout, arr);
	cJSON_Delete(arr);
	gw_store_close(&s);
	if (rc != MQS_OK)
		fprintf(stderr, "mqttsec-gateway: cannot read the audit\n");
	return gw_cmd_exit_code(rc);
}
