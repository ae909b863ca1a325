/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_token.c - mqttsec-device token: a one-time connect token for other
 * MQTT clients (docs/broker-plugin.md, "Connect tokens"). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "device.h"
#include "mqs_conntoken.h"
#include "mqs_util.h"

/* token [-i CLIENTID]. */
int dev_cmd_token(struct dev_ctx *ctx, int argc, char **argv)
{
	char tok[MQS_CONNTOKEN_TEXT_LEN + 1];
	const char *cid = NULL;
	int opt;
	int rc;
	int ex = EX_USAGE;

	tok[0] = '\0';
	for (;;) {
		opt = getopt(argc, argv, "hi:");
		if (opt == -1)
			break;
		if (opt == 'i') {
			cid = optarg;
			continue;
		}
		dev_usage_cmd(argv[0]);
		if (opt == 'h')
			ex = EX_OK;
		goto out;
	}
	if (optind != argc) {
		dev_usage_cmd(argv[0]);
		goto out;
	}
	if (!ctx->creds.has_totp || ctx->creds.username == NULL) {
		dev_err("cannot make a token: credentials %s have no username or totp secret",
		        ctx->creds_path);
		ex = EX_CONFIG;
		goto out;
	}
	if (cid == NULL)
		cid = ctx->creds.username;
	if (cid[0] == '\0') {
		dev_err("cannot make a token: empty client id (the token binds it)");
		goto out;
	}
	rc = mqs_conntoken_make_secret(ctx->creds.totp_secret, ctx->creds.totp_secret_len,
	                               ctx->creds.username, cid, mqs_now_ms(), tok);
	if (rc != MQS_OK) {
		dev_err("cannot make a token: %s", mqs_strerror(rc));
		ex = rc == MQS_ERR_INVAL ? EX_USAGE : EX_SOFTWARE;
		goto out;
	}
	if (!ctx->creds.connect_tokens)
		fprintf(stderr,
		        DEV_PROG ": warning: credentials %s do not say the broker accepts "
		                 "connect tokens\n",
		        ctx->creds_path);
	printf("%s\n", tok);
	ex = EX_OK;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		dev_err("cannot write the token: output error");
		ex = EX_IOERR;
	}
out:
	OPENSSL_cleanse(tok, sizeof(tok));
	return ex;
}
