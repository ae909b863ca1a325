/* SPDX-License-Identifier: BSD-3-Clause */
/* main.c - mqttsec-console (docs/console.md): the web console daemon and
 * its "user" commands. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "cs_int.h"

static void usage(void)
{
	fprintf(stderr,
	        "usage: mqttsec-console -c console.conf [run]\n"
	        "       mqttsec-console -c console.conf user add NAME --role "
	        "admin|operator|reviewer [--level LEVEL] [--password-file F]\n"
	        "       mqttsec-console -c console.conf user list | rm NAME | passwd NAME | "
	        "disable NAME | enable NAME | reset-totp NAME\n");
}

int main(int argc, char **argv)
{
	struct cs_console cs;
	const char *conf = NULL;
	char err[512];
	int opt, ex = EX_USAGE;

	memset(&cs, 0, sizeof(cs));
	/* files created here (console db, key) are never world-readable */
	umask(007);
	for (;;) {
		opt = getopt(argc, argv, "+c:h");
		if (opt == -1)
			break;
		if (opt == 'c') {
			conf = optarg;
		} else {
			usage();
			return opt == 'h' ? EX_OK : EX_USAGE;
		}
	}
	if (conf == NULL) {
		usage();
		return EX_USAGE;
	}
	if (optind < argc && strcmp(argv[optind], "run") != 0 &&
	    strcmp(argv[optind], "user") != 0) {
		usage();
		return EX_USAGE;
	}
	if (optind < argc && strcmp(argv[optind], "run") == 0 && optind + 1 != argc) {
		usage();
		return EX_USAGE;
	}
	if (cs_conf_load(conf, &cs.conf, err, sizeof(err)) != MQS_OK) {
		fprintf(stderr, "error: %s\n", err);
		return EX_CONFIG;
	}
	if (cs_console_open(&cs, 1, err, sizeof(err)) != MQS_OK) {
		fprintf(stderr, "error: %s\n", err);
		ex = EX_CONFIG;
		goto out;
	}
	if (optind < argc && strcmp(argv[optind], "user") == 0)
		ex = cs_user_cmd(&cs, argc - optind, argv + optind);
	else
		ex = cs_http_run(&cs);
out:
	cs_console_close(&cs);
	return ex;
}
