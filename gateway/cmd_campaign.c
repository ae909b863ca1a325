/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_campaign.c - `campaign submit|list|show|report|cancel|approve|reject`
 * (docs/marketing.md, "Review"; gw_cmd.h). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "gw_campaign.h"
#include "gw_cmd.h"
#include "gw_kind.h"
#include "gw_marketing.h"
#include "gw_review.h"
#include "gw_util.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_util.h"

/* Print the usage of a subcommand; EX_USAGE. */
static int usage_err(const char *what)
{
	fprintf(stderr, "usage: mqttsec-gateway campaign %s\n", what);
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

/* Read a whole file of at most GW_CAMPAIGN_MAX bytes.  MQS_OK, MQS_ERR_IO
 * or MQS_ERR_TOOBIG. */
static int read_campaign(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n;
	int rc = MQS_ERR_IO;

	*out = NULL;
	*len = 0;
	if (f == NULL)
		return MQS_ERR_IO;
	buf = mqs_malloc(GW_CAMPAIGN_MAX + 1);
	if (buf == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	n = fread(buf, 1, GW_CAMPAIGN_MAX + 1, f);
	if (ferror(f))
		goto out;
	if (n > GW_CAMPAIGN_MAX) {
		rc = MQS_ERR_TOOBIG;
		goto out;
	}
	*out = buf;
	*len = n;
	buf = NULL;
	rc = MQS_OK;
out:
	mqs_free(buf);
	fclose(f);
	return rc;
}

/* The marketing route named name, or the only one when name is NULL. */
static const struct gw_route *marketing_route(const struct gw_config *conf, const char *name)
{
	const struct gw_route *found = NULL;
	size_t n = 0;

	for (size_t i = 0; i < conf->nroutes; i++) {
		const struct gw_route *r = &conf->routes[i];

		if (r->kind != GW_KIND_MARKETING)
			continue;
		if (name != NULL && strcmp(r->name, name) == 0)
			return r;
		found = r;
		n++;
	}
	return name == NULL && n == 1 ? found : NULL;
}

/* The campaign id of bytes when they parse, into cid (GW_ID_MAX + 1), else
 * "". */
static void campaign_id(const uint8_t *bytes, size_t len, char *cid)
{
	struct gw_campaign c;
	char err[256];

	cid[0] = '\0';
	if (gw_campaign_parse(bytes, len, &c, err, sizeof(err)) != MQS_OK)
		return;
	snprintf(cid, GW_ID_MAX + 1, "%s", c.id);
	gw_campaign_release(&c);
}

/* campaign submit FILE --author PRINCIPAL [--code TOTP] [--route R]: the
 * author's own one-time code proves the author (docs/marketing.md,
 * "Review"); without it the submission is stored with source
 * "cli-unproven" in the audit (whoever runs this command holds the master
 * key, so the code documents the author rather than guards the store). */
static int submit(const struct gw_config *conf, struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"author", required_argument, NULL, 'a'},
	                                     {"code", required_argument, NULL, 'c'},
	                                     {"route", required_argument, NULL, 'r'},
	                                     {NULL, 0, NULL, 0}};
	static const char use[] = "submit FILE --author PRINCIPAL [--code TOTP] [--route R]";
	const char *author = NULL, *route = NULL, *code = NULL;
	const struct gw_route *r;
	char cid[GW_ID_MAX + 1], err[512];
	uint8_t *bytes = NULL;
	size_t len = 0;
	int64_t now = (int64_t)mqs_now_ms();
	int opt, rc;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt == 'a')
			author = optarg;
		else if (opt == 'c')
			code = optarg;
		else if (opt == 'r')
			route = optarg;
		else
			return usage_err(use);
	}
	if (optind != argc - 1 || author == NULL)
		return usage_err(use);
	r = marketing_route(conf, route);
	if (r == NULL) {
		fprintf(stderr, "mqttsec-gateway: %s\n",
		        route != NULL ? "no marketing route by that name"
		                      : "name the marketing route with --route (none or several)");
		return EX_USAGE;
	}
	rc = read_campaign(argv[optind], &bytes, &len);
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot read %s: %s\n", argv[optind],
		        rc == MQS_ERR_TOOBIG ? "larger than 64 KiB" : strerror(errno));
		return rc == MQS_ERR_TOOBIG ? EX_DATAERR : EX_NOINPUT;
	}
	rc = code != NULL ? gw_review_check_code(s, author, code, now, err, sizeof(err)) : MQS_OK;
	if (rc != MQS_OK) {
		/* nothing stored; the refusal is audited when the campaign has an id */
		campaign_id(bytes, len, cid);
		mqs_free(bytes);
		if (cid[0] != '\0' && gw_review_audit(s, cid, "submit_refused", NULL, author, NULL,
		                                      NULL, err, "cli", now) != MQS_OK)
			fprintf(stderr, "mqttsec-gateway: cannot audit the refusal\n");
		fprintf(stderr, "mqttsec-gateway: campaign refused: %s\n", err);
		/* no such author, a wrong or replayed code, a locked person: EX_NOPERM */
		return rc == MQS_ERR_DB ? EX_IOERR : EX_NOPERM;
	}
	if (code == NULL)
		fprintf(stderr,
		        "mqttsec-gateway: warning: author %s not proven by a one-time code "
		        "(--code): audited as cli-unproven\n",
		        author);
	rc = gw_review_submit(s, r, bytes, len, author, code != NULL ? "cli" : "cli-unproven", now,
	                      cid, err, sizeof(err));
	mqs_free(bytes);
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: campaign refused: %s\n", err);
		return gw_cmd_exit_code(rc);
	}
	printf("campaign %s stored, pending review (route %s)\n", cid, r->name);
	return EX_OK;
}

/* What a listing accumulates. */
struct listing {
	cJSON *arr; /* NULL: a table */
	struct gw_store *s;
	int full; /* show: levels with their decisions and the content */
};

/* The JSON object of a campaign. */
static cJSON *campaign_json(const struct gw_campaign_info *ci)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "id", ci->cid);
	cJSON_AddStringToObject(o, "route", ci->route);
	cJSON_AddStringToObject(o, "author", ci->author);
	cJSON_AddStringToObject(o, "state", ci->state);
	cJSON_AddStringToObject(o, "sha256", ci->sha256);
	cJSON_AddStringToObject(o, "group", ci->group);
	cJSON_AddStringToObject(o, "channels", ci->channels);
	cJSON_AddStringToObject(o, "levels", ci->levels);
	cJSON_AddNumberToObject(o, "level_idx", ci->level_idx);
	cJSON_AddNumberToObject(o, "send_at", (double)ci->send_at);
	cJSON_AddNumberToObject(o, "expires_at", (double)ci->expires_at);
	cJSON_AddNumberToObject(o, "created_at", (double)ci->created_at);
	cJSON_AddNumberToObject(o, "updated_at", (double)ci->updated_at);
	return o;
}

/* One campaign in a listing. */
static int list_row(const struct gw_campaign_info *ci, void *arg)
{
	struct listing *l = arg;
	char t[32];
	cJSON *o;

	if (l->arr == NULL) {
		printf("%-32s %-15s %-10s %-26s %s\n", ci->cid, ci->state, ci->route, ci->author,
		       when(ci->created_at, t, sizeof(t)));
		return MQS_OK;
	}
	o = campaign_json(ci);
	if (o == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(l->arr, o);
	return MQS_OK;
}

/* campaign list [--status S] [--json] */
static int list(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"status", required_argument, NULL, 's'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	static const char use[] = "list [--status S] [--json]";
	struct listing l = {NULL, s, 0};
	const char *status = NULL;
	int json = 0, opt, rc;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt == 's')
			status = optarg;
		else if (opt == 'j')
			json = 1;
		else
			return usage_err(use);
	}
	if (optind != argc)
		return usage_err(use);
	if (json) {
		l.arr = cJSON_CreateArray();
		if (l.arr == NULL)
			return EX_SOFTWARE;
	} else {
		printf("%-32s %-15s %-10s %-26s %s\n", "ID", "STATE", "ROUTE", "AUTHOR", "CREATED");
	}
	rc = gw_review_each(s, status, list_row, &l);
	if (rc == MQS_OK && json)
		rc = gw_cmd_json_print(stdout, l.arr);
	cJSON_Delete(l.arr);
	if (rc != MQS_OK)
		fprintf(stderr, "mqttsec-gateway: cannot list campaigns\n");
	return gw_cmd_exit_code(rc);
}

/* Decisions of one campaign, for show: the approval (or rejection) of
 * each level. */
struct decisions {
	cJSON *arr;
	char levels[GW_LEVELS_MAX * 65];
	char who[GW_LEVELS_MAX][GW_PRINCIPAL_MAX + 80];
	int64_t at[GW_LEVELS_MAX];
	char what[GW_LEVELS_MAX][12];
	char *names[GW_LEVELS_MAX];
	size_t n;
};

/* An audit row: keep the decisions per level. */
static int decision_row(const struct gw_audit_info *ai, void *arg)
{
	struct decisions *d = arg;

	if (strcmp(ai->event, "approved") != 0 && strcmp(ai->event, "rejected") != 0)
		return MQS_OK;
	for (size_t i = 0; i < d->n; i++) {
		if (ai->level == NULL || strcmp(d->names[i], ai->level) != 0)
			continue;
		snprintf(d->who[i], sizeof(d->who[i]), "%s (person %s)",
		         ai->principal ? ai->principal : "-", ai->person ? ai->person : "-");
		snprintf(d->what[i], sizeof(d->what[i]), "%s", ai->event);
		d->at[i] = ai->at;
	}
	return MQS_OK;
}

/* Print one campaign in full. */
static int show_row(const struct gw_campaign_info *ci, void *arg)
{
	struct listing *l = arg;
	struct decisions d;
	uint8_t *bytes = NULL;
	size_t len = 0, n = 0;
	char t[32], *p, *text;
	cJSON *o = NULL, *lv;
	int rc;

	memset(&d, 0, sizeof(d));
	snprintf(d.levels, sizeof(d.levels), "%s", ci->levels);
	for (p = d.levels; p != NULL && *p != '\0' && n < GW_LEVELS_MAX;) {
		char *comma = strchr(p, ',');

		if (comma != NULL)
			*comma = '\0';
		d.names[n++] = p;
		p = comma != NULL ? comma + 1 : NULL;
	}
	d.n = n;
	rc = gw_audit_each(l->s, ci->cid, 0, decision_row, &d);
	if (rc != MQS_OK)
		return rc;
	rc = gw_review_load(l->s, ci->rowid, &bytes, &len);
	if (rc != MQS_OK)
		return rc;
	if (l->arr != NULL) {
		o = campaign_json(ci);
		lv = cJSON_AddArrayToObject(o, "decisions");
		for (size_t i = 0; lv != NULL && i < n; i++) {
			cJSON *e = cJSON_CreateObject();

			cJSON_AddItemToArray(lv, e);
			cJSON_AddStringToObject(e, "level", d.names[i]);
			cJSON_AddStringToObject(e, "decision",
			                        d.what[i][0] ? d.what[i] : "pending");
			cJSON_AddStringToObject(e, "by", d.who[i]);
			cJSON_AddNumberToObject(e, "at", (double)d.at[i]);
		}
		text = mqs_malloc(len + 1);
		if (text != NULL) {
			memcpy(text, bytes, len);
			text[len] = '\0';
			cJSON_AddStringToObject(o, "campaign", text);
			mqs_free(text);
		}
		rc = gw_cmd_json_print(stdout, o);
		cJSON_Delete(o);
		goto out;
	}
	printf("id:         %s\n", ci->cid);
	printf("state:      %s\n", ci->state);
	printf("sha256:     %s\n", ci->sha256);
	printf("route:      %s\n", ci->route);
	printf("author:     %s\n", ci->author);
	printf("group:      %s\n", ci->group);
	printf("channels:   %s\n", ci->channels);
	printf("send_at:    %s\n", ci->send_at ? when(ci->send_at, t, sizeof(t)) : "when approved");
	printf("expires_at: %s\n", when(ci->expires_at, t, sizeof(t)));
	printf("created_at: %s\n", when(ci->created_at, t, sizeof(t)));
	printf("levels:\n");
	for (size_t i = 0; i < n; i++) {
		if (d.what[i][0] != '\0')
			printf("  %zu %-16s %-9s by %s at %s\n", i + 1, d.names[i], d.what[i],
			       d.who[i], when(d.at[i], t, sizeof(t)));
		else
			printf("  %zu %-16s %s\n", i + 1, d.names[i],
			       (int)i == ci->level_idx && strcmp(ci->state, "pending_review") == 0
			           ? "waiting"
			           : "-");
	}
	printf("campaign (%zu bytes):\n", len);
	fwrite(bytes, 1, len, stdout);
	if (len > 0 && bytes[len - 1] != '\n')
		fputc('\n', stdout);
	rc = ferror(stdout) ? MQS_ERR_IO : MQS_OK;
out:
	mqs_free(bytes);
	return rc;
}

/* campaign show ID [--json] */
static int show(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	struct listing l = {NULL, s, 1};
	cJSON *marker = NULL;
	int opt, rc;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt != 'j')
			return usage_err("show ID [--json]");
		marker = cJSON_CreateArray(); /* non-NULL: JSON output */
		l.arr = marker;
	}
	if (optind != argc - 1)
		return usage_err("show ID [--json]");
	rc = gw_review_get(s, argv[optind], show_row, &l);
	cJSON_Delete(marker);
	if (rc == MQS_ERR_NOENT)
		fprintf(stderr, "mqttsec-gateway: no campaign %s\n", argv[optind]);
	else if (rc == MQS_ERR_UNWRAP)
		fprintf(stderr, "mqttsec-gateway: campaign %s does not open (wrong master key?)\n",
		        argv[optind]);
	else if (rc != MQS_OK)
		fprintf(stderr, "mqttsec-gateway: cannot show campaign %s\n", argv[optind]);
	return gw_cmd_exit_code(rc);
}

/* campaign report ID [--json] */
static int report(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	struct gw_report r;
	int json = 0, opt, rc;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt != 'j')
			return usage_err("report ID [--json]");
		json = 1;
	}
	if (optind != argc - 1)
		return usage_err("report ID [--json]");
	rc = gw_marketing_report(s, argv[optind], &r);
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: no report for campaign %s: %s\n", argv[optind],
		        rc == MQS_ERR_NOENT ? "no such campaign" : mqs_strerror(rc));
		return gw_cmd_exit_code(rc);
	}
	if (json) {
		cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "channels");

		if (o == NULL || a == NULL) {
			cJSON_Delete(o);
			fprintf(stderr, "mqttsec-gateway: out of memory\n");
			return EX_OSERR;
		}
		cJSON_AddStringToObject(o, "id", argv[optind]);
		cJSON_AddStringToObject(o, "state", r.state);
		cJSON_AddBoolToObject(o, "fanned_out", r.fanned_out);
		for (size_t i = 0; a != NULL && i < r.nchans; i++) {
			const struct gw_report_chan *c = &r.chans[i];
			cJSON *e = cJSON_CreateObject();

			cJSON_AddItemToArray(a, e);
			cJSON_AddStringToObject(e, "channel", gw_chan_name(c->chan));
			cJSON_AddNumberToObject(e, "audience", (double)c->audience);
			cJSON_AddNumberToObject(e, "no_consent", (double)c->no_consent);
			cJSON_AddNumberToObject(e, "opted_out", (double)c->opted_out);
			cJSON_AddNumberToObject(e, "no_address", (double)c->no_address);
			cJSON_AddNumberToObject(e, "deferred", (double)c->deferred);
			cJSON_AddNumberToObject(e, "queued", (double)c->queued);
			cJSON_AddNumberToObject(e, "sending", (double)c->sending);
			cJSON_AddNumberToObject(e, "sent", (double)c->sent);
			cJSON_AddNumberToObject(e, "failed", (double)c->failed);
			cJSON_AddNumberToObject(e, "dead", (double)c->dead);
		}
		rc = gw_cmd_json_print(stdout, o);
		cJSON_Delete(o);
		return gw_cmd_exit_code(rc);
	}
	printf("campaign %s: %s%s\n", argv[optind], r.state,
	       r.fanned_out ? "" : " (fan-out not finished)");
	printf("%-8s %8s %10s %9s %10s %8s %7s %7s %7s %7s %7s\n", "CHANNEL", "AUDIENCE",
	       "NO_CONSENT", "OPTED_OUT", "NO_ADDRESS", "DEFERRED", "QUEUED", "SENDING", "SENT",
	       "FAILED", "DEAD");
	for (size_t i = 0; i < r.nchans; i++) {
		const struct gw_report_chan *c = &r.chans[i];

		printf("%-8s %8lld %10lld %9lld %10lld %8lld %7lld %7lld %7lld %7lld %7lld\n",
		       gw_chan_name(c->chan), (long long)c->audience, (long long)c->no_consent,
		       (long long)c->opted_out, (long long)c->no_address, (long long)c->deferred,
		       (long long)c->queued, (long long)c->sending, (long long)c->sent,
		       (long long)c->failed, (long long)c->dead);
	}
	return EX_OK;
}

/* campaign approve ID --reviewer P --sha256 HEX --code TOTP
 * campaign reject ID --reviewer P --reason TEXT --code TOTP */
static int decide(struct gw_store *s, int decision, int argc, char **argv)
{
	static const struct option opts[] = {{"reviewer", required_argument, NULL, 'r'},
	                                     {"sha256", required_argument, NULL, 's'},
	                                     {"reason", required_argument, NULL, 'w'},
	                                     {"code", required_argument, NULL, 'c'},
	                                     {NULL, 0, NULL, 0}};
	const char *use =
	    decision == GW_DECIDE_APPROVE
	        ? "approve ID --reviewer PRINCIPAL --sha256 HEX --code TOTP"
	        : "reject ID --reviewer PRINCIPAL --reason TEXT --code TOTP [--sha256 HEX]";
	const char *reviewer = NULL, *sha = NULL, *reason = NULL, *code = NULL, *cid;
	char err[512];
	int64_t now = (int64_t)mqs_now_ms();
	int opt, rc;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt == 'r')
			reviewer = optarg;
		else if (opt == 's')
			sha = optarg;
		else if (opt == 'w' && decision == GW_DECIDE_REJECT)
			reason = optarg;
		else if (opt == 'c')
			code = optarg;
		else
			return usage_err(use);
	}
	if (optind != argc - 1 || reviewer == NULL || code == NULL ||
	    (decision == GW_DECIDE_APPROVE ? sha == NULL : reason == NULL))
		return usage_err(use);
	cid = argv[optind];
	rc = gw_review_decide_code(s, cid, reviewer, code, decision, NULL, sha, reason, "cli", now,
	                           err, sizeof(err));
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: %s refused: %s\n",
		        decision == GW_DECIDE_APPROVE ? "approval" : "rejection", err);
		/* no such reviewer, a wrong or replayed code, a locked person: EX_NOPERM */
		return gw_cmd_exit_code(rc);
	}
	printf("campaign %s: %s by %s\n", cid,
	       decision == GW_DECIDE_APPROVE ? "level approved" : "rejected", reviewer);
	return EX_OK;
}

/* campaign cancel ID */
static int cancel(struct gw_store *s, const char *cid)
{
	char err[256];
	int rc = gw_review_cancel(s, cid, "cli", (int64_t)mqs_now_ms(), err, sizeof(err));

	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot cancel: %s\n", err);
		return gw_cmd_exit_code(rc);
	}
	printf("campaign %s cancelled\n", cid);
	return EX_OK;
}

/* campaign ...: check the subcommand, open the store, run it. */
int gw_cmd_campaign(struct gw_config *conf, int argc, char **argv)
{
	static const char *const subs[] = {"submit", "list",    "show",   "report",
	                                   "cancel", "approve", "reject", NULL};
	const char *sub = argc > 1 ? argv[1] : "";
	struct gw_store s;
	int rc, known = 0;

	for (size_t i = 0; subs[i] != NULL; i++)
		known |= strcmp(sub, subs[i]) == 0;
	if (!known)
		return usage_err("submit|list|show|report|cancel|approve|reject ...");
	if (strcmp(sub, "cancel") == 0 && argc != 3)
		return usage_err("cancel ID");
	rc = gw_cmd_open_store(conf, &s);
	if (rc != EX_OK)
		return rc;
	if (strcmp(sub, "submit") == 0)
		rc = submit(conf, &s, argc - 1, argv + 1);
	else if (strcmp(sub, "list") == 0)
		rc = list(&s, argc - 1, argv + 1);
	else if (strcmp(sub, "show") == 0)
		rc = show(&s, argc - 1, argv + 1);
	else if (strcmp(sub, "report") == 0)
		rc = report(&s, argc - 1, argv + 1);
	else if (strcmp(sub, "cancel") == 0)
		rc = cancel(&s, argv[2]);
	else
		rc = decide(&s, strcmp(sub, "approve") == 0 ? GW_DECIDE_APPROVE : GW_DECIDE_REJECT,
		            argc - 1, argv + 1);
	gw_store_close(&s);
	return rc;
}
