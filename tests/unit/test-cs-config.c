/* SPDX-License-Identifier: BSD-3-Clause */
/* test-cs-config.c - the console's [http] host (docs/console.md
 * "Configuration", "Security"): an IPv6 address without brackets is kept
 * as the Host header carries it, and which Host headers may reach the
 * console with host set, unset on loopback (DNS rebinding) and unset
 * beyond loopback. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_int.h"
#include "tap.h"

/* Load a configuration whose [http] section holds http (lines). */
static int load(const char *dir, const char *http, struct cs_conf *c, char *err, size_t errlen)
{
	char path[300];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/console.conf", dir);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "[console]\ndb = %s/console.db\n[http]\n%s", dir, http);
	fclose(f);
	rc = cs_conf_load(path, c, err, errlen);
	unlink(path);
	return rc;
}

int main(void)
{
	char dir[256];
	char err[256];
	struct cs_conf c;
	const char *base = getenv("TMPDIR");
	static const char *const bad[] = {"host = [::1\n", "host = [nothere]\n", "host = 1:2:x\n",
	                                  "host = a/b\n"};

	tap_plan(20);
	snprintf(dir, sizeof(dir), "%s/mqs-test-cs-config-XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 99;
	}

	/* host set */
	memset(&c, 0, sizeof(c));
	tap_is_int(load(dir, "host = ::1\n", &c, err, sizeof(err)), MQS_OK, "host = ::1 loads");
	tap_ok(c.host != NULL && strcmp(c.host, "[::1]") == 0, "kept as [::1] (%s)",
	       c.host != NULL ? c.host : "NULL");
	tap_ok(cs_host_allowed(&c, "[::1]:8443") && cs_host_allowed(&c, "[::1]"),
	       "Host [::1] with and without a port");
	tap_ok(!cs_host_allowed(&c, "127.0.0.1:8443") && !cs_host_allowed(&c, "::1"),
	       "another Host refused");
	cs_conf_release(&c);
	memset(&c, 0, sizeof(c));
	tap_is_int(load(dir, "host = Console.Test\n", &c, err, sizeof(err)), MQS_OK,
	           "a name loads");
	tap_ok(cs_host_allowed(&c, "console.test") && cs_host_allowed(&c, "CONSOLE.TEST:443"),
	       "case-insensitive, with a port");
	tap_ok(!cs_host_allowed(&c, "console.test.evil") && !cs_host_allowed(&c, "console.testx") &&
	           !cs_host_allowed(&c, "console.test:443x") &&
	           !cs_host_allowed(&c, "console.test:123456") &&
	           !cs_host_allowed(&c, "console.test:"),
	       "a longer name or a bad port refused");
	tap_ok(!cs_host_allowed(&c, NULL), "no Host header refused");
	cs_conf_release(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0, sizeof(c));
		tap_ok(load(dir, bad[i], &c, err, sizeof(err)) != MQS_OK, "refused: %.*s",
		       (int)strlen(bad[i]) - 1, bad[i]);
	}

	/* unset, on loopback: the loopback names only */
	memset(&c, 0, sizeof(c));
	tap_is_int(load(dir, "listen = 127.0.0.2:8443\n", &c, err, sizeof(err)), MQS_OK,
	           "listen on 127.0.0.2, no host");
	tap_ok(cs_host_allowed(&c, "127.0.0.1:8443") && cs_host_allowed(&c, "localhost:8443") &&
	           cs_host_allowed(&c, "LOCALHOST") && cs_host_allowed(&c, "[::1]:8443"),
	       "127.0.0.1, localhost, [::1]");
	tap_ok(cs_host_allowed(&c, "127.0.0.2:8443"), "the listen address");
	tap_ok(!cs_host_allowed(&c, "attacker.example") &&
	           !cs_host_allowed(&c, "attacker.example:8443") &&
	           !cs_host_allowed(&c, "localhost.attacker.example") &&
	           !cs_host_allowed(&c, "127.0.0.1.nip.io"),
	       "a rebinding name refused");
	tap_ok(!cs_host_allowed(&c, NULL), "no Host header refused");
	cs_conf_release(&c);
	memset(&c, 0, sizeof(c));
	tap_is_int(load(dir, "listen = [::1]:8443\n", &c, err, sizeof(err)), MQS_OK,
	           "listen on [::1]");
	tap_ok(cs_host_allowed(&c, "[::1]:8443") && !cs_host_allowed(&c, "evil.example"),
	       "[::1] yes, another name no");
	cs_conf_release(&c);

	/* unset, beyond loopback (TLS): any */
	memset(&c, 0, sizeof(c));
	c.listen_host = "192.0.2.1";
	tap_ok(cs_host_allowed(&c, "anything.example") && cs_host_allowed(&c, NULL),
	       "beyond loopback without host: any");
	rmdir(dir);
	return tap_exit();
}
