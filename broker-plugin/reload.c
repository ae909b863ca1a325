/* SPDX-License-Identifier: BSD-3-Clause */
/* reload.c - MOSQ_EVT_TICK: the plugin's housekeeping, on the broker thread.
 *
 *   - queued automatic bans go to the database in one transaction, and so
 *     do the accepted TOTP steps the step journal made durable (then the
 *     journal is emptied; journal.h);
 *   - every poll interval PRAGMA data_version tells whether mqttsec-acl
 *     committed; then a new snapshot is built a slice at a time (a few ms
 *     per slice while the broker is busy, more while it is idle) and, when
 *     done, replaces the one in use (a pointer swap);
 *   - automatic topic key rotations (rotate.c);
 *   - client id bindings: releases merged after a commit, queued bindings
 *     written in one transaction, expired ones dropped (session.c);
 *   - connected clients are re-checked after a swap (in the same tick), a
 *     ban, or the expiry of an allow entry, and the ones now refused (also
 *     clients of a removed or re-added device) are disconnected (a check
 *     that ran out of memory is tried again on the next tick).
 *
 * Mosquitto 2.0.11 calls the tick on every turn of its main loop (about
 * once per packet under load), so the callback returns after a look at the
 * coarse clock unless there is work.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "mqs_error.h"
#include "keysvc.h"
#include "plugin.h"

#define TICK_MS            50    /* housekeeping at most this often */
#define SLICE_BUSY_MS      8     /* build work per slice while clients keep the broker busy */
#define SLICE_IDLE_MS      40    /* ... and while it is idle */
#define SLICE_GAP_MS       4     /* serving time between two slices */
#define IDLE_GAP_MS        20    /* a tick this long after the previous one: idle broker */
#define BUILD_RETRY_MS     5000  /* after a failed build */
#define FOLD_WARN_AFTER_MS 1000  /* failing folds: first warning */
#define FOLD_WARN_EVERY_MS 60000 /* ... and then */

/* Log a database problem once (until the message changes). */
static void log_db_error(struct mqsp_plugin *p, const char *what, const char *msg)
{
	char line[sizeof(p->last_error)];

	snprintf(line, sizeof(line), "%s: %s", what, msg);
	if (strcmp(line, p->last_error) == 0)
		return;
	memcpy(p->last_error, line, sizeof(line));
	mqsp_log(MOSQ_LOG_WARNING, "mqttsec: %s", line);
}

/* Fold the steps only the journal holds into the database; while that
 * fails (mqttsec-acl holds the lock, the disk is full), warn once a minute. */
static void fold_steps(struct mqsp_plugin *p, uint64_t mono)
{
	int rc = mqsp_auth_steps_fold(p, 0);

	if (rc == MQS_OK) {
		if (p->fold_failing_ms != 0 && p->fold_warned_ms != 0)
			mqsp_log(MOSQ_LOG_NOTICE,
			         "mqttsec: the database took the step journal again after %.1f s",
			         (double)(mono - p->fold_failing_ms) / 1000.0);
		p->fold_failing_ms = 0;
		p->fold_warned_ms = 0;
		return;
	}
	if (p->fold_failing_ms == 0)
		p->fold_failing_ms = mono;
	/* a lock held for a moment is normal: warn after a second */
	if (mono - p->fold_failing_ms < FOLD_WARN_AFTER_MS ||
	    (p->fold_warned_ms != 0 && mono - p->fold_warned_ms < FOLD_WARN_EVERY_MS))
		return;
	p->fold_warned_ms = mono;
	mqsp_log(MOSQ_LOG_WARNING,
	         "mqttsec: cannot fold the step journal into the database for %.0f s (%zu "
	         "steps wait; CONNECTs are refused at %d): %s",
	         (double)(mono - p->fold_failing_ms) / 1000.0, p->steps_dirty,
	         MQSP_JOURNAL_RECORDS_MAX, mqsp_auth_fold_error(p, rc));
}

/* Put a finished snapshot in use. */
static void swap_in(struct mqsp_plugin *p, struct mqsp_snapshot *s, int64_t now)
{
	struct mqsp_snapshot *old = p->snap;
	double t0 = mqsp_mono_ms();

	s->ban_seq = p->build_ban_seq;
	p->snap = s;
	memset(p->ucache, 0, sizeof(p->ucache)); /* devices of the old view */
	p->next_expiry = s->allow.next_expiry;
	mqsp_bans_prune(p->bans, s->ban_seq, now);
	mqsp_auth_steps_prune(p);
	mqsp_keysvc_swapped(p, old != NULL ? old->keys : NULL, s->keys); /* new topic keys */
	mqsp_snapshot_free(old);
	mqsp_log(MOSQ_LOG_INFO,
	         "mqttsec: reloaded %lu devices, %lu acl rules, %lu list entries in %.1f ms "
	         "(%.1f ms of broker time, longest slice %.1f ms, swap %.1f ms)",
	         s->ndevices, s->nrules, s->nentries, s->build_ms, s->work_ms,
	         p->build_max_slice_ms, mqsp_mono_ms() - t0);
	if (s->bad_secrets > 0)
		mqsp_log(MOSQ_LOG_WARNING,
		         "mqttsec: %lu devices have a TOTP secret that does not open; they "
		         "are refused",
		         s->bad_secrets);
	mqsp_reload_log_problems(s);
	/* at once, in this tick: no message reaches a client of a removed or
	 * re-added device under the new view */
	p->kick_pending = 0;
	mqsp_session_kick_denied(p, now);
}

/* Log the rows that cannot be used (ids, subjects, reasons: never a
 * filter or a pattern, which may be long or hold anything). */
void mqsp_reload_log_problems(const struct mqsp_snapshot *s)
{
	unsigned long shown = s->nproblems < MQSP_PROBLEMS_MAX ? s->nproblems : MQSP_PROBLEMS_MAX;

	if (s->nproblems == 0)
		return;
	mqsp_log(MOSQ_LOG_WARNING,
	         "mqttsec: %lu rows cannot be used (%lu acl rules, %lu list entries); %lu "
	         "subjects are denied everything%s",
	         s->nproblems, s->bad_rules, s->bad_entries, s->closed_subjects,
	         s->deny_everyone ? "; every CONNECT is refused" : "");
	for (unsigned long i = 0; i < shown; i++) {
		const struct mqsp_problem *q = &s->problems[i];

		mqsp_log(MOSQ_LOG_WARNING, "mqttsec: %s id %lld (%s %s) cannot be used: %s; %s",
		         q->what, (long long)q->id,
		         strstr(q->what, "acl") != NULL ? "subject" : "match",
		         q->subject != NULL ? q->subject : "?", q->why, q->outcome);
	}
	if (s->nproblems > shown)
		mqsp_log(MOSQ_LOG_WARNING, "mqttsec: %lu more rows cannot be used",
		         s->nproblems - shown);
}

/* Work on the build in progress for about budget_ms. */
static void build_slice(struct mqsp_plugin *p, double budget_ms, uint64_t mono)
{
	struct mqsp_snapshot *s = NULL;
	char err[256];
	double t0 = mqsp_mono_ms(), took;
	int rc = mqsp_build_step(p->build, budget_ms, &s, err, sizeof(err));

	took = mqsp_mono_ms() - t0;
	if (took > p->build_max_slice_ms)
		p->build_max_slice_ms = took;
	p->last_slice_ms = mqsp_coarse_ms();
	if (rc == MQSP_BUILD_AGAIN)
		return;
	mqsp_build_free(p->build);
	p->build = NULL;
	if (rc == MQS_OK) {
		p->rebuild = 0;
		swap_in(p, s, (int64_t)time(NULL));
		return;
	}
	mqsp_log(MOSQ_LOG_ERR, "mqttsec: reload failed, keeping the rules in use: %s", err);
	p->rebuild = 1;
	p->next_poll_ms = mono + BUILD_RETRY_MS;
}

/* Start a build when the database changed (or a failed one is due again). */
static void poll_changes(struct mqsp_plugin *p, uint64_t mono, int idle)
{
	int changed;

	p->next_poll_ms = mono + p->opt.poll_ms;
	changed = mqsp_store_changed(p->store);
	if (changed < 0) {
		log_db_error(p, "cannot poll the database", mqsp_store_error(p->store));
		return;
	}
	if (changed > 0)
		p->cids_merge = 1; /* client id releases (session.c) */
	if (!changed && !p->rebuild)
		return;
	/* what is committed now is what the new view will hold */
	p->build_ban_seq = mqsp_store_bans_done(p->store);
	p->build_max_slice_ms = 0;
	if (mqsp_build_start(mqsp_store_reader(p->store), p->mk, (int64_t)time(NULL), &p->build) !=
	    MQS_OK) {
		p->rebuild = 1;
		return;
	}
	/* the first slice at once: an idle broker may be done before the next tick */
	build_slice(p, idle ? SLICE_IDLE_MS : SLICE_BUSY_MS, mono);
}

/* MOSQ_EVT_TICK. */
int mqsp_tick_cb(int event, void *event_data, void *userdata)
{
	struct mqsp_plugin *p = userdata;
	uint64_t mono = mqsp_coarse_ms();
	int idle = mono - p->last_call_ms >= IDLE_GAP_MS;
	int64_t now;

	(void)event;
	(void)event_data;
	p->last_call_ms = mono;
	if (p->build != NULL && mono - p->last_slice_ms >= SLICE_GAP_MS)
		build_slice(p, idle ? SLICE_IDLE_MS : SLICE_BUSY_MS, mono);
	mqsp_keysvc_push_slice(p); /* queued key pushes, a few a pass (keysvc.h) */
	if (mono - p->last_tick_ms < TICK_MS)
		return MOSQ_ERR_SUCCESS;
	p->last_tick_ms = mono;
	now = (int64_t)time(NULL);
	if (mqsp_store_pending(p->store)) {
		if (mqsp_store_flush(p->store) != MQS_OK)
			log_db_error(p, "cannot write to the database (will retry)",
			             mqsp_store_error(p->store));
		else
			p->last_error[0] = '\0';
	}
	if (p->steps_dirty > 0)
		fold_steps(p, mono);
	/* a ban left out of memory (table full) applies again from the
	 * database: reload once everything queued is written (a build already
	 * running may have started before the commit: wait for it) */
	if (p->build == NULL && !mqsp_store_pending(p->store) && mqsp_bans_take_reload(p->bans))
		p->rebuild = 1;
	/* before the poll: a rotation asks for a new view at once */
	mqsp_rotate_tick(p, now);
	if (p->build == NULL && mono >= p->next_poll_ms)
		poll_changes(p, mono, idle);
	mqsp_session_clientids_tick(p, now);
	if (p->opt.allowlist && p->next_expiry != 0 && now >= p->next_expiry) {
		/* an allow entry expired: clients it let in may have to go */
		p->next_expiry = mqs_list_next_expiry(&p->snap->allow, now);
		p->kick_pending = 1;
		mqsp_rotate_revoke_want(p); /* key holders it let in may have lost their read */
	}
	if (p->revoke_pending)
		mqsp_rotate_revoke_tick(p, now);
	if (p->kick_pending) {
		p->kick_pending = 0;
		mqsp_session_kick_denied(p, now);
	}
	return MOSQ_ERR_SUCCESS;
}
