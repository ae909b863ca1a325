/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_outbox.c - `outbox [--status S] [--limit N] [--json]` and
 * `outbox requeue ID`. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "gw_cmd.h"
#include "gw_outbox.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define USAGE                                                                                      \
	"usage: mqttsec-gateway outbox [--status queued|sending|sent|failed|dead] [--limit N] "    \
	"[--json] | outbox requeue ID\n"

/* What a listing accumulates: the JSON array, or nothing for a table. */
struct listing {
	FILE *out;
	cJSON *arr; /* NULL: a table */
};

/* ms since the epoch as UTC ISO 8601, "-" for 0. */
static void fmt_time(int64_t ms, char *out, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0) {
		snprintf(out, cap, "-");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One outbox row: a table line or a JSON object. */
static int list_row(const struct gw_outbox_info *oi, void *arg)
{
	struct listing *l = arg;
	const char *err = oi->error, *ref = oi->provider_ref;
	char next_s[32], upd_s[32], from[340], seg[16];
	cJSON *o;

	fmt_time(strcmp(oi->state, "queued") == 0 ? oi->next_attempt_at : 0, next_s,
	         sizeof(next_s));
	fmt_time(oi->updated_at, upd_s, sizeof(upd_s));
	if (l->arr == NULL) {
		/* the id's namespace: route and publisher ("-": anonymous) */
		snprintf(from, sizeof(from), "%s:%s", oi->route != NULL ? oi->route : "",
		         oi->publisher != NULL && *oi->publisher != '\0' ? oi->publisher : "-");
		snprintf(seg, sizeof(seg), oi->segments > 0 ? "%d" : "-", oi->segments);
		fprintf(l->out, "%-8lld %-24s %-24s %-16s %-6s %-8s %-4d %-21s %-21s %-3s %s%s%s\n",
		        (long long)oi->id, oi->msg_id, from, oi->recipient, oi->channel, oi->state,
		        oi->attempts, next_s, upd_s, seg, err ? err : "", err && ref ? " " : "",
		        ref ? ref : (err ? "" : "-"));
		return MQS_OK;
	}
	o = cJSON_CreateObject();
	if (o == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(l->arr, o);
	cJSON_AddNumberToObject(o, "row", (double)oi->id);
	cJSON_AddStringToObject(o, "id", oi->msg_id);
	cJSON_AddStringToObject(o, "route", oi->route != NULL ? oi->route : "");
	cJSON_AddStringToObject(o, "publisher", oi->publisher != NULL ? oi->publisher : "");
	cJSON_AddStringToObject(o, "recipient", oi->recipient);
	cJSON_AddStringToObject(o, "channel", oi->channel);
	cJSON_AddStringToObject(o, "state", oi->state);
	cJSON_AddNumberToObject(o, "attempts", oi->attempts);
	cJSON_AddNumberToObject(o, "step", oi->step);
	if (oi->segments > 0)
		cJSON_AddNumberToObject(o, "segments", oi->segments);
	else
		cJSON_AddNullToObject(o, "segments");
	cJSON_AddNumberToObject(o, "next_attempt_at", (double)oi->next_attempt_at);
	cJSON_AddNumberToObject(o, "updated_at", (double)oi->updated_at);
	if (err != NULL)
		cJSON_AddStringToObject(o, "error", err);
	else
		cJSON_AddNullToObject(o, "error");
	if (ref != NULL)
		cJSON_AddStringToObject(o, "provider_ref", ref);
	else
		cJSON_AddNullToObject(o, "provider_ref");
	return MQS_OK;
}

/* Print rows (state NULL = all), newest first, at most limit. */
static int print_outbox(struct gw_store *s, const char *state, int limit, FILE *out, int json)
{
	struct listing l = {out, NULL};
	int rc = MQS_ERR_NOMEM;

	if (json) {
		l.arr = cJSON_CreateArray();
		if (l.arr == NULL)
			goto out;
	} else {
		fprintf(out, "%-8s %-24s %-24s %-16s %-6s %-8s %-4s %-21s %-21s %-3s %s\n", "ID",
		        "MESSAGE", "FROM", "RECIPIENT", "CHAN", "STATE", "TRY", "NEXT", "UPDATED",
		        "SEG", "ERROR/REF");
	}
	rc = gw_outbox_each(s, state, limit, list_row, &l);
	if (rc == MQS_OK && json)
		rc = gw_cmd_json_print(out, l.arr);
out:
	cJSON_Delete(l.arr);
	return rc;
}

/* outbox requeue ID: a dead delivery back to queued. */
static int requeue(struct gw_config *conf, const char *arg)
{
	struct gw_store s;
	char *end, err[256];
	long long id = strtoll(arg, &end, 10);
	int rc;

	if (*end != '\0' || end == arg || id <= 0) {
		fputs(USAGE, stderr);
		return EX_USAGE;
	}
	rc = gw_cmd_open_store(conf, &s);
	if (rc != EX_OK)
		return rc;
	rc = gw_outbox_requeue(&s, (int64_t)id, (int64_t)mqs_now_ms(), err, sizeof(err));
	if (rc != MQS_OK)
		fprintf(stderr, "mqttsec-gateway: cannot requeue: %s\n", err);
	else
		printf("delivery %lld queued again\n", id);
	gw_store_close(&s);
	return gw_cmd_exit_code(rc);
}

/* outbox [--status S] [--limit N] [--json] */
int gw_cmd_outbox(struct gw_config *conf, int argc, char **argv)
{
	static const struct option opts[] = {{"status", required_argument, NULL, 's'},
	                                     {"limit", required_argument, NULL, 'n'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	static const char *const states[] = {"queued", "sending", "sent", "failed", "dead"};
	const char *state = NULL;
	struct gw_store s;
	int json = 0, limit = 1000, opt, rc;
	char *end;

	if (argc >= 2 && strcmp(argv[1], "requeue") == 0) {
		if (argc != 3) {
			fputs(USAGE, stderr);
			return EX_USAGE;
		}
		return requeue(conf, argv[2]);
	}
	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		switch (opt) {
		case 's':
			state = NULL;
			for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
				if (strcmp(optarg, states[i]) == 0)
					state = states[i];
			}
			if (state == NULL) {
				fputs(USAGE, stderr);
				return EX_USAGE;
			}
			break;
		case 'n':
			limit = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || limit < 0) {
				fputs(USAGE, stderr);
				return EX_USAGE;
			}
			break;
		case 'j':
			json = 1;
			break;
		default:
			fputs(USAGE, stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fputs(USAGE, stderr);
		return EX_USAGE;
	}
	rc = gw_cmd_open_store(conf, &s);
	if (rc != EX_OK)
		return rc;
	if (print_outbox(&s, state, limit, stdout, json) != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot list the outbox\n");
		rc = EX_IOERR;
	}
	gw_store_close(&s);
	return rc;
}
