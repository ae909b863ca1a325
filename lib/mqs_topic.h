/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_topic.h - MQTT topic filter matching (MQTT 3.1.1 §4.7).
 *
 *
 * Ownership: pure functions over caller-owned strings; nothing allocates,
 * frees or keeps a pointer.
 */
#ifndef MQS_TOPIC_H
#define MQS_TOPIC_H

#include <stddef.h>

/* Return 1 when filter (may hold '+' and '#') matches topic, else 0.
 * Topics starting with '$' are not matched by a leading wildcard. */
int mqs_topic_matches(const char *filter, const char *topic);

/* Return MQS_OK when filter is a valid subscription filter: non-empty,
 * '+' only as a whole level, '#' only as the whole last level. */
int mqs_topic_filter_check(const char *filter);

/* Return 1 when s may stand for %u or %c in an ACL filter: not NULL, not
 * empty, no '+', '#' or '/' (they would add wildcards or levels) and not
 * starting with '$' (a client id "$SYS" would turn "%c/#" into "$SYS/#").
 * Return 0 otherwise.  The broker plugin refuses such usernames and client
 * ids at CONNECT and never substitutes them. */
int mqs_topic_identity_ok(const char *s);

#endif
