/* cmd_outbox.c - `outbox [--status S] [--limit N] [--json]`. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cmd.h"
#include "gw_outbox.h"
#include "mqs_error.h"

#define USAGE                                                                                      \
	"usage: mqttsec-gateway outbox [--status queued|sending|sent|failed|dead] [--limit N] "    \
	"[--json]\n"

/* outbox */
int cmd_outbox(struct gw_config *conf, int argc, char **argv)
{
	static const struct option opts[] = {{"status", required_argument, NULL, 's'},
	                                     {"limit", required_argument, NULL, 'n'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	static const char *const states[] = {"queued", "sending", "sent", "failed", "dead"};
	const char *state = NULL;
	struct gw_store s;
	int json = 0, limit = 1000, opt, rc;
	char *end;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			state = NULL;
			for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
				if (strcmp(optarg, states[i]) == 0)
					state = states[i];
			}
			if (state == NULL) {
				fputs(USAGE, stderr);
				return EX_USAGE;
			}
			break;
		case 'n':
			limit = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || limit < 0) {
				fputs(USAGE, stderr);
				return EX_USAGE;
			}
			break;
		case 'j':
			json = 1;
			break;
		default:
			fputs(USAGE, stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fputs(USAGE, stderr);
		return EX_USAGE;
	}
	rc = cmd_open_store(conf, &s);
	if (rc != EX_OK)
		return rc;
	if (gw_outbox_list(&s, state, limit, stdout, json) != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot list the outbox\n");
		rc = EX_IOERR;
	}
	gw_store_close(&s);
	return rc;
}
