/* acl.h - topic ACL rules of one subject (a device name or "@group"),
 * indexed as a tree of topic levels so that a check walks the levels of
 * one topic instead of scanning every rule.
 *
 * Evaluation: every rule that applies gives a key (priority, effect); the
 * greatest key wins, and at equal priority deny beats allow.  No rule means
 * deny.  Keys of several trees (a device and its groups) combine by taking
 * the maximum, so mqsp_acl_eval() can be called once per tree.
 *
 * For READ and WRITE a rule applies when its filter matches the topic.  For
 * mqsp_acl_eval(MQSP_ACL_SUB) on a filter F an allow rule applies when its
 * filter covers F (every topic F matches, the rule matches), a deny rule
 * applies when its filter overlaps F (some topic matches both): an allow
 * then means every topic of F is allowed (key export uses this).  The
 * plugin grants a subscription with mqsp_acl_sub_possible() instead (some
 * topic of F is allowed) and checks each delivery with mqsp_acl_eval_read()
 * (the read and the sub rules of the concrete topic).  Filters holding %u or %c are kept aside and
 * matched after substitution.  When the username or client id they need is NULL or unusable
 * (mqs_topic_identity_ok(): empty, starting with '$', holding
 * + # /), an allow rule does not apply and a deny rule applies to every
 * topic (fail closed).
 *
 * Ownership: a tree and everything in it is allocated from the caller's
 * arena and freed with it.  Build with mqsp_acl_tree_new(), then
 * mqsp_acl_tree_add() with filters in mqsp_acl_filter_cmp() order, then
 * mqsp_acl_tree_finish(); after that the tree is read-only and may be read
 * from any thread.
 */
#ifndef MQSP_ACL_H
#define MQSP_ACL_H

#include <stdint.h>

#include "arena.h"

/* access bits of a rule ("all" = all three) */
#define MQSP_ACCESS_READ  0x01
#define MQSP_ACCESS_WRITE 0x02
#define MQSP_ACCESS_SUB   0x04

/* evaluation kinds, one per access */
enum mqsp_acl_kind { MQSP_ACL_READ = 0, MQSP_ACL_WRITE = 1, MQSP_ACL_SUB = 2, MQSP_ACL_KINDS };

#define MQSP_ACL_NONE     INT64_MIN /* no rule applied */
#define MQSP_PRIORITY_MAX ((int64_t)1 << 60)

/* deepest rule filter a tree accepts, in levels (bounds recursion); the
 * admin CLI refuses deeper filters with mqsp_acl_rule_problem() */
#define MQSP_ACL_LEVELS_MAX 1000

struct mqsp_acl_tree;

/* Return the key of a rule: larger keys win, deny beats allow at equal
 * priority.  priority is clamped to +/- MQSP_PRIORITY_MAX. */
int64_t mqsp_acl_key(int64_t priority, int deny);

/* Return 1 when key (from mqsp_acl_eval) means allowed, 0 for deny or none. */
int mqsp_acl_key_allows(int64_t key);

/* Order filters level by level (what mqsp_acl_tree_add() expects).  Returns
 * <0, 0, >0 like strcmp. */
int mqsp_acl_filter_cmp(const char *a, const char *b);

/* New empty tree in arena a, or NULL when out of memory. */
struct mqsp_acl_tree *mqsp_acl_tree_new(struct mqsp_arena *a);

/* Add one rule.  access is a set of MQSP_ACCESS_* bits.  Filters without
 * %u/%c must arrive in mqsp_acl_filter_cmp() order (any order among equal
 * filters).  Returns MQS_OK, MQS_ERR_INVAL (invalid filter, not added),
 * MQS_ERR_NOMEM. */
int mqsp_acl_tree_add(struct mqsp_acl_tree *t, struct mqsp_arena *a, const char *filter,
                      unsigned access, int deny, int64_t priority);

/* Freeze the tree for lookups.  Returns MQS_OK or MQS_ERR_NOMEM. */
int mqsp_acl_tree_finish(struct mqsp_acl_tree *t, struct mqsp_arena *a);

/* Fold the rules of t that apply to topic (READ/WRITE) or filter (SUB) into
 * *best (start with MQSP_ACL_NONE).  username and clientid are used for
 * %u/%c and may be NULL (see above: %u/%c deny rules then apply). */
void mqsp_acl_eval(const struct mqsp_acl_tree *t, enum mqsp_acl_kind kind, const char *topic,
                   const char *username, const char *clientid, int64_t *best);

/* Return NULL when a rule with this filter and access (MQSP_ACCESS_* bits)
 * can be added to a tree, or a static lowercase reason why it cannot.
 * mqsp_acl_tree_add() refuses exactly the rules this refuses (and nothing
 * else but out of memory); mqttsec-acl checks every rule it writes with it,
 * so the CLI and the plugin share one set of limits. */
const char *mqsp_acl_rule_problem(const char *filter, unsigned access);

/* Make t deny every access to every topic ($-topics too) with the highest
 * possible key, whatever rules it holds: the plugin does this to the tree
 * of a subject that has a deny rule it cannot use (fail closed for that
 * subject only).  Call before the tree is shared with readers. */
void mqsp_acl_tree_deny_all(struct mqsp_acl_tree *t);

/* Return 1 when t was made to deny everything. */
int mqsp_acl_tree_denies_all(const struct mqsp_acl_tree *t);

/* For a concrete topic (no wildcards), fold the READ rules of t into
 * *best_read and the SUB rules into *best_sub in one walk of the levels.
 * The plugin delivers a message only when both allow (docs/broker-plugin.md,
 * Topic ACLs). */
void mqsp_acl_eval_read(const struct mqsp_acl_tree *t, const char *topic, const char *username,
                        const char *clientid, int64_t *best_read, int64_t *best_sub);

/* Return 1 when some topic matched by subscription filter f is allowed by
 * the SUB rules of the n trees together (a device and its groups), 0 when no
 * topic f can match is allowed.  Exact: a candidate topic is built for each
 * allow rule that overlaps f (wildcard levels become a label no rule names,
 * every depth that can change the answer is tried) and evaluated with all
 * the rules.  When the search would take more than a fixed budget of steps,
 * or memory runs out, it answers 1: granting a subscription is safe because
 * every delivered message is checked again (mqsp_acl_eval_read). */
int mqsp_acl_sub_possible(const struct mqsp_acl_tree *const *trees, unsigned n, const char *f,
                          const char *username, const char *clientid);

/* Return 1 when a rule of t holds %c (its decisions depend on the client id). */
int mqsp_acl_tree_uses_clientid(const struct mqsp_acl_tree *t);

/* Number of rules added to t (for logs). */
unsigned long mqsp_acl_tree_rules(const struct mqsp_acl_tree *t);

/* Return 1 when every topic matched by filter f is matched by rule r. */
int mqsp_acl_filter_covers(const char *r, const char *f);

/* Return 1 when some topic is matched by both filters r and f. */
int mqsp_acl_filter_overlaps(const char *r, const char *f);

#endif
