/* SPDX-License-Identifier: BSD-3-Clause */
/* bench-campaign-mkdb.c - fill a gateway database for bench/bench-campaign.sh:
 * group GROUP with N recipients c000001..cN (email cNNNNNN@example.com,
 * sealed under the master key as `recipient add` seals it: the AAD binds
 * each address to its recipient, so plain SQL cannot create them) and
 * their marketing consent on email, in a handful of transactions.
 *
 *   bench-campaign-mkdb CONFIG N GROUP
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_config.h"
#include "gw_group.h"
#include "gw_log.h"
#include "gw_recipient.h"
#include "gw_store.h"
#include "mqs_error.h"

int main(int argc, char **argv)
{
	struct gw_config conf;
	struct gw_store s;
	char err[512];
	long n;
	int rc = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: bench-campaign-mkdb CONFIG N GROUP\n");
		return 64;
	}
	n = strtol(argv[2], NULL, 10);
	gw_log_set_level(GW_LOG_WARN);
	if (gw_config_load(argv[1], &conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 78;
	}
	/* no fsync per recipient: a benchmark database */
	if (gw_store_open(&s, conf.db, conf.master_key_file, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		goto out_conf;
	}
	if (gw_group_add(&s, argv[3], "email", err, sizeof(err)) != MQS_OK)
		fprintf(stderr, "group: %s (kept)\n", err);
	for (long i = 1; i <= n; i++) {
		const char *values[GW_F__COUNT] = {NULL};
		const char *groups[1] = {argv[3]};
		char name[32], mail[64];

		snprintf(name, sizeof(name), "c%06ld", i);
		snprintf(mail, sizeof(mail), "c%06ld@example.com", i);
		values[GW_F_EMAIL] = mail;
		if (gw_recipient_add(&s, name, values, groups, 1, err, sizeof(err)) != MQS_OK) {
			fprintf(stderr, "%s: %s\n", name, err);
			goto out;
		}
	}
	if (gw_store_exec(&s, "INSERT OR REPLACE INTO consents(recipient_id, channel, state, "
	                      "source, updated_at) SELECT id, 'email', 1, 'import', 0 "
	                      "FROM recipients") != MQS_OK)
		goto out;
	rc = 0;
out:
	gw_store_close(&s);
out_conf:
	gw_config_release(&conf);
	return rc;
}
