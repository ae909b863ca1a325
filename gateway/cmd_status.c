/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_status.c - `status [--json]`: counts only, never content or PII
 * (docs/medical.md, "Watching it"): per medical-join route the records and
 * each drop reason (table medical_counters), the shares waiting per broker
 * (table pubq) and the outbox rows by state. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "gw_cmd.h"
#include "gw_kind.h"
#include "gw_outbox.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define USAGE "usage: mqttsec-gateway status [--json]\n"

/* Counters of every route, route then reason order; out NULL: JSON into
 * root["medical"]. */
static int status_counters(struct gw_store *s, const struct gw_config *conf, FILE *out, cJSON *root)
{
	sqlite3_stmt *st = gw_store_prepare(s, "SELECT route, reason, count, updated_at FROM "
	                                       "medical_counters ORDER BY route, reason");
	cJSON *routes = NULL, *cur = NULL;
	char last[256] = "";
	int r, rc = MQS_ERR_DB, any = 0;

	if (st == NULL)
		return rc;
	if (root != NULL) {
		routes = cJSON_AddObjectToObject(root, "medical");
		if (routes == NULL)
			goto out;
	} else {
		fprintf(out, "medical-join routes\n%-24s %-16s %12s\n", "ROUTE", "REASON", "COUNT");
	}
	/* configured routes without counters yet still show up */
	for (size_t i = 0; i < conf->nroutes; i++) {
		if (conf->routes[i].kind != GW_KIND_MEDICAL_JOIN)
			continue;
		if (routes != NULL &&
		    cJSON_GetObjectItemCaseSensitive(routes, conf->routes[i].name) == NULL &&
		    cJSON_AddObjectToObject(routes, conf->routes[i].name) == NULL)
			goto out;
	}
	for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
		const char *route = (const char *)sqlite3_column_text(st, 0);
		const char *reason = (const char *)sqlite3_column_text(st, 1);
		int64_t count = sqlite3_column_int64(st, 2);

		any = 1;
		if (routes == NULL) {
			fprintf(out, "%-24s %-16s %12lld\n", route, reason, (long long)count);
			continue;
		}
		if (strcmp(route, last) != 0 || cur == NULL) {
			snprintf(last, sizeof(last), "%s", route);
			cur = cJSON_GetObjectItemCaseSensitive(routes, route);
			if (cur == NULL)
				cur = cJSON_AddObjectToObject(routes, route);
			if (cur == NULL)
				goto out;
		}
		if (cJSON_AddNumberToObject(cur, reason, (double)count) == NULL)
			goto out;
	}
	if (r != SQLITE_DONE)
		goto out;
	if (routes == NULL && !any)
		fprintf(out, "(none)\n");
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Shares waiting per broker, with the age of the oldest. */
static int status_pubq(struct gw_store *s, FILE *out, cJSON *root, int64_t now)
{
	sqlite3_stmt *st = gw_store_prepare(
	    s,
	    "SELECT broker, count(*), min(created_at) FROM pubq GROUP BY broker ORDER BY broker");
	cJSON *arr = NULL;
	int r, rc = MQS_ERR_DB, any = 0;

	if (st == NULL)
		return rc;
	if (root != NULL) {
		arr = cJSON_AddArrayToObject(root, "pubq");
		if (arr == NULL)
			goto out;
	} else {
		fprintf(out, "\npublish queue\n%-24s %12s %12s\n", "BROKER", "WAITING",
		        "OLDEST(s)");
	}
	for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
		const char *broker = (const char *)sqlite3_column_text(st, 0);
		int64_t n = sqlite3_column_int64(st, 1);
		int64_t age = (now - sqlite3_column_int64(st, 2)) / 1000;
		cJSON *o;

		any = 1;
		if (age < 0)
			age = 0;
		if (arr == NULL) {
			fprintf(out, "%-24s %12lld %12lld\n", broker[0] ? broker : "-",
			        (long long)n, (long long)age);
			continue;
		}
		o = cJSON_CreateObject();
		if (o == NULL)
			goto out;
		cJSON_AddItemToArray(arr, o);
		if (cJSON_AddStringToObject(o, "broker", broker) == NULL ||
		    cJSON_AddNumberToObject(o, "waiting", (double)n) == NULL ||
		    cJSON_AddNumberToObject(o, "oldest_age_s", (double)age) == NULL)
			goto out;
	}
	if (r != SQLITE_DONE)
		goto out;
	if (arr == NULL && !any)
		fprintf(out, "(empty)\n");
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Outbox rows by state (every state shown, 0 included). */
static int status_outbox(struct gw_store *s, FILE *out, cJSON *root)
{
	static const char *const states[] = {"queued", "sending", "sent", "failed", "dead"};
	cJSON *obj = NULL;

	if (root != NULL) {
		obj = cJSON_AddObjectToObject(root, "outbox");
		if (obj == NULL)
			return MQS_ERR_NOMEM;
	} else {
		fprintf(out, "\noutbox\n%-24s %12s\n", "STATE", "ROWS");
	}
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		int64_t n = gw_outbox_count(s, states[i], NULL);

		if (n < 0)
			return MQS_ERR_DB;
		if (obj == NULL)
			fprintf(out, "%-24s %12lld\n", states[i], (long long)n);
		else if (cJSON_AddNumberToObject(obj, states[i], (double)n) == NULL)
			return MQS_ERR_NOMEM;
	}
	return MQS_OK;
}

/* status [--json] */
int gw_cmd_status(struct gw_config *conf, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	struct gw_store s;
	cJSON *root = NULL;
	int json = 0, opt, rc;
	int64_t now = (int64_t)mqs_now_ms();

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt != 'j') {
			fputs(USAGE, stderr);
			return EX_USAGE;
		}
		json = 1;
	}
	if (optind != argc) {
		fputs(USAGE, stderr);
		return EX_USAGE;
	}
	rc = gw_cmd_open_store(conf, &s);
	if (rc != EX_OK)
		return rc;
	if (json) {
		root = cJSON_CreateObject();
		if (root == NULL) {
			rc = EX_OSERR;
			goto out;
		}
	}
	if (status_counters(&s, conf, stdout, root) != MQS_OK ||
	    status_pubq(&s, stdout, root, now) != MQS_OK ||
	    status_outbox(&s, stdout, root) != MQS_OK ||
	    (root != NULL && gw_cmd_json_print(stdout, root) != MQS_OK)) {
		fprintf(stderr, "mqttsec-gateway: cannot read the status\n");
		rc = EX_IOERR;
	}
out:
	cJSON_Delete(root);
	gw_store_close(&s);
	return rc;
}
