/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_campaign.c - campaign commands (gw_cmd.h).  STUB until the review
 * part lands. */
#include "config.h"

#include <stdio.h>
#include <sysexits.h>

#include "gw_cmd.h"

/* campaign ... */
int gw_cmd_campaign(struct gw_config *conf, int argc, char **argv)
{
	(void)conf;
	(void)argc;
	(void)argv;
	fprintf(stderr, "mqttsec-gateway: campaign: not built yet\n");
	return EX_SOFTWARE;
}

/* reviewer ... */
int gw_cmd_reviewer(struct gw_config *conf, int argc, char **argv)
{
	return gw_cmd_campaign(conf, argc, argv);
}

/* audit ... */
int gw_cmd_audit(struct gw_config *conf, int argc, char **argv)
{
	return gw_cmd_campaign(conf, argc, argv);
}
