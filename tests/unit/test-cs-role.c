/* SPDX-License-Identifier: BSD-3-Clause */
/* test-cs-role.c - console roles and names (docs/console.md "Roles"), and the
 * ban key of a client address ("Sign-in"). */
#include "config.h"

#include <string.h>

#include "cs_int.h"
#include "tap.h"

int main(void)
{
	tap_is_int(cs_role_parse("admin"), CS_ROLE_ADMIN, "admin parsed");
	tap_is_int(cs_role_parse("operator"), CS_ROLE_OPERATOR, "operator parsed");
	tap_is_int(cs_role_parse("reviewer"), CS_ROLE_REVIEWER, "reviewer parsed");
	tap_is_int(cs_role_parse("Admin"), 0, "case matters");
	tap_is_int(cs_role_parse("root"), 0, "unknown role refused");
	tap_is_int(cs_role_parse(NULL), 0, "NULL refused");
	tap_ok(cs_role_allows(CS_ROLE_ADMIN, CS_ROLE_ADMIN), "admin may call an admin route");
	tap_ok(!cs_role_allows(CS_ROLE_ADMIN, CS_ROLE_OPERATOR), "operator refused an admin route");
	tap_ok(!cs_role_allows(CS_ROLE_ADMIN, CS_ROLE_REVIEWER), "reviewer refused an admin route");
	tap_ok(cs_role_allows(CS_ROLE_ADMIN | CS_ROLE_OPERATOR, CS_ROLE_OPERATOR),
	       "operator may call an admin|operator route");
	tap_ok(!cs_role_allows(CS_ROLE_ADMIN | CS_ROLE_OPERATOR, CS_ROLE_REVIEWER),
	       "reviewer refused an admin|operator route");
	tap_ok(cs_role_allows(CS_ROLES_ALL, CS_ROLE_REVIEWER), "everyone may call an all route");
	tap_ok(!cs_role_allows(CS_ROLES_ALL, 0), "no role: refused a signed-in route");
	tap_ok(!cs_role_allows(CS_ROLES_ALL, CS_ROLE_ADMIN | CS_ROLE_OPERATOR),
	       "two roles at once refused");
	tap_ok(!cs_role_allows(CS_ROLES_ALL, 1u << 7), "unknown role bit refused");
	tap_ok(cs_role_allows(CS_ROLE_PUBLIC, 0), "public route: everyone");
	tap_ok(cs_name_ok("alice.b_c-1"), "name ok");
	tap_ok(!cs_name_ok("-alice"), "leading dash refused");
	tap_ok(!cs_name_ok(""), "empty name refused");
	tap_ok(!cs_name_ok("a b"), "space refused");
	tap_ok(!cs_name_ok("<script>"), "markup refused");
	tap_ok(!cs_name_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	       "65 bytes refused");
	tap_ok(cs_level_ok("L1"), "level ok");
	tap_ok(!cs_level_ok("L 1"), "level with space refused");
	{
		/* client addresses as failures and bans count them (cs_db.c) */
		char k[80];

		cs_addr_ban_key("192.0.2.7", k, sizeof(k));
		tap_ok(strcmp(k, "192.0.2.7") == 0, "IPv4: as it is");
		cs_addr_ban_key("::ffff:192.0.2.7", k, sizeof(k));
		tap_ok(strcmp(k, "192.0.2.7") == 0, "IPv4-mapped: its IPv4");
		cs_addr_ban_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k, sizeof(k));
		tap_ok(strcmp(k, "2001:db8:1:2::/64") == 0, "IPv6: its /64");
		cs_addr_ban_key("2001:db8:1:2::1", k, sizeof(k));
		tap_ok(strcmp(k, "2001:db8:1:2::/64") == 0,
		       "another address of the same /64: the same key");
		cs_addr_ban_key("::1", k, sizeof(k));
		tap_ok(strcmp(k, "::1") == 0, "IPv6 loopback: as it is");
		cs_addr_ban_key("?", k, sizeof(k));
		tap_ok(strcmp(k, "?") == 0, "unknown: as it is");
	}
	tap_done();
	return tap_exit();
}
