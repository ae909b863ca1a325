/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_review.h - campaigns in the store and their hierarchical review
 * (docs/marketing.md, "Review").
 *
 * Reviewers.  A PERSON (a name, 1..64 of A-Z a-z 0-9 _ - .) has one TOTP
 * secret of its own (RFC 6238, SHA-1, 6 digits, 30 s; 20 random bytes
 * wrapped under the master key with AAD "person:<name>"), created when the
 * person is first named and shown once.  A PRINCIPAL "mqtt:USERNAME" (the
 * broker-stamped origin of a sealed MQTT message) or "console:USER" (a
 * console account) acts for one person at one or more levels: table
 * reviewers (principal, level) -> person.
 *
 * Authors.  Every principal that submits a campaign must act for a person
 * (docs/marketing.md, "Review"): as a reviewer of some level, or as an
 * author only - a row of reviewers with the reserved level "@author"
 * (level names cannot hold '@', so it is no review level).  A submission
 * from a principal that acts for no person is refused (audited as
 * submit_refused, nothing stored), so the author's person is always known
 * and stored with the campaign, and that person never decides it.
 *
 * Campaigns.  Submitting stores the exact bytes (sealed under a key
 * derived from the master key, AAD bound to the campaign id), their
 * SHA-256, the route, the author principal and the author's person, the
 * route's review_levels at that moment
 * and expires_at = now + review_timeout; state pending_review, level 0.
 * The id is unique for ever: a changed campaign is a new id.
 *
 * Decisions (gw_review_decide), each refused with a reason and nothing
 * changed unless every rule holds:
 *   - the campaign is pending_review and not past expires_at;
 *   - the level is the campaign's current level (levels are decided in
 *     order; a level named by an MQTT review must be that level);
 *   - the principal is a reviewer of that level;
 *   - the sha256 equals the stored campaign's (an approval of other content
 *     is refused);
 *   - the principal's person is not the author's person, nor the author
 *     principal itself;
 *   - that person has not approved another level of this campaign.
 * An approval moves to the next level, or to state approved after the last
 * one; a rejection ends the campaign (state rejected).  Every decision and
 * every refusal is written to campaign_audit in the same transaction as
 * its effect (refusals in a transaction of their own): who (principal and
 * person), when, level, the sha256 presented, the reason, the source
 * (mqtt, cli, console).  Scheduling (approved -> scheduled) belongs to the
 * delivery side (gw_marketing.h), which checks these rules again from the
 * audit rows before anything is sent.
 *
 * Pure store module: no struct gw_gateway.  Content for reviewers is
 * queued through gw_pubq (gw_review_publish_due), drained by the loop.
 *
 * Ownership: the store is the caller's.  Strings in rows given to
 * callbacks live only during the call.  *bytes from gw_review_load() are
 * the caller's, freed with mqs_free() (lib/mqs_alloc.h).  Return values are enum
 * mqs_err codes with a lowercase reason in err.
 */
#ifndef GW_REVIEW_H
#define GW_REVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "gw_config.h"
#include "gw_store.h"
#include "mqs_error.h"

#define GW_PRINCIPAL_MAX 80 /* "console:" + 64 + NUL, rounded up */

/* 1 when p is "mqtt:NAME" or "console:NAME" with NAME 1..64 printable
 * ASCII characters other than space, '/', '+', '#'. */
int gw_principal_ok(const char *p);

/* Add principal as a reviewer of level for person.  When person is new,
 * its TOTP secret is created and *new_person = 1 with the base32 secret in
 * secret_b32 (cap >= 40; shown once by the command), else *new_person = 0.
 * Returns MQS_OK, MQS_ERR_EXISTS (principal already at that level),
 * MQS_ERR_INVAL or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_reviewer_add(struct gw_store *s, const char *principal, const char *level,
                                   const char *person, int64_t now_ms, int *new_person,
                                   char *secret_b32, size_t cap, char *err, size_t errlen);

/* Map principal to person as an author (reviewers row at level
 * "@author"), creating the person as gw_reviewer_add does.  Returns MQS_OK,
 * MQS_ERR_EXISTS (already an author), MQS_ERR_INVAL (bad names, or the
 * principal acts for another person) or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_author_add(struct gw_store *s, const char *principal, const char *person,
                                 int64_t now_ms, int *new_person, char *secret_b32, size_t cap,
                                 char *err, size_t errlen);

/* Remove the author mapping of principal (its reviewer levels stay).
 * Returns MQS_OK, MQS_ERR_NOENT (not an author) or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_author_rm(struct gw_store *s, const char *principal, char *err,
                                size_t errlen);

/* Remove principal from level (level NULL: from every review level; an
 * author mapping stays). */
MQS_MUST_CHECK int gw_reviewer_rm(struct gw_store *s, const char *principal, const char *level,
                                  char *err, size_t errlen);

struct gw_reviewer_info {
	const char *principal, *level, *person;
	int64_t created_at;
};

/* Call fn for each reviewer, by level then principal (authors not). */
int gw_reviewer_each(struct gw_store *s, int (*fn)(const struct gw_reviewer_info *ri, void *arg),
                     void *arg);

/* Call fn for each author, by principal (ri->level is "@author"). */
int gw_author_each(struct gw_store *s, int (*fn)(const struct gw_reviewer_info *ri, void *arg),
                   void *arg);

/* Check a one-time code of the person behind principal (a reviewer or an
 * author; campaign submit --code proves the author with it): a code whose step
 * is not later than the person's last accepted step is a replay
 * (MQS_ERR_TOTP_REPLAY); five wrong codes lock the person for 15 minutes
 * (MQS_ERR_PERM while locked).  Returns MQS_OK, MQS_ERR_NOENT (no such
 * reviewer nor author), MQS_ERR_TOTP, MQS_ERR_TOTP_REPLAY, MQS_ERR_PERM or
 * MQS_ERR_DB. */
MQS_MUST_CHECK int gw_review_check_code(struct gw_store *s, const char *principal, const char *code,
                                        int64_t now_ms, char *err, size_t errlen);

/* Store a submitted campaign for route r (kind = marketing) by author (a
 * principal; "mqtt:" + origin for MQTT).  The campaign is parsed and
 * checked (gw_campaign.h), author must act for a person (see Authors), its
 * group must exist, its limits are checked for the longest name in the
 * group.  *cid_out (GW_ID_MAX + 1, may be NULL) gets the id.  Returns
 * MQS_OK, MQS_ERR_EXISTS (id taken), MQS_ERR_PERM (the author acts for no
 * person), MQS_ERR_NOENT (no such group), MQS_ERR_PARSE / MQS_ERR_INVAL / MQS_ERR_TOOBIG (the
 * reason in err), MQS_ERR_DB. */
MQS_MUST_CHECK int gw_review_submit(struct gw_store *s, const struct gw_route *r,
                                    const uint8_t *bytes, size_t len, const char *author,
                                    const char *source, int64_t now_ms, char *cid_out, char *err,
                                    size_t errlen);

enum gw_decision { GW_DECIDE_APPROVE = 0, GW_DECIDE_REJECT };

/* One decision on campaign cid by principal (see the rules above).  level
 * NULL = the current level.  sha256_hex is required for both decisions;
 * reason is required for a rejection (1..500 characters).  source: "mqtt",
 * "cli" or "console".  Returns MQS_OK, MQS_ERR_NOENT (no such campaign),
 * MQS_ERR_PERM (a rule refused it: reason in err), MQS_ERR_INVAL (bad
 * arguments) or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_review_decide(struct gw_store *s, const char *cid, const char *principal,
                                    int decision, const char *level, const char *sha256_hex,
                                    const char *reason, const char *source, int64_t now_ms,
                                    char *err, size_t errlen);

/* One decision by principal proven with the one-time code of its person
 * (docs/marketing.md, "Deciding on the command line"): the code is checked
 * first (gw_review_check_code); a refused code changes nothing but the
 * person's counters and one audit row "refused" with source.  sha256_hex
 * NULL (a rejection only): the stored campaign's.  Then as
 * gw_review_decide() at level (NULL: the current level).  The command line and the
 * console both decide through here.  Returns MQS_OK, MQS_ERR_PERM (a wrong,
 * replayed or locked code, no such reviewer, or a rule refused it: reason
 * in err), MQS_ERR_NOENT (no such campaign), MQS_ERR_INVAL or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_review_decide_code(struct gw_store *s, const char *cid, const char *principal,
                                         const char *code, int decision, const char *level,
                                         const char *sha256_hex, const char *reason,
                                         const char *source, int64_t now_ms, char *err,
                                         size_t errlen);

/* Cancel cid by who (a principal or "cli"): only while its state is
 * pending_review, approved, scheduled or sending, checked and changed in
 * one UPDATE (the delivery side's scheduled -> sending tests that it
 * changed a row; a campaign cancelled while sending has its queued rows
 * failed by gw_marketing_tick).  Returns MQS_OK, MQS_ERR_NOENT,
 * MQS_ERR_PERM (done, rejected, expired or cancelled: too late) or
 * MQS_ERR_DB. */
MQS_MUST_CHECK int gw_review_cancel(struct gw_store *s, const char *cid, const char *who,
                                    int64_t now_ms, char *err, size_t errlen);

/* Expire every pending_review campaign past its expires_at (audited).
 * Returns the number expired, or -1 on a database error. */
int gw_review_expire(struct gw_store *s, int64_t now_ms);

/* Queue the content of every pending_review campaign whose current level
 * was not published yet (published_level < level_idx) for that level's
 * reviewers: payload {"id","level","sha256","author","campaign"} where
 * campaign is the exact stored text, on <status_topic>/<id>/content on
 * [broker] through gw_pubq (sealed when published).  One transaction.
 * Returns the number queued, or -1 on a database error. */
int gw_review_publish_due(struct gw_store *s, const char *status_topic, int64_t now_ms);

/* One campaign as listed and shown. */
struct gw_campaign_info {
	int64_t rowid;
	const char *cid, *route, *author, *state, *sha256, *group, *channels;
	const char *levels; /* comma list */
	int level_idx;      /* next level to decide (== number of levels once approved) */
	int64_t send_at, expires_at, created_at, updated_at;
	int64_t message; /* messages row once scheduled, else 0 */
};

/* Call fn for each campaign (state NULL: all), newest first. */
int gw_review_each(struct gw_store *s, const char *state,
                   int (*fn)(const struct gw_campaign_info *ci, void *arg), void *arg);

/* The row of cid into fn (called once).  MQS_OK, MQS_ERR_NOENT or
 * MQS_ERR_DB. */
int gw_review_get(struct gw_store *s, const char *cid,
                  int (*fn)(const struct gw_campaign_info *ci, void *arg), void *arg);

/* The exact submitted bytes of campaign row rowid (opened from their
 * sealed copy).  Returns MQS_OK, MQS_ERR_NOENT, MQS_ERR_UNWRAP (does not
 * open: wrong master key) or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_review_load(struct gw_store *s, int64_t rowid, uint8_t **bytes, size_t *len);

/* One audit row. */
struct gw_audit_info {
	int64_t id;
	const char *campaign, *event, *level, *principal, *person, *sha256, *reason, *source;
	int64_t at;
};

/* Append an audit row (the delivery side records scheduled, sending,
 * done).  Inside the caller's transaction when one is open. */
MQS_MUST_CHECK int gw_review_audit(struct gw_store *s, const char *cid, const char *event,
                                   const char *level, const char *principal, const char *person,
                                   const char *sha256, const char *reason, const char *source,
                                   int64_t now_ms);

/* Call fn for each audit row of cid (NULL: all), oldest first, at most
 * limit rows (<= 0: all). */
int gw_audit_each(struct gw_store *s, const char *cid, int limit,
                  int (*fn)(const struct gw_audit_info *ai, void *arg), void *arg);

/* 1 when the audit of campaign cid holds one approval per level of levels
 * (comma list), in order, each with sha256 equal to sha256_hex, each by a
 * different person, none by the author nor the author's person (stored
 * with the campaign; a campaign without one is never proven); 0 when not;
 * -1 on error.  The
 * delivery side calls it before it schedules a campaign. */
int gw_review_fully_approved(struct gw_store *s, const char *cid, const char *levels,
                             const char *sha256_hex, const char *author);

#endif
