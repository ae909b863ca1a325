/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_console.c - the console process' state (docs/console.md): console
 * database, console key (TOTP secrets are sealed under it), QR codes. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <qrencode.h>

#include "cs_int.h"
#include "gw_config.h"
#include "gw_store.h"
#include "mqs_alloc.h"
#include "mqs_totp.h"
#include "mqs_util.h"
#include "mqsa.h"

struct stronger {
	const struct cs_conf *cf;
	unsigned long n;
};

static int count_stronger(const struct cs_user *u, void *arg)
{
	struct stronger *s = arg;
	unsigned t = 0, m = 0, p = 0;

	if (cs_password_params(u->pw_hash, &t, &m, &p) == MQS_OK &&
	    (t > s->cf->argon2_t || m > s->cf->argon2_m_kib))
		s->n++;
	return MQS_OK;
}

/* A warning when [console] argon2_* are below the cost of stored hashes:
 * those are kept, never lowered (docs/console.md "Passwords"). */
static void warn_weaker_params(struct cs_console *cs)
{
	struct stronger s = {&cs->conf, 0};

	if (cs_db_user_each(cs->db, count_stronger, &s) != MQS_OK || s.n == 0)
		return;
	fprintf(stderr,
	        "warning: [console] argon2_time = %u, argon2_memory_kib = %u are below the cost "
	        "of %lu stored password hash(es): those are kept, never re-hashed lower\n",
	        cs->conf.argon2_t, cs->conf.argon2_m_kib, s.n);
}

/* Open the console database and key. */
int cs_console_open(struct cs_console *cs, int create_key, char *err, size_t errlen)
{
	int rc;

	rc = mqs_master_key_load(cs->conf.key_file, cs->key);
	if (rc == MQS_ERR_NOENT && create_key) {
		rc = mqs_master_key_create(cs->conf.key_file);
		if (rc == MQS_OK)
			rc = mqs_master_key_load(cs->conf.key_file, cs->key);
	}
	if (rc == MQS_ERR_PERM) {
		snprintf(err, errlen,
		         "console key %s is readable by group or others (chmod 600 it)",
		         cs->conf.key_file);
		goto out;
	}
	if (rc != MQS_OK) {
		snprintf(err, errlen, "cannot load console key %s: %s", cs->conf.key_file,
		         mqs_strerror(rc));
		goto out;
	}
	rc = cs_db_open(cs->conf.db, &cs->db, err, errlen);
	if (rc == MQS_OK)
		warn_weaker_params(cs);
out:
	return rc;
}

/* Close everything. */
void cs_console_close(struct cs_console *cs)
{
	if (cs == NULL)
		return;
	if (cs->db != NULL)
		sqlite3_close_v2(cs->db);
	cs->db = NULL;
	mqsa_ctx_close(cs->broker);
	cs->broker = NULL;
	if (cs->gw_store != NULL) {
		gw_store_close(cs->gw_store);
		mqs_free(cs->gw_store);
		cs->gw_store = NULL;
	}
	if (cs->gw_conf != NULL) {
		gw_config_release(cs->gw_conf);
		mqs_free(cs->gw_conf);
		cs->gw_conf = NULL;
	}
	OPENSSL_cleanse(cs->key, sizeof(cs->key));
	cs_conf_release(&cs->conf);
}

static void totp_aad(char *aad, size_t cap, const char *name)
{
	snprintf(aad, cap, "mqttsec-console-totp:%s", name);
}

/* Seal a TOTP secret. */
int cs_console_totp_seal(struct cs_console *cs, const char *name, const uint8_t *secret, size_t len,
                         uint8_t **out, size_t *outlen)
{
	char aad[CS_NAME_MAX + 32];
	size_t cap = len + MQS_WRAP_OVERHEAD;
	int rc;

	*out = mqs_malloc(cap);
	*outlen = 0;
	if (*out == NULL)
		return MQS_ERR_NOMEM;
	totp_aad(aad, sizeof(aad), name);
	rc = mqs_wrap_seal(cs->key, aad, secret, len, *out, cap, outlen);
	if (rc != MQS_OK) {
		mqs_secret_free(*out, cap);
		*out = NULL;
	}
	return rc;
}

/* Open a sealed TOTP secret. */
int cs_console_totp_open(struct cs_console *cs, const char *name, const uint8_t *w, size_t wlen,
                         uint8_t *out, size_t cap, size_t *outlen)
{
	char aad[CS_NAME_MAX + 32];

	totp_aad(aad, sizeof(aad), name);
	return mqs_wrap_open(cs->key, aad, w, wlen, out, cap, outlen);
}

/* A new TOTP secret. */
int cs_console_totp_new(struct cs_console *cs, const char *name, int adding, struct cs_user *u,
                        char **uri)
{
	uint8_t secret[MQS_TOTP_SECRET_LEN];
	struct mqs_totp_params p;
	uint8_t *w = NULL;
	size_t wlen = 0;
	int rc = MQS_ERR_CRYPTO;

	*uri = NULL;
	mqs_totp_params_default(&p);
	if (RAND_bytes(secret, sizeof(secret)) != 1)
		goto out;
	rc = cs_console_totp_seal(cs, name, secret, sizeof(secret), &w, &wlen);
	if (rc != MQS_OK)
		goto out;
	rc = mqs_totp_uri(CS_TOTP_ISSUER, name, secret, sizeof(secret), &p, uri);
	if (rc != MQS_OK)
		goto out;
	if (adding) {
		u->totp_wrapped = w;
		u->totp_wrapped_len = wlen;
		w = NULL;
	} else {
		rc = cs_db_user_set_totp(cs->db, name, w, wlen);
	}
out:
	if (rc != MQS_OK) {
		mqs_secret_free_str(*uri);
		*uri = NULL;
	}
	mqs_secret_free(w, wlen);
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

/* An SVG QR code. */
int cs_qr_svg(struct mqs_buf *b, const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	int rc = MQS_ERR_NOMEM, w;

	if (qr == NULL)
		goto out;
	w = qr->width;
	rc = mqs_buf_addf(
	    b,
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"qr\" viewBox=\"0 0 %d %d\" "
	    "width=\"%d\" height=\"%d\" shape-rendering=\"crispEdges\" role=\"img\" "
	    "aria-label=\"QR code\"><rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
	    "<path fill=\"#000\" d=\"",
	    w + 8, w + 8, (w + 8) * 6, (w + 8) * 6, w + 8, w + 8);
	for (int y = 0; y < w && rc == MQS_OK; y++) {
		for (int x = 0; x < w && rc == MQS_OK; x++) {
			if (qr->data[y * w + x] & 1)
				rc = mqs_buf_addf(b, "M%d %dh1v1h-1z", x + 4, y + 4);
		}
	}
	if (rc == MQS_OK)
		rc = mqs_buf_adds(b, "\"/></svg>");
out:
	if (qr != NULL) {
		OPENSSL_cleanse(qr->data, (size_t)qr->width * (size_t)qr->width);
		QRcode_free(qr);
	}
	return rc;
}

/* A QR code on a terminal: two rows per line with half blocks. */
void cs_qr_term(void *f, const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	FILE *out = f;
	int w;

	if (qr == NULL)
		return;
	w = qr->width;
	for (int y = -2; y < w + 2; y += 2) {
		for (int x = -2; x < w + 2; x++) {
			int top = y >= 0 && y < w && x >= 0 && x < w && (qr->data[y * w + x] & 1);
			int bot = y + 1 >= 0 && y + 1 < w && x >= 0 && x < w &&
			          (qr->data[(y + 1) * w + x] & 1);

			/* light background: a dark module is a space */
			fputs(top ? (bot ? " " : "\xe2\x96\x84")
			          : (bot ? "\xe2\x96\x80" : "\xe2\x96\x88"),
			      out);
		}
		fputc('\n', out);
	}
	OPENSSL_cleanse(qr->data, (size_t)qr->width * (size_t)qr->width);
	QRcode_free(qr);
}
