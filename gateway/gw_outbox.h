/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_outbox.h - the durable outbox: one row per (message, recipient,
 * channel), states queued -> sending -> sent | failed | dead.
 *
 * A message is committed with all its rows in one transaction (the caller
 * opens it: gw_alert_submit).  The message id is unique within its
 * namespace, the pair (route, publisher): a second message with the same
 * id in the same namespace is refused (MQS_ERR_EXISTS) and delivers
 * nothing; the same id from another publisher or route is another message
 * (docs/gateway.md, "Message ids").  Each
 * row gets a random UUID (retry_key) once, kept across retries (LINE
 * X-Line-Retry-Key, email Message-ID).  Rows hold the recipient's name,
 * never an address: addresses are decrypted at delivery time.
 *
 * Webhook and spool rows (GW_CH_NO_RECIPIENT) have no recipient (""):
 * one row per message.  Their payload (a medical record, an alert's JSON)
 * is kept in messages.body_sealed, AES-256-GCM under a key derived from
 * the master key ("mqttsec-gateway body v1"), bound to the message's
 * route, publisher and id; never plaintext at rest.  It is opened when a
 * row is claimed and cleared from the store once every row of the message
 * is final (docs/gateway.md, "Webhook channel").  Titles and bodies are
 * sealed the same way under "mqttsec-gateway text v1", the column name
 * added to the AAD, and opened only when a row is claimed for delivery.
 *
 * Ownership: rows returned by gw_outbox_claim_prio() are malloc'd; free them
 * with gw_outbox_rows_free() (a single row taken out of the array:
 * gw_outbox_row_release(), which wipes the payload).  Errors are logged; return values are enum
 * mqs_err codes.
 */
#ifndef GW_OUTBOX_H
#define GW_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "gw_recipient.h"
#include "gw_store.h"
#include "gw_util.h"
#include "mqs_error.h"

struct gw_message {
	const char *msg_id;
	const char *route;
	const char *topic;
	const char *kind;
	int severity; /* enum gw_severity */
	const char *group;
	const char *title;
	const char *body;
	const char *origin;    /* envelope origin, or NULL */
	const char *publisher; /* namespace: origin, "" (anonymous), GW_PUBLISHER_SELF */
	const uint8_t *data;   /* payload for webhook / spool rows (sealed), or NULL */
	size_t data_len;
};

/* Largest payload kept with a message (a medical record is at most 1 MiB
 * plus its topic and envelope). */
#define GW_OUTBOX_DATA_MAX (2u * 1024 * 1024)

/* The publisher of the gateway's own alerts (sensor rules): "$" cannot
 * start a device name, so no device can publish in this namespace. */
#define GW_PUBLISHER_SELF "$gateway"

/* Inside a transaction: insert message m.  *rowid gets its row id.
 * Returns MQS_OK, MQS_ERR_EXISTS (id seen before from the same route and
 * publisher) or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_outbox_insert_message(struct gw_store *s, const struct gw_message *m,
                                            int64_t now_ms, int64_t *rowid);

/* Return 1 when group exists, 0 when not, -1 on a database error. */
int gw_outbox_group_exists(struct gw_store *s, const char *group);

/* Inside a transaction: queue one row per member of group and channel in
 * chan_mask (members without an address for a channel, or opted out of
 * it, are skipped).  step is the escalation step (0 = first delivery).
 * *nrows gets the number of rows queued.  Returns MQS_OK, MQS_ERR_NOENT (no
 * such group) or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_outbox_queue(struct gw_store *s, int64_t msg_rowid, const char *group,
                                   unsigned chan_mask, int step, int64_t now_ms, size_t *nrows);

/* Inside a transaction: queue the one row of a recipient-less channel ch
 * (GW_CH_WEBHOOK, GW_CH_SPOOL) for message msg_rowid.  *nrows gets 1, or 0
 * when it exists already.  Returns MQS_OK, MQS_ERR_INVAL (ch has
 * recipients) or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_outbox_queue_direct(struct gw_store *s, int64_t msg_rowid, int ch, int step,
                                          int64_t now_ms, size_t *nrows);

/* Rows left in 'sending' by a crash go back to 'queued'.  Returns the
 * number of rows, or -1. */
MQS_MUST_CHECK int gw_outbox_requeue_sending(struct gw_store *s);

/* One claimed delivery. */
struct gw_outbox_row {
	int64_t id;
	int chan;     /* enum gw_chan */
	int attempts; /* including this one */
	int severity;
	char recipient[72];
	char retry_key[40];
	char msg_id[GW_ID_MAX + 1];
	char route[GW_NAME_MAX + 1]; /* the id's namespace: route and publisher */
	char publisher[256];
	char *title;
	char *body;
	int addr_status;                  /* enum gw_addr_status as far as the row tells */
	uint8_t sealed[GW_ADDR_MAX + 32]; /* the encrypted address (addr_status OK) */
	size_t sealed_len;
	char kind[32];
	char *topic;
	char *origin;  /* "" when none */
	uint8_t *data; /* opened payload (webhook / spool rows), or NULL */
	size_t data_len;
	int data_bad; /* a stored payload that does not open */
	/* marketing (docs/marketing.md, "Delivery rules") */
	int64_t msg_rowid;    /* messages.id */
	int prio;             /* 0 alert (and everything else), 1 marketing */
	int64_t recipient_id; /* recipients.id, 0 when none */
	char tz[64];          /* recipients.tz, "" when none */
	int64_t claimed_at;   /* Unix ms of the claim */
	int cancelled;        /* marketing rows: the campaign was cancelled */
	int consent;          /* marketing rows: GW_CONSENT_ON, _OFF (withdrawn since
	                       * the fan-out: fail, never send) or _UNKNOWN */
	/* recipients.created_at, -1 when none (the unsubscribe token binds it,
	 * gw_unsub.h) */
	int64_t recipient_created_at;
};

/* outbox row consent (marketing rows, docs/marketing.md "Delivery rules"). */
#define GW_CONSENT_ON      0
#define GW_CONSENT_OFF     1
#define GW_CONSENT_UNKNOWN 2 /* could not be read: try again later */

/* The marketing consent of recipient rid for channel ch as it is now, and
 * its opt-out (*optout = 1): one read of two primary keys.  Returns
 * GW_CONSENT_ON, GW_CONSENT_OFF or GW_CONSENT_UNKNOWN (database error,
 * logged). */
int gw_outbox_consent_now(struct gw_store *s, int64_t rid, int ch, int *optout);

/* Free what one claimed row holds (payload wiped); the row stays. */
void gw_outbox_row_release(struct gw_outbox_row *row);

/* Outbox priorities (outbox.prio): alerts and everything else before
 * marketing. */
#define GW_PRIO_ALERT     0
#define GW_PRIO_MARKETING 1

/* Claim up to max due rows of channel ch and priority prio (state queued,
 * next attempt <= now; one indexed read, outbox_due): they become
 * 'sending' with attempts + 1, in the caller's transaction when one is
 * open, else in one of their own.  The engine claims alerts first.
 * Returns MQS_OK (with *n possibly 0) or MQS_ERR_DB/MQS_ERR_NOMEM. */
MQS_MUST_CHECK int gw_outbox_claim_prio(struct gw_store *s, int ch, int prio, int64_t now_ms,
                                        size_t max, struct gw_outbox_row **rows, size_t *n);

/* A claimed row that must wait (a marketing row inside its recipient's
 * quiet hours): back to queued at next_at, deferred + 1, the attempt of the
 * claim not counted.  In the caller's transaction.  Returns MQS_OK or
 * MQS_ERR_DB. */
MQS_MUST_CHECK int gw_outbox_defer(struct gw_store *s, int64_t id, int64_t next_at, int64_t now_ms);

/* A claimed row that was never started (the engine stops): back to
 * queued, the attempt of the claim not counted.  Returns MQS_OK or
 * MQS_ERR_DB. */
MQS_MUST_CHECK int gw_outbox_unclaim(struct gw_store *s, int64_t id, int64_t now_ms);

/* Free claimed rows. */
void gw_outbox_rows_free(struct gw_outbox_row *rows, size_t n);

/* Record the end of an attempt: state ("queued" for a retry, "sent",
 * "failed", "dead"), next attempt time (retries), error and provider
 * reference (may be NULL).  Call inside a transaction for batches.
 * Returns MQS_OK or MQS_ERR_DB (logged): then the row keeps its state. */
MQS_MUST_CHECK int gw_outbox_update(struct gw_store *s, int64_t id, const char *state,
                                    int64_t next_at, const char *error, const char *provider_ref,
                                    int64_t now_ms);

/* Record that row id's SMS body needs segments segments (docs/channels.md,
 * "How much fits in one SMS").  Returns MQS_OK or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_outbox_set_segments(struct gw_store *s, int64_t id, unsigned segments);

/* After row id became final: clear its message's stored payload
 * (body_sealed) when no row of that message is queued or sending any more.
 * Returns MQS_OK or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_outbox_clear_data(struct gw_store *s, int64_t id);

/* Earliest next_attempt_at of a queued row of priority prio of a channel
 * in chan_mask, or 0 when none. */
int64_t gw_outbox_next_due_prio(struct gw_store *s, unsigned chan_mask, int prio);

/* One outbox row as listed (no address, no message text). */
struct gw_outbox_info {
	int64_t id;
	const char *msg_id;
	const char *route;     /* with publisher, the id's namespace */
	const char *publisher; /* "" anonymous */
	const char *recipient;
	const char *channel;
	const char *state;
	int attempts;
	int step; /* escalation step */
	int64_t next_attempt_at, updated_at;
	const char *error;        /* or NULL */
	const char *provider_ref; /* or NULL */
	int segments;             /* SMS segments the body needed, 0 when not counted */
};

/* Call fn for each row (state NULL = all), newest first, at most limit
 * (<= 0: no limit); fn returns MQS_OK to go on, any other value stops the
 * walk and is returned.  Returns MQS_OK or MQS_ERR_DB. */
int gw_outbox_each(struct gw_store *s, const char *state, int limit,
                   int (*fn)(const struct gw_outbox_info *oi, void *arg), void *arg);

/* Like gw_outbox_each, also filtered by channel (NULL: all), skipping the
 * first offset rows (a page of a listing). */
int gw_outbox_page(struct gw_store *s, const char *state, const char *channel, int limit,
                   int64_t offset, int (*fn)(const struct gw_outbox_info *oi, void *arg),
                   void *arg);

/* The number of rows in state (NULL: any) on channel (NULL: any), or -1 on
 * a database error. */
int64_t gw_outbox_count(struct gw_store *s, const char *state, const char *channel);

/* Put the dead delivery id back to queued, due now, its attempts counted
 * from 0 again (docs/gateway.md, "Outbox"): a running gateway picks it up
 * within a second.  Refused (MQS_ERR_PERM, reason in err) when the row is
 * not dead or its content was cleared (a webhook or spool payload, or a
 * message text pruned).  Returns MQS_OK, MQS_ERR_NOENT, MQS_ERR_PERM or
 * MQS_ERR_DB. */
MQS_MUST_CHECK int gw_outbox_requeue(struct gw_store *s, int64_t id, int64_t now_ms, char *err,
                                     size_t errlen);

/* Forget message text older than cutoff once all its rows are final.
 * Returns the number of messages cleared or -1. */
int gw_outbox_prune(struct gw_store *s, int64_t cutoff_ms);

/* Seal the titles and bodies of messages stored in clear by a version
 * before they were sealed, once per database (a kv flag records it; called
 * when the store opens).  Returns MQS_OK, MQS_ERR_CRYPTO or MQS_ERR_DB
 * (nothing changed: retried on the next open). */
MQS_MUST_CHECK int gw_outbox_text_seal_old(struct gw_store *s);

#endif
