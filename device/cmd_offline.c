/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_offline.c - mqttsec-device commands that never touch the network:
 * totp, seal TOPIC, open TOPIC (envelope v1: docs/envelope.md).
 *
 * Plaintext buffers are wiped before they are freed.  open writes nothing
 * to stdout unless the envelope authenticates.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "device.h"
#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_topic.h"
#include "mqs_totp.h"
#include "mqs_util.h"

/* Parse "CMD [-h] TOPIC": on success *topic points at the operand. */
static int parse_topic_args(int argc, char **argv, const char **topic)
{
	int opt;
	int ex = EX_USAGE;

	*topic = NULL;
	for (;;) {
		opt = getopt(argc, argv, "h");
		if (opt == -1)
			break;
		dev_usage_cmd(argv[0]);
		if (opt == 'h')
			ex = EX_OK;
		goto out;
	}
	if (argc - optind != 1) {
		dev_usage_cmd(argv[0]);
		goto out;
	}
	*topic = argv[optind];
	if (mqs_envelope_topic_check(*topic, strlen(*topic)) != MQS_OK) {
		dev_err("invalid topic %s: must be 1..%u bytes without '+' or '#'", *topic,
		        MQS_ENVELOPE_TOPIC_MAX);
		*topic = NULL;
		goto out;
	}
	ex = EX_OK;
out:
	return ex;
}

/* totp: print the current code. */
int dev_cmd_totp(struct dev_ctx *ctx, int argc, char **argv)
{
	char code[MQS_TOTP_CODE_MAX + 1];
	int opt;
	int rc;
	int ex = EX_USAGE;

	for (;;) {
		opt = getopt(argc, argv, "h");
		if (opt == -1)
			break;
		dev_usage_cmd(argv[0]);
		if (opt == 'h')
			ex = EX_OK;
		goto out;
	}
	if (optind != argc) {
		dev_usage_cmd(argv[0]);
		goto out;
	}
	if (!ctx->creds.has_totp) {
		dev_err("cannot make a code: credentials %s have no totp secret", ctx->creds_path);
		ex = EX_CONFIG;
		goto out;
	}
	rc = mqs_totp_generate(ctx->creds.totp_secret, ctx->creds.totp_secret_len, &ctx->creds.totp,
	                       time(NULL), code, sizeof(code));
	if (rc != MQS_OK) {
		dev_err("cannot make a code: %s", mqs_strerror(rc));
		ex = EX_SOFTWARE;
		goto out;
	}
	printf("%s\n", code);
	ex = EX_OK;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		dev_err("cannot write the code: output error");
		ex = EX_IOERR;
	}
out:
	OPENSSL_cleanse(code, sizeof(code));
	return ex;
}

/* seal TOPIC: stdin -> envelope on stdout, with the device key. */
int dev_cmd_seal(struct dev_ctx *ctx, int argc, char **argv)
{
	const struct mqs_creds_key *key;
	const char *topic;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	uint8_t *env = NULL;
	size_t env_cap = 0;
	size_t env_len = 0;
	int rc;
	int ex;

	ex = parse_topic_args(argc, argv, &topic);
	if (ex != EX_OK || topic == NULL)
		goto out;
	key = mqs_creds_device_key(&ctx->creds);
	if (key == NULL) {
		dev_err("cannot seal: credentials %s have no device key", ctx->creds_path);
		ex = EX_CONFIG;
		goto out;
	}
	rc = mqs_read_all(STDIN_FILENO, MQS_ENVELOPE_PLAIN_MAX, &plain, &plain_len);
	if (rc == MQS_ERR_TOOBIG) {
		dev_err("cannot seal: input larger than %u bytes", MQS_ENVELOPE_PLAIN_MAX);
		ex = EX_DATAERR;
		goto out;
	}
	if (rc != MQS_OK) {
		dev_err("cannot read stdin: %s", mqs_strerror(rc));
		ex = rc == MQS_ERR_NOMEM ? EX_OSERR : EX_IOERR;
		goto out;
	}
	env_cap = mqs_envelope_sealed_len(0, plain_len);
	env = malloc(env_cap);
	if (env == NULL) {
		dev_err("cannot seal: %s", mqs_strerror(MQS_ERR_NOMEM));
		ex = EX_OSERR;
		goto out;
	}
	rc = mqs_envelope_seal(key->key, key->id, mqs_now_ms(), NULL, NULL, 0, topic, strlen(topic),
	                       plain, plain_len, env, env_cap, &env_len);
	if (rc != MQS_OK) {
		dev_err("cannot seal: %s", mqs_strerror(rc));
		ex = EX_SOFTWARE;
		goto out;
	}
	if (mqs_write_all(STDOUT_FILENO, env, env_len) != MQS_OK) {
		dev_err("cannot write the envelope: output error");
		ex = EX_IOERR;
		goto out;
	}
	ex = EX_OK;
out:
	mqs_secret_free(plain, plain_len + 1);
	free(env);
	return ex;
}

/* open TOPIC: envelope on stdin -> plaintext on stdout, origin on stderr. */
int dev_cmd_open(struct dev_ctx *ctx, int argc, char **argv)
{
	struct mqs_envelope_info info;
	const struct mqs_creds_key *key;
	uint8_t dkey[MQS_ENVELOPE_KEY_LEN];
	const char *topic;
	uint8_t *env = NULL;
	size_t env_len = 0;
	uint8_t *plain = NULL;
	size_t plain_cap = 0;
	size_t plain_len = 0;
	int rc;
	int ex;

	ex = parse_topic_args(argc, argv, &topic);
	if (ex != EX_OK || topic == NULL)
		goto out;
	rc = mqs_read_all(STDIN_FILENO, MQS_ENVELOPE_MAX_LEN, &env, &env_len);
	if (rc == MQS_ERR_TOOBIG) {
		dev_err("cannot open envelope: input larger than %u bytes",
		        (unsigned)MQS_ENVELOPE_MAX_LEN);
		ex = EX_DATAERR;
		goto out;
	}
	if (rc != MQS_OK) {
		dev_err("cannot read stdin: %s", mqs_strerror(rc));
		ex = rc == MQS_ERR_NOMEM ? EX_OSERR : EX_IOERR;
		goto out;
	}
	ex = EX_DATAERR;
	rc = mqs_envelope_parse(env, env_len, &info);
	if (rc != MQS_OK) {
		dev_err("cannot open envelope: %s", mqs_strerror(rc));
		goto out;
	}
	key = mqs_creds_find_key(&ctx->creds, info.key_id);
	if (key == NULL) {
		dev_err("cannot open envelope: %s (no key id %lu in %s)",
		        mqs_strerror(MQS_ERR_ENV_KEYID), (unsigned long)info.key_id,
		        ctx->creds_path);
		goto out;
	}
	if (key->use == MQS_CREDS_USE_RECORD) {
		/* a record key opens medical records only (docs/medical.md, Record keys) */
		dev_err("cannot open envelope: key id %lu is a record key", (unsigned long)key->id);
		goto out;
	}
	if (key->use == MQS_CREDS_USE_TOPIC && !mqs_topic_matches(key->topic, topic)) {
		dev_err("cannot open envelope: key id %lu is for topics %s, not %s",
		        (unsigned long)key->id, key->topic, topic);
		goto out;
	}
	plain_cap = info.ciphertext_len > 0 ? info.ciphertext_len : 1;
	plain = malloc(plain_cap);
	if (plain == NULL) {
		dev_err("cannot open envelope: %s", mqs_strerror(MQS_ERR_NOMEM));
		ex = EX_OSERR;
		goto out;
	}
	rc = dev_open_key(key, &info, topic, dkey); /* a downlink: derived from key */
	if (rc == MQS_OK)
		rc = mqs_envelope_open(dkey, key->id, env, env_len, topic, strlen(topic), plain,
		                       plain_cap, &plain_len, &info);
	if (rc != MQS_OK) {
		dev_err("cannot open envelope: %s", mqs_strerror(rc));
		goto out;
	}
	if (info.origin_len > 0)
		dev_origin_print(stderr, "origin: ", info.origin, info.origin_len);
	if (mqs_write_all(STDOUT_FILENO, plain, plain_len) != MQS_OK) {
		dev_err("cannot write the plaintext: output error");
		ex = EX_IOERR;
		goto out;
	}
	ex = EX_OK;
out:
	OPENSSL_cleanse(dkey, sizeof(dkey));
	mqs_secret_free(plain, plain_cap);
	free(env);
	return ex;
}
