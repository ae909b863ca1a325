/* SPDX-License-Identifier: BSD-3-Clause */
/* keyrate.h - the rate limit of key requests (docs/payload-encryption.md,
 * "Online keys"): a token bucket per client id, MQSP_KEYRATE_BURST requests
 * at once, then one every MQSP_KEYRATE_EVERY_MS; a request without a token
 * is refused, and MQSP_KEYRATE_FLOOD refused requests in a row (no request
 * accepted in between) make a flood, which the caller answers with a ban of
 * reason "key-flood"; it is reported once per run of refusals (the rest of
 * the run is only refused) and again only after a request was accepted.
 *
 * The table holds at most max client ids; when it is full the one that
 * asked least recently is forgotten (it starts again with a full bucket,
 * which a flood cannot use: a flooding client id is always the most
 * recent).
 *
 * Ownership: mqsp_keyrate_new() returns a table freed by
 * mqsp_keyrate_free() (NULL is fine).  Broker thread only.
 */
#ifndef MQSP_KEYRATE_H
#define MQSP_KEYRATE_H

#include <stddef.h>
#include <stdint.h>

#define MQSP_KEYRATE_BURST    10
#define MQSP_KEYRATE_EVERY_MS 2000
#define MQSP_KEYRATE_FLOOD    20
#define MQSP_KEYRATE_MAX      100000 /* client ids remembered */
#define MQSP_KEYRATE_ID_MAX   256    /* longer client ids share a bucket per prefix */

enum mqsp_keyrate_verdict {
	MQSP_KEYRATE_OK = 0, /* a token was taken */
	MQSP_KEYRATE_LIMITED,
	MQSP_KEYRATE_FLOODED /* limited, and this makes a flood */
};

struct mqsp_keyrate;

/* New empty table of at most max client ids, or NULL when out of memory. */
struct mqsp_keyrate *mqsp_keyrate_new(size_t max);

/* Free everything.  NULL is fine. */
void mqsp_keyrate_free(struct mqsp_keyrate *r);

/* Take a token for client id cid at monotonic time now_ms.  Out of memory
 * counts as limited (fail closed). */
enum mqsp_keyrate_verdict mqsp_keyrate_take(struct mqsp_keyrate *r, const char *cid,
                                            uint64_t now_ms);

#endif
