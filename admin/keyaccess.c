/* SPDX-License-Identifier: BSD-3-Clause */
/* keyaccess.c - the admin library's only calls into the broker's rule
 * evaluator (lib/mqs_rules.c, from libmqttsec): the broker's check of a
 * rule filter (mqsa_rule_problem) and, for key export, may a device
 * receive every message of a topic filter (mqsa_read_covers)?
 *
 * key export hands a device the keys of a protected filter F only when the
 * device's ACL gives it `read` on every topic F matches.  The answer comes
 * from the broker plugin's own rule evaluation (lib/mqs_rules.c, linked
 * into mqttsec-acl): the device's rules and its groups' rules with access
 * read or all go into one rule tree as if they were subscribe rules, and
 * F is evaluated like a subscription: an allow rule applies when its filter
 * covers F, a deny rule when it overlaps F; the greatest (priority, effect)
 * wins, deny beats allow at equal priority, no rule means no access.
 *
 * %u is the device name.  The client id is unknown here, so an allow rule
 * holding %c never counts, and a deny rule holding %c counts as if each
 * level containing %c were '+' (it might deny some client id).
 */
#include "config.h"

#include <string.h>

#include "mqs_error.h"
#include "mqsa_int.h"

#include "mqs_keyaccess.h"
#include "mqs_rules.h"

/* Does name's ACL give read on every topic filter matches?  The rule lives
 * in lib/mqs_keyaccess.c, shared with the plugin's online key answers. */
enum mqs_err mqsa_read_covers(struct mqsa_ctx *ctx, const char *name, const char *filter,
                              int *allowed, char *why)
{
	char err[256];
	int rc;

	err[0] = '\0';
	rc = mqs_keyaccess_read_covers(ctx->db, name, filter, (int64_t)ctx->now, allowed, err,
	                               sizeof(err));
	if (rc == MQS_OK)
		return MQS_OK;
	if (rc == MQS_ERR_DB)
		return mqsa_db_fail(ctx, why, "read acl rules");
	return mqsa_fail(why, rc, "%s", err);
}

/* The plugin's access bits of an access word (0: unknown word). */
static unsigned access_bits(const char *access)
{
	if (strcmp(access, "pub") == 0)
		return MQS_ACCESS_WRITE;
	if (strcmp(access, "sub") == 0)
		return MQS_ACCESS_SUB;
	if (strcmp(access, "read") == 0)
		return MQS_ACCESS_READ;
	if (strcmp(access, "all") == 0)
		return MQS_ACCESS_READ | MQS_ACCESS_WRITE | MQS_ACCESS_SUB;
	return 0;
}

/* The broker's own problem with a rule (NULL: usable). */
const char *mqsa_rule_problem(const char *filter, const char *access, int *known)
{
	unsigned bits = access_bits(access);

	*known = bits != 0;
	if (bits == 0)
		return "unknown access";
	return mqs_rules_problem(filter, bits);
}
