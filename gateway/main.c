/* SPDX-License-Identifier: BSD-3-Clause */
/* main.c - mqttsec-gateway: global options and command dispatch. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "gw_cmd.h"
#include "gw_config.h"
#include "gw_run.h"
#include "gw_log.h"
#include "mqs_error.h"

#define DEFAULT_CONF MQS_SYSCONFDIR "/mqttsec/gateway.conf"

/* The help text. */
static void usage(FILE *out)
{
	fprintf(out,
	        "usage: mqttsec-gateway [-c FILE] [-v|-q] [COMMAND]\n"
	        "\n"
	        "  -c FILE   configuration (default $MQTTSEC_GATEWAY_CONF or " DEFAULT_CONF ")\n"
	        "  -v        verbose (debug) log    -q  warnings and errors only\n"
	        "  -h        this help              -V  version\n"
	        "\n"
	        "commands:\n"
	        "  run                                   the daemon (default)\n"
	        "  check                                 validate the configuration\n"
	        "  recipient add NAME [--email E] [--phone P] [--line USERID] [--group G]...\n"
	        "                [--device DEV] [--tz ZONE]\n"
	        "  recipient set NAME [--device DEV | --no-device] [--tz ZONE | --no-tz]\n"
	        "  recipient list [--json]               masked: never prints full addresses\n"
	        "  recipient rm NAME\n"
	        "  recipient consent NAME CHANNEL [on|off [--source S]]  marketing consent\n"
	        "  recipient optout NAME CHANNEL [--lift] [--source S]  close a channel\n"
	        "  recipient history NAME [--json]       consent and opt-out changes\n"
	        "  recipient link NAME --line            a one-time code to bind a LINE user\n"
	        "  recipient unsubscribe-link NAME CHANNEL   the one-click unsubscribe URL\n"
	        "  recipient find (--email E | --phone P | --line USERID)\n"
	        "  group add G [--channels email,sms,...] | group list [--json] | group rm G\n"
	        "  group member add|rm G NAME\n"
	        "  outbox [--status queued|sending|sent|failed|dead] [--limit N] [--json]\n"
	        "  key add NAME | key export NAME --out FILE [--force] | key import FILE\n"
	        "  key list [--json] | key rm NAME        record keys of medical senders\n"
	        "  status [--json]                        medical-join counters, queues, outbox\n"
	        "  backup keygen --out FILE | backup --to FILE --recipient PUBKEY\n"
	        "  restore --from FILE --key RECOVERY_KEY [--force]   (docs/backup.md)\n"
	        "  campaign submit FILE --author PRINCIPAL [--code TOTP] [--route R]\n"
	        "  campaign list [--status S] [--json] | campaign show ID [--json]\n"
	        "  campaign report ID [--json] | campaign cancel ID\n"
	        "  campaign approve ID --reviewer PRINCIPAL --sha256 HEX --code TOTP\n"
	        "  campaign reject ID --reviewer PRINCIPAL --reason TEXT --code TOTP\n"
	        "  reviewer add PRINCIPAL --level LEVEL --person PERSON\n"
	        "                PRINCIPAL: mqtt:USERNAME or console:USER\n"
	        "  reviewer list [--json] | reviewer rm PRINCIPAL [--level L]\n"
	        "  author add PRINCIPAL --person PERSON   a principal that submits campaigns\n"
	        "  author list [--json] | author rm PRINCIPAL\n"
	        "  audit [--campaign ID] [--limit N] [--json]   review decisions, refusals\n");
}

/* Global options, then the command (default: run). */
int main(int argc, char **argv)
{
	const char *conf_path = getenv("MQTTSEC_GATEWAY_CONF");
	struct gw_config conf;
	char err[600];
	const char *cmd;
	int opt, rc;

	for (;;) {
		opt = getopt(argc, argv, "+c:vqhV");
		if (opt == -1)
			break;
		switch (opt) {
		case 'c':
			conf_path = optarg;
			break;
		case 'v':
			gw_log_set_level(GW_LOG_DEBUG);
			break;
		case 'q':
			gw_log_set_level(GW_LOG_WARN);
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			printf("mqttsec-gateway %s\n", PACKAGE_VERSION);
			return EX_OK;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (conf_path == NULL || *conf_path == '\0')
		conf_path = DEFAULT_CONF;
	argc -= optind;
	argv += optind;
	cmd = argc > 0 ? argv[0] : "run";
	if (strcmp(cmd, "run") != 0 && strcmp(cmd, "check") != 0 && strcmp(cmd, "recipient") != 0 &&
	    strcmp(cmd, "group") != 0 && strcmp(cmd, "outbox") != 0 && strcmp(cmd, "key") != 0 &&
	    strcmp(cmd, "status") != 0 && strcmp(cmd, "campaign") != 0 &&
	    strcmp(cmd, "reviewer") != 0 && strcmp(cmd, "author") != 0 &&
	    strcmp(cmd, "audit") != 0 && strcmp(cmd, "backup") != 0 &&
	    strcmp(cmd, "restore") != 0) {
		fprintf(stderr, "mqttsec-gateway: unknown command %s\n", cmd);
		usage(stderr);
		return EX_USAGE;
	}
	if (strcmp(cmd, "run") == 0 && argc > 1) {
		usage(stderr);
		return EX_USAGE;
	}
	if (gw_config_load(conf_path, &conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "mqttsec-gateway: %s\n", err);
		return EX_CONFIG;
	}
	optind = 0; /* subcommands run getopt again on their own argv */
	if (strcmp(cmd, "run") == 0)
		rc = gw_run(&conf);
	else if (strcmp(cmd, "check") == 0) {
		printf("%s: ok (%zu routes, %zu channel sections)\n", conf.path, conf.nroutes,
		       conf.nchannel_sections);
		rc = EX_OK;
	} else if (strcmp(cmd, "recipient") == 0)
		rc = gw_cmd_recipient(&conf, argc, argv);
	else if (strcmp(cmd, "group") == 0)
		rc = gw_cmd_group(&conf, argc, argv);
	else if (strcmp(cmd, "key") == 0)
		rc = gw_cmd_key(&conf, argc, argv);
	else if (strcmp(cmd, "status") == 0)
		rc = gw_cmd_status(&conf, argc, argv);
	else if (strcmp(cmd, "campaign") == 0)
		rc = gw_cmd_campaign(&conf, argc, argv);
	else if (strcmp(cmd, "reviewer") == 0)
		rc = gw_cmd_reviewer(&conf, argc, argv);
	else if (strcmp(cmd, "author") == 0)
		rc = gw_cmd_author(&conf, argc, argv);
	else if (strcmp(cmd, "audit") == 0)
		rc = gw_cmd_audit(&conf, argc, argv);
	else if (strcmp(cmd, "backup") == 0)
		rc = gw_cmd_backup(&conf, argc, argv);
	else if (strcmp(cmd, "restore") == 0)
		rc = gw_cmd_restore(&conf, argc, argv);
	else
		rc = gw_cmd_outbox(&conf, argc, argv);
	gw_config_release(&conf);
	return rc;
}
