/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_role.c - roles and names of console users (docs/console.md "Roles"). */
#include "config.h"

#include <string.h>

#include "cs_int.h"

static const struct {
	const char *name;
	unsigned bit;
} roles[] = {
    {"admin", CS_ROLE_ADMIN},
    {"operator", CS_ROLE_OPERATOR},
    {"reviewer", CS_ROLE_REVIEWER},
};

/* Parse a role name. */
unsigned cs_role_parse(const char *name)
{
	unsigned bit = 0;

	if (name == NULL)
		goto out;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (strcmp(name, roles[i].name) == 0) {
			bit = roles[i].bit;
			break;
		}
	}
out:
	return bit;
}

/* The name of a role bit. */
const char *cs_role_name(unsigned role)
{
	const char *name = "?";

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (role == roles[i].bit) {
			name = roles[i].name;
			break;
		}
	}
	return name;
}

/* Whether role (exactly one bit) may call a route of mask roles. */
int cs_role_allows(unsigned mask, unsigned role)
{
	if (mask == CS_ROLE_PUBLIC)
		return 1;
	if (role == 0 || (role & (role - 1)) != 0 || (role & ~(unsigned)CS_ROLES_ALL) != 0)
		return 0;
	return (mask & role) != 0;
}

static int token_ok(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n == 0 || n > max || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* A console user name. */
int cs_name_ok(const char *name)
{
	return token_ok(name, CS_NAME_MAX);
}

/* A reviewer level. */
int cs_level_ok(const char *level)
{
	return token_ok(level, CS_LEVEL_MAX);
}
