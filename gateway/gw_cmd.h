/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_cmd.h - the admin subcommands of mqttsec-gateway, one file per group
 * (cmd_recipient.c, cmd_group.c, cmd_outbox.c; shared helpers in
 * cmd_util.c).  The data modules (gw_recipient.h, gw_group.h, gw_outbox.h)
 * never print: these files turn their rows into tables and JSON.
 *
 * Each command takes the loaded configuration and the arguments after the
 * group name (argv[0] is the group name) and returns a sysexits.h code.
 * Messages go to stderr, one line, lowercase, error first; listings to
 * stdout.  Listings show masked addresses only.
 *
 * Ownership: the configuration stays the caller's; each command opens and
 * closes its own store.
 */
#ifndef GW_CMD_H
#define GW_CMD_H

#include <stdio.h>

#include "gw_config.h"
#include "gw_store.h"

/* recipient add|set|list|rm|optout|find */
int gw_cmd_recipient(struct gw_config *conf, int argc, char **argv);

/* recipient key add NAME | rotate NAME [--grace D] | export NAME --out FILE
 * on the open store s; argv[0] is "key" (cmd_smskey.c, docs/sms-envelope.md). */
int gw_cmd_recipient_key(struct gw_store *s, int argc, char **argv);

/* group add|list|rm|member */
int gw_cmd_group(struct gw_config *conf, int argc, char **argv);

/* key add|export|import|list|rm: record keys (docs/medical.md, "Record
 * keys"); cmd_key.c */
int gw_cmd_key(struct gw_config *conf, int argc, char **argv);

/* status [--json]: medical-join counters, publish queue per broker,
 * outbox rows by state; counts only (cmd_status.c). */
int gw_cmd_status(struct gw_config *conf, int argc, char **argv);

/* campaign submit|list|show|report|cancel|approve|reject (docs/marketing.md);
 * cmd_campaign.c */
int gw_cmd_campaign(struct gw_config *conf, int argc, char **argv);

/* reviewer add|list|rm (docs/marketing.md, "Review"); cmd_reviewer.c */
int gw_cmd_reviewer(struct gw_config *conf, int argc, char **argv);

/* author add|list|rm: principals that submit campaigns (docs/marketing.md,
 * "Review"); cmd_reviewer.c */
int gw_cmd_author(struct gw_config *conf, int argc, char **argv);

/* audit [--campaign ID] [--limit N] [--json]: review decisions;
 * cmd_reviewer.c */
int gw_cmd_audit(struct gw_config *conf, int argc, char **argv);

/* backup keygen --out FILE | backup --to FILE --recipient PUBKEY
 * (docs/backup.md); cmd_backup.c */
int gw_cmd_backup(struct gw_config *conf, int argc, char **argv);

/* restore --from FILE --key RECOVERY_KEY [--force] (docs/backup.md);
 * cmd_backup.c */
int gw_cmd_restore(struct gw_config *conf, int argc, char **argv);

/* outbox [--status S] [--limit N] [--json] */
int gw_cmd_outbox(struct gw_config *conf, int argc, char **argv);

/* Open the store named by conf; on failure print the reason and return a
 * sysexits code (else EX_OK). */
int gw_cmd_open_store(const struct gw_config *conf, struct gw_store *s);

/* sysexits code for an enum mqs_err. */
int gw_cmd_exit_code(int mqs_err);

struct cJSON;

/* Print a listing's JSON array arr (built by the caller's row callback) on
 * out, one document and a newline.  arr stays the caller's (free it with
 * cJSON_Delete).  Returns MQS_OK or MQS_ERR_NOMEM. */
int gw_cmd_json_print(FILE *out, const struct cJSON *arr);

#endif
