/* cmd.h - the admin subcommands of mqttsec-gateway, one file per group.
 *
 * Each takes the loaded configuration and the arguments after the group
 * name (argv[0] is the group name) and returns a sysexits.h code.  Messages
 * go to stderr, one line, lowercase, error first; listings to stdout.
 */
#ifndef GW_CMD_H
#define GW_CMD_H

#include "gw_config.h"
#include "gw_store.h"

/* recipient add|list|rm|optout|find */
int cmd_recipient(struct gw_config *conf, int argc, char **argv);

/* group add|list|rm|member */
int cmd_group(struct gw_config *conf, int argc, char **argv);

/* outbox [--status S] [--limit N] [--json] */
int cmd_outbox(struct gw_config *conf, int argc, char **argv);

/* Open the store named by conf; on failure print the reason and return a
 * sysexits code (else EX_OK). */
int cmd_open_store(const struct gw_config *conf, struct gw_store *s);

/* sysexits code for an enum mqs_err. */
int cmd_exit_code(int mqs_err);

#endif
