/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_join.h - the receiver of k-of-n medical shares (docs/medical.md,
 * "Receiving"): groups shares by record id, rebuilds and opens records,
 * and drops everything else with a counted reason.  Used by the gateway's
 * medical-join routes and by `mqttsec-device join`.
 *
 * Groups and remembered ids are keyed by (sender, record id), the sender
 * being the record key whose tag verified: one sender's shares never join,
 * block or make `late` another sender's record of the same id.
 *
 * Rules, in order, for each share fed:
 *   1. structure (mqs_share_parse), else `bad-header`;
 *   2. the header tag, tried with the tag key of every configured record
 *      key; none verifies: `unknown-key` (this also names the sender);
 *   3. x must be the share number of the channel it came on (channel
 *      index + 1), else `wrong-channel`; n and k must be the configured
 *      ones, else `inconsistent`;
 *   4. a (sender, record id) completed or expired within the last
 *      timeout: `late`;
 *   5. S over max_record: `too-big`;
 *   6. within a group S must agree, else `inconsistent`; a share number
 *      already held: `duplicate`;
 *   7. the limits, else `pending-full`: a new group beyond max_pending
 *      groups, or max_pending_bytes bytes held in all; and per channel:
 *      the shares held that came on channel c may use at most
 *      max_pending_bytes / n bytes and at most max(1, max_pending / n)
 *      shares.  A channel that floods (a broker replaying old shares whose
 *      tags are still valid, or a backlog draining after an outage) fills
 *      only its own part: records completing from the other channels are
 *      unaffected (docs/medical.md, "Receiving");
 *   8. with k or more distinct shares the receiver combines every k-subset
 *      that includes the newest share and opens the record envelope with
 *      the sender's record key, refusing an envelope whose nonce is not the
 *      one of the group's record id (mqs_share_record_open: the bodies of
 *      another record under this record's headers do not open); the first
 *      that opens completes the record
 *      (the on_record callback runs, the group is freed and its id
 *      remembered); if none opens it waits for more; once all n shares are
 *      held and no subset opens, the group is dropped as `corrupt`.
 * mqs_join_tick() drops groups older than the timeout (`incomplete`, with
 * the record id and have/need given to on_expired, never the content) and
 * forgets remembered ids older than the timeout.
 *
 * Bounded: at most max_pending groups and max_pending_bytes bytes of share
 * data held, remembered ids at most 4 * max_pending (oldest forgotten
 * first).  One instance per route or per join command; no threads.
 *
 * Ownership: mqs_join_new() copies the keys (wiped by mqs_join_free(),
 * which accepts NULL).  Record data handed to on_record lives only during
 * the callback (it is wiped afterwards): copy what must outlive it.
 */
#ifndef MQS_JOIN_H
#define MQS_JOIN_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_share.h"

#define MQS_JOIN_KEY_NAME_MAX 64

/* Outcome of feeding one share: accepted or a drop reason. */
enum mqs_join_result {
	MQS_JOIN_PENDING = 0, /* accepted, waiting for more shares */
	MQS_JOIN_RECORD,      /* completed a record (on_record ran) */
	MQS_JOIN_BAD_HEADER,  /* drop reasons from here on, each counted */
	MQS_JOIN_UNKNOWN_KEY,
	MQS_JOIN_WRONG_CHANNEL,
	MQS_JOIN_INCONSISTENT,
	MQS_JOIN_DUPLICATE,
	MQS_JOIN_LATE,
	MQS_JOIN_TOO_BIG,
	MQS_JOIN_PENDING_FULL,
	MQS_JOIN_CORRUPT,    /* the group is dropped */
	MQS_JOIN_INCOMPLETE, /* only from mqs_join_tick */
	MQS_JOIN__COUNT
};

/* One record key the receiver accepts (the key's name is the sender). */
struct mqs_join_key {
	char name[MQS_JOIN_KEY_NAME_MAX + 1];
	uint32_t id;
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
};

struct mqs_join_conf {
	unsigned n, k;            /* channels and threshold */
	uint64_t timeout_ms;      /* join_timeout, default 60 s */
	size_t max_pending;       /* open groups, default 10,000 */
	size_t max_record;        /* S at most, default 1 MiB */
	size_t max_pending_bytes; /* share data held in all, default 64 MiB */
};

/* A rebuilt record, valid during the on_record callback only. */
struct mqs_join_record {
	uint8_t id[MQS_SHARE_ID_LEN];
	const char *sender; /* name of the record key that opened it */
	const char *topic;  /* record topic */
	const char *origin; /* origin inside the record envelope, "" when none */
	uint64_t sealed_ms; /* envelope timestamp */
	const uint8_t *data;
	size_t len;
};

typedef void mqs_join_record_fn(void *arg, const struct mqs_join_record *r);
typedef void mqs_join_expired_fn(void *arg, const uint8_t id[MQS_SHARE_ID_LEN], unsigned have,
                                 unsigned need);

struct mqs_join;

/* Fill the fields of conf left 0 with the defaults (docs/medical.md,
 * "Receiving"): timeout 60 s, 10,000 groups, 1 MiB, 64 MiB. */
void mqs_join_conf_defaults(struct mqs_join_conf *conf);

/* A receiver for conf (n, k checked: 2 <= k <= n <= 8) accepting nkeys
 * record keys (1..64).  on_record is called for every completed record.
 * Returns MQS_OK with *out set, MQS_ERR_INVAL, MQS_ERR_NOMEM or
 * MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int mqs_join_new(const struct mqs_join_conf *conf, const struct mqs_join_key *keys,
                                size_t nkeys, mqs_join_record_fn *on_record, void *arg,
                                struct mqs_join **out);

/* Free everything, wiping keys and held shares.  NULL is fine. */
void mqs_join_free(struct mqs_join *j);

/* Feed share p (len bytes, the opened channel payload) received on
 * channel index ch (0..n-1) at now_ms (any monotonic-or-wall millisecond
 * clock, used consistently).  Returns an enum mqs_join_result; the
 * counter of that result is incremented.  Never fails otherwise: memory
 * exhaustion drops the share as MQS_JOIN_PENDING_FULL. */
int mqs_join_feed(struct mqs_join *j, unsigned ch, const uint8_t *p, size_t len, uint64_t now_ms);

/* Expire groups older than the timeout (on_expired may be NULL) and
 * forget old remembered ids.  Returns the next time (same clock) it wants
 * to run, or 0 when nothing is pending. */
uint64_t mqs_join_tick(struct mqs_join *j, uint64_t now_ms, mqs_join_expired_fn *on_expired,
                       void *arg);

/* Counter of result r since creation (0 for out-of-range r). */
uint64_t mqs_join_count(const struct mqs_join *j, int r);

/* Open groups and share bytes held now. */
size_t mqs_join_pending(const struct mqs_join *j);
size_t mqs_join_pending_bytes(const struct mqs_join *j);

/* "pending", "record", "bad-header", "unknown-key", "wrong-channel",
 * "inconsistent", "duplicate", "late", "too-big", "pending-full",
 * "corrupt", "incomplete"; "?" otherwise. */
const char *mqs_join_result_name(int r);

#endif
