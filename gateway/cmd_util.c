/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_util.c - what the admin subcommands share: exit codes, the store. */
#include "config.h"

#include <stdio.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "gw_cmd.h"
#include "mqs_error.h"

/* Map library errors to exit codes. */
int gw_cmd_exit_code(int err)
{
	switch (err) {
	case MQS_OK:
		return EX_OK;
	case MQS_ERR_INVAL:
	case MQS_ERR_EXISTS:
	case MQS_ERR_PARSE:
		return EX_DATAERR;
	case MQS_ERR_NOENT:
		return EX_NOINPUT;
	case MQS_ERR_PERM:
		return EX_NOPERM;
	case MQS_ERR_DB:
	case MQS_ERR_IO:
		return EX_IOERR;
	default:
		return EX_SOFTWARE;
	}
}

/* Open the gateway database and master key. */
int gw_cmd_open_store(const struct gw_config *conf, struct gw_store *s)
{
	char err[512];

	if (gw_store_open(s, conf->db, conf->master_key_file, conf->sync_full, err, sizeof(err)) !=
	    MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: %s\n", err);
		return EX_IOERR;
	}
	return EX_OK;
}

/* Print a listing as one JSON document. */
int gw_cmd_json_print(FILE *out, const struct cJSON *arr)
{
	char *text = cJSON_Print(arr);
	int rc = MQS_ERR_NOMEM;

	if (text == NULL)
		goto out;
	fprintf(out, "%s\n", text);
	rc = MQS_OK;
out:
	cJSON_free(text);
	return rc;
}
