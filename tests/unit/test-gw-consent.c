/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-consent.c - marketing consent and opt-outs (gw_consent.h): an
 * opt-out wins over consent, lifting it keeps consent off, every change is
 * one history row with its source, repeated calls change and log nothing,
 * bad channels and sources are refused. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_consent.h"
#include "gw_log.h"
#include "gw_recipient.h"
#include "gw_store.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "tap.h"

#define NOW 1800000000000LL

static char dir[] = "/tmp/test-gw-consent.XXXXXX";
static struct gw_store s;

/* History collected by rows(). */
struct hist {
	char text[2048];
	int n;
};

/* Append "channel event source;" of each row. */
static int rows(const struct gw_consent_event *ev, void *arg)
{
	struct hist *h = arg;
	size_t o = strlen(h->text);

	snprintf(h->text + o, sizeof(h->text) - o, "%s %s %s;", ev->channel, ev->event, ev->source);
	h->n++;
	return MQS_OK;
}

/* The consent state of name on ch. */
static struct gw_consent_state state(const char *name, int ch)
{
	struct gw_consent_state st;

	if (gw_consent_get(&s, name, ch, &st) != MQS_OK)
		memset(&st, 0, sizeof(st));
	return st;
}

int main(void)
{
	const char *alice[GW_F__COUNT] = {"alice@example.org", "+15550001234", NULL};
	char db[256], key[256], err[512];
	struct hist h;
	int64_t rid;
	int changed = -1;

	tap_plan(30);
	gw_log_set_level(GW_LOG_ERR);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db, sizeof(db), "%s/gw.db", dir);
	snprintf(key, sizeof(key), "%s/gw.key", dir);
	if (gw_store_open(&s, db, key, 0, err, sizeof(err)) != MQS_OK ||
	    gw_recipient_add(&s, "alice", alice, NULL, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("set-up: %s", err);
		return 1;
	}
	rid = gw_recipient_id(&s, "alice");

	tap_is_int(state("alice", GW_CH_EMAIL).consent, 0, "no consent by default");
	tap_is_int(gw_consent_set(&s, "alice", GW_CH_EMAIL, 1, "cli", NOW, err, sizeof(err)),
	           MQS_OK, "consent on");
	tap_is_int(state("alice", GW_CH_EMAIL).consent, 1, "... is on");
	tap_ok(state("alice", GW_CH_EMAIL).since_ms == NOW, "... since now");
	tap_is_int(gw_consent_set(&s, "alice", GW_CH_EMAIL, 1, "import", NOW + 1, err, sizeof(err)),
	           MQS_OK, "consent on again");
	tap_ok(strcmp(state("alice", GW_CH_EMAIL).source, "cli") == 0,
	       "... changes nothing (source kept)");
	tap_is_int(gw_consent_set(&s, "nobody", GW_CH_EMAIL, 1, "cli", NOW, err, sizeof(err)),
	           MQS_ERR_NOENT, "no such recipient");
	tap_is_int(gw_consent_set(&s, "alice", GW_CH_PHONE, 1, "cli", NOW, err, sizeof(err)),
	           MQS_ERR_INVAL, "no consent for phone calls");
	tap_is_int(gw_consent_set(&s, "alice", GW_CH_SMS, 1, "bad source", NOW, err, sizeof(err)),
	           MQS_ERR_INVAL, "a source with a space is refused");
	tap_ok(!gw_consent_source_ok("") && gw_consent_source_ok("console:ops") &&
	           !gw_consent_source_ok("0123456789012345678901234567890123456789012345678901234"
	                                 "5678901234"),
	       "source labels: 1..64 printable");

	/* opt-out wins */
	tap_is_int(gw_consent_optout(&s, rid, GW_CH_EMAIL, "twilio-21610", NOW + 2, &changed),
	           MQS_OK, "opt-out");
	tap_is_int(changed, 1, "... changed something");
	tap_is_int(state("alice", GW_CH_EMAIL).optout, 1, "... is recorded");
	tap_is_int(state("alice", GW_CH_EMAIL).consent, 0, "... and turned the consent off");
	tap_is_int(gw_consent_optout(&s, rid, GW_CH_EMAIL, "cli", NOW + 3, &changed), MQS_OK,
	           "opt-out again");
	tap_is_int(changed, 0, "... changes nothing");
	tap_is_int(gw_consent_set(&s, "alice", GW_CH_EMAIL, 1, "cli", NOW + 4, err, sizeof(err)),
	           MQS_ERR_INVAL, "consent on while opted out is refused");
	tap_ok(strstr(err, "opt-out") != NULL, "... with a reason");
	tap_is_int(state("alice", GW_CH_EMAIL).consent, 0, "... consent stays off");
	tap_is_int(gw_consent_optout(&s, 999999, GW_CH_EMAIL, "cli", NOW, &changed), MQS_ERR_NOENT,
	           "opt-out of no recipient");

	/* lifting keeps consent off */
	tap_is_int(gw_consent_optout_lift(&s, rid, GW_CH_EMAIL, "twilio-start", NOW + 5, &changed),
	           MQS_OK, "lift");
	tap_is_int(changed, 1, "... changed something");
	tap_is_int(state("alice", GW_CH_EMAIL).optout, 0, "... the opt-out is gone");
	tap_is_int(state("alice", GW_CH_EMAIL).consent, 0, "... consent stays off");
	tap_is_int(gw_consent_optout_lift(&s, rid, GW_CH_EMAIL, "cli", NOW + 6, &changed), MQS_OK,
	           "lift again");
	tap_is_int(changed, 0, "... changes nothing");
	tap_is_int(gw_consent_set(&s, "alice", GW_CH_EMAIL, 1, "cli", NOW + 7, err, sizeof(err)),
	           MQS_OK, "consent can be given again after the lift");

	memset(&h, 0, sizeof(h));
	tap_is_int(gw_consent_each(&s, "alice", rows, &h), MQS_OK, "history");
	tap_is_int(h.n, 5, "... five rows (repeats logged nothing)");
	tap_ok(strcmp(h.text, "email consent-on cli;email optout twilio-21610;"
	                      "email consent-off twilio-21610;email optout-lifted twilio-start;"
	                      "email consent-on cli;") == 0,
	       "... in order with their sources");
	if (h.n != 5)
		tap_diag("history: %s", h.text);
	gw_store_close(&s);
	unlink(db);
	unlink(key);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			tap_diag("cannot remove %s", dir);
	}
	tap_done();
	return tap_exit();
}
