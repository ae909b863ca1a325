/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-inbound.c - libFuzzer target for the listener's request handling
 * without HTTP (gw_inbound.h), on a temporary store with three recipients
 * and a live link code.  The first input byte picks the request:
 *   0 a LINE webhook body (the rest), signed by the harness with the
 *     channel secret so the fuzzer gets past the signature;
 *   1 the same body with a wrong signature (must be 403);
 *   2 a Twilio form: the rest split at '\n' into name=value parameters,
 *     signed by the harness (sorted by name, as Twilio does);
 *   3 an unsubscribe token (the rest), GET or POST by the next byte.
 * Checks: the status is one of those the contract names, the content type
 * is set, the body is a NUL-terminated string, a bad signature is 403.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gw_config.h"
#include "gw_inbound.h"
#include "gw_link.h"
#include "gw_log.h"
#include "gw_recipient.h"
#include "gw_store.h"
#include "gw_util.h"
#include "mqs_error.h"

#define PUBLIC     "https://gw.example.org"
#define TOKEN      "sekrit"
#define SECRET     "line-secret"
#define NOW        1800000000000LL
#define MAX_PARAMS 64

static struct gw_store s;
static struct gw_config conf;
static int ready;

/* A temporary configuration and store; exits on failure. */
static void setup(void)
{
	static char dir[] = "/tmp/fuzz-inbound.XXXXXX";
	const char *alice[GW_F__COUNT] = {"alice@example.org", "+15550001234", NULL};
	const char *bob[GW_F__COUNT] = {NULL, NULL, "U0123456789abcdef0123456789abcdef"};
	const char *carol[GW_F__COUNT] = {"carol@example.org", NULL, NULL};
	char path[256], db[256], key[256], err[512], code[GW_LINK_CODE_LEN + 1];
	FILE *f;

	gw_log_set_level(GW_LOG_ERR);
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/gw.conf", dir);
	snprintf(db, sizeof(db), "%s/gw.db", dir);
	snprintf(key, sizeof(key), "%s/gw.key", dir);
	f = fopen(path, "w");
	if (f == NULL)
		abort();
	fprintf(f,
	        "[broker]\ncredentials = %s/c.json\n[store]\ndb = %s\nmaster_key_file = %s\n"
	        "[channel sms]\nurl = http://127.0.0.1:9\naccount_sid = ACtest\nauth_token = %s\n"
	        "from = +15550000000\n[channel line]\nurl = http://127.0.0.1:9\ntoken = t\n"
	        "channel_secret = %s\n[http]\nlisten = 127.0.0.1:0\npublic_url = %s\n",
	        dir, db, key, TOKEN, SECRET, PUBLIC);
	fclose(f);
	if (gw_config_load(path, &conf, err, sizeof(err)) != MQS_OK ||
	    gw_store_open(&s, db, key, 0, err, sizeof(err)) != MQS_OK ||
	    gw_recipient_add(&s, "alice", alice, NULL, 0, err, sizeof(err)) != MQS_OK ||
	    gw_recipient_add(&s, "bob", bob, NULL, 0, err, sizeof(err)) != MQS_OK ||
	    gw_recipient_add(&s, "carol", carol, NULL, 0, err, sizeof(err)) != MQS_OK ||
	    gw_link_create(&s, "carol", GW_CH_LINE, NOW, code, err, sizeof(err)) != MQS_OK) {
		fprintf(stderr, "fuzz-inbound set-up: %s\n", err);
		abort();
	}
	ready = 1;
}

/* qsort order of parameters by name, then value. */
static int param_cmp(const void *a, const void *b)
{
	const struct gw_param *pa = a, *pb = b;
	int c = strcmp(pa->name, pb->name);

	return c != 0 ? c : strcmp(pa->value, pb->value);
}

/* Abort unless res is a well-formed answer. */
static void check(const struct gw_inbound_result *res)
{
	static const int ok[] = {200, 400, 403, 404, 503};
	int found = 0;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		found |= res->status == ok[i];
	if (!found || res->content_type == NULL ||
	    memchr(res->body, '\0', sizeof(res->body)) == NULL)
		abort();
}

/* Twilio: split text at '\n' into name=value parameters, sign, handle. */
static void twilio(char *text)
{
	struct gw_param p[MAX_PARAMS];
	struct gw_inbound_result res;
	char sig[64], *data = NULL;
	uint8_t mac[20];
	unsigned int mlen = sizeof(mac);
	size_t n = 0, len = strlen(PUBLIC "/twilio/sms");

	for (char *line = text; line != NULL && n < MAX_PARAMS;) {
		char *nl = strchr(line, '\n'), *eq;

		if (nl != NULL)
			*nl = '\0';
		eq = strchr(line, '=');
		if (eq != NULL) {
			*eq = '\0';
			p[n].name = line;
			p[n].value = eq + 1;
			len += strlen(line) + strlen(eq + 1);
			n++;
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
	qsort(p, n, sizeof(p[0]), param_cmp);
	data = malloc(len + 1);
	if (data == NULL)
		return;
	strcpy(data, PUBLIC "/twilio/sms");
	for (size_t i = 0; i < n; i++) {
		strcat(data, p[i].name);
		strcat(data, p[i].value);
	}
	HMAC(EVP_sha1(), TOKEN, (int)strlen(TOKEN), (const unsigned char *)data, len, mac, &mlen);
	EVP_EncodeBlock((unsigned char *)sig, mac, (int)mlen);
	free(data);
	gw_inbound_twilio(&s, &conf, p, n, sig, NOW, &res);
	check(&res);
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_inbound_result res;
	char sig[64], *text;
	uint8_t mac[32];
	unsigned int mlen = sizeof(mac);

	if (!ready)
		setup();
	if (size < 1 || size > 65536)
		return 0;
	switch (data[0] % 4) {
	case 0:
	case 1:
		HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), data + 1, size - 1, mac, &mlen);
		EVP_EncodeBlock((unsigned char *)sig, mac, (int)mlen);
		if (data[0] % 4 == 1)
			sig[0] = sig[0] == 'A' ? 'B' : 'A';
		gw_inbound_line(&s, &conf, data + 1, size - 1, sig, NOW, &res);
		check(&res);
		if (data[0] % 4 == 1 && res.status != 403)
			abort();
		break;
	case 2:
		text = malloc(size);
		if (text == NULL)
			return 0;
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		twilio(text);
		free(text);
		break;
	default:
		if (size < 2)
			return 0;
		gw_inbound_unsub(&s, &conf, (const char *)data + 2, size - 2, data[1] & 1, NOW,
		                 &res);
		check(&res);
		break;
	}
	return 0;
}
