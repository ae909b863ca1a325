/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_rules.h - topic ACL rules of one subject (a device name or "@group"),
 * indexed as a tree of topic levels so that a check walks the levels of
 * one topic instead of scanning every rule.
 *
 * Evaluation: every rule that applies gives a key (priority, effect); the
 * greatest key wins, and at equal priority deny beats allow.  No rule means
 * deny.  Keys of several trees (a device and its groups) combine by taking
 * the maximum, so mqs_rules_eval() can be called once per tree.
 *
 * For READ and WRITE a rule applies when its filter matches the topic.  For
 * mqs_rules_eval(MQS_RULES_SUB) on a filter F an allow rule applies when its
 * filter covers F (every topic F matches, the rule matches), a deny rule
 * applies when its filter overlaps F (some topic matches both): an allow
 * then means every topic of F is allowed (key export uses this).  The
 * plugin grants a subscription with mqs_rules_sub_possible() instead (some
 * topic of F is allowed) and checks each delivery with mqs_rules_eval_read()
 * (the read and the sub rules of the concrete topic).  Filters holding %u or %c are kept aside and
 * matched after substitution.  When the username or client id they need is NULL or unusable
 * (mqs_topic_identity_ok(): empty, starting with '$', holding
 * + # /), an allow rule does not apply and a deny rule applies to every
 * topic (fail closed).
 *
 * Ownership: a tree and everything in it is allocated from the caller's
 * arena and freed with it.  Build with mqs_rules_tree_new(), then
 * mqs_rules_tree_add() with filters in mqs_rules_filter_cmp() order, then
 * mqs_rules_tree_finish(); after that the tree is read-only and may be read
 * from any thread.
 */
#ifndef MQS_RULES_H
#define MQS_RULES_H

#include <stdint.h>

#include "mqs_arena.h"

/* access bits of a rule ("all" = all three) */
#define MQS_ACCESS_READ  0x01
#define MQS_ACCESS_WRITE 0x02
#define MQS_ACCESS_SUB   0x04

/* evaluation kinds, one per access */
enum mqs_rules_kind { MQS_RULES_READ = 0, MQS_RULES_WRITE = 1, MQS_RULES_SUB = 2, MQS_RULES_KINDS };

#define MQS_RULES_NONE         INT64_MIN /* no rule applied */
#define MQS_RULES_PRIORITY_MAX ((int64_t)1 << 60)

/* deepest rule filter a tree accepts, in levels (bounds recursion); the
 * admin CLI refuses deeper filters with mqs_rules_problem() */
#define MQS_RULES_LEVELS_MAX 1000

struct mqs_rules_tree;

/* Return the key of a rule: larger keys win, deny beats allow at equal
 * priority.  priority is clamped to +/- MQS_RULES_PRIORITY_MAX. */
int64_t mqs_rules_key(int64_t priority, int deny);

/* Return 1 when key (from mqs_rules_eval) means allowed, 0 for deny or none. */
int mqs_rules_key_allows(int64_t key);

/* Order filters level by level (what mqs_rules_tree_add() expects).  Returns
 * <0, 0, >0 like strcmp. */
int mqs_rules_filter_cmp(const char *a, const char *b);

/* New empty tree in arena a, or NULL when out of memory. */
struct mqs_rules_tree *mqs_rules_tree_new(struct mqs_arena *a);

/* Add one rule.  access is a set of MQS_ACCESS_* bits.  Filters without
 * %u/%c must arrive in mqs_rules_filter_cmp() order (any order among equal
 * filters).  Returns MQS_OK, MQS_ERR_INVAL (invalid filter, not added),
 * MQS_ERR_NOMEM. */
int mqs_rules_tree_add(struct mqs_rules_tree *t, struct mqs_arena *a, const char *filter,
                       unsigned access, int deny, int64_t priority);

/* Freeze the tree for lookups.  Returns MQS_OK or MQS_ERR_NOMEM. */
int mqs_rules_tree_finish(struct mqs_rules_tree *t, struct mqs_arena *a);

/* Fold the rules of t that apply to topic (READ/WRITE) or filter (SUB) into
 * *best (start with MQS_RULES_NONE).  username and clientid are used for
 * %u/%c and may be NULL (see above: %u/%c deny rules then apply). */
void mqs_rules_eval(const struct mqs_rules_tree *t, enum mqs_rules_kind kind, const char *topic,
                    const char *username, const char *clientid, int64_t *best);

/* Return NULL when a rule with this filter and access (MQS_ACCESS_* bits)
 * can be added to a tree, or a static lowercase reason why it cannot.
 * mqs_rules_tree_add() refuses exactly the rules this refuses (and nothing
 * else but out of memory); mqttsec-acl checks every rule it writes with it,
 * so the CLI and the plugin share one set of limits. */
const char *mqs_rules_problem(const char *filter, unsigned access);

/* Make t deny every access to every topic ($-topics too) with the highest
 * possible key, whatever rules it holds: the plugin does this to the tree
 * of a subject that has a deny rule it cannot use (fail closed for that
 * subject only).  Call before the tree is shared with readers. */
void mqs_rules_tree_deny_all(struct mqs_rules_tree *t);

/* Return 1 when t was made to deny everything. */
int mqs_rules_tree_denies_all(const struct mqs_rules_tree *t);

/* For a concrete topic (no wildcards), fold the READ rules of t into
 * *best_read and the SUB rules into *best_sub in one walk of the levels.
 * The plugin delivers a message only when both allow (docs/broker-plugin.md,
 * Topic ACLs). */
void mqs_rules_eval_read(const struct mqs_rules_tree *t, const char *topic, const char *username,
                         const char *clientid, int64_t *best_read, int64_t *best_sub);

/* Return 1 when some topic matched by subscription filter f is allowed by
 * the SUB rules of the n trees together (a device and its groups), 0 when no
 * topic f can match is allowed.  Exact: a candidate topic is built for each
 * allow rule that overlaps f (wildcard levels become a label no rule names,
 * every depth that can change the answer is tried) and evaluated with all
 * the rules.  When the search would take more than a fixed budget of steps,
 * or memory runs out, it answers 1: granting a subscription is safe because
 * every delivered message is checked again (mqs_rules_eval_read). */
int mqs_rules_sub_possible(const struct mqs_rules_tree *const *trees, unsigned n, const char *f,
                           const char *username, const char *clientid);

/* Return 1 when a rule of t holds %c (its decisions depend on the client id). */
int mqs_rules_tree_uses_clientid(const struct mqs_rules_tree *t);

/* Number of rules added to t (for logs). */
unsigned long mqs_rules_tree_rules(const struct mqs_rules_tree *t);

/* Return 1 when every topic matched by filter f is matched by rule r. */
int mqs_rules_filter_covers(const char *r, const char *f);

/* Return 1 when some topic is matched by both filters r and f. */
int mqs_rules_filter_overlaps(const char *r, const char *f);

#endif
