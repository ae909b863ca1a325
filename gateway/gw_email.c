/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_email.c - email: one transaction per recipient, a Message-ID stable
 * across retries.  Over the pipelining client (gw_smtp.h) when the server
 * allows it (plain SMTP, PIPELINING announced, no AUTH; message built
 * here), else through libcurl SMTP (MIME built with curl_mime, STARTTLS
 * when offered (or required), smtps://, optional AUTH); docs/channels.md,
 * "email". */
#include "config.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gw_email.h"
#include "gw_http.h"
#include "gw_smtp.h"
#include "gw_text.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_utf8.h"
#include "mqs_util.h"

/* Longest body kept, in characters. */
#define GW_EMAIL_BODY_MAX 100000
/* Bytes of UTF-8 per RFC 2047 word: base64 of 45 bytes is 60 characters,
 * plus "=?UTF-8?B?" and "?=" gives 72 <= 75. */
#define RFC2047_CHUNK 45

/* Largest message built for the pipelining client, bytes. */
#define GW_EMAIL_MSG_MAX (4u * 1024u * 1024u)

/* Keys of [channel email]. */
const char *const gw_email_keys[] = {"url",        "from",    "username", "password",
                                     "tls",        "timeout", "ca_file",  "insecure_skip_verify",
                                     "pipelining", NULL};

/* The lookup of the server's name for the pipelining client, run by
 * getaddrinfo_a(3) in the background; one block, because a lookup that
 * cannot be cancelled must outlive the channel (then it is left behind). */
struct email_lookup {
	struct gaicb cb;
	struct addrinfo hints;
	char host[256];
	char port[16];
};

struct gw_email {
	struct gw_channel head; /* first: the engine sees a struct gw_channel */
	struct gw_net_conf net;
	char *from;      /* addr-spec */
	char *mail_from; /* "<from>" for MAIL FROM */
	char *domain;    /* right side of Message-ID: the domain of from */
	char *username;  /* AUTH user or NULL */
	char *password;  /* AUTH password or NULL (secret) */
	long use_ssl;    /* CURLUSESSL_* */
	int native;      /* the pipelining client may be tried (pipelining = auto) */
	char host[256];  /* its server, from url */
	unsigned port;
	char helo[256];              /* the EHLO name: the url path, else "localhost" as libcurl */
	struct gw_smtp *smtp;        /* the pipelining client, NULL when not used */
	unsigned conns;              /* its connections: max_inflight when it was created */
	struct email_lookup *lookup; /* the server's name being looked up, or NULL */
	int64_t lookup_until;        /* ... given up after this (Unix ms) */
	int doubled;                 /* max_inflight raised to two transactions per connection */
	/* native_perform's done, for the client's callback */
	void (*done)(void *arg, void *token, const struct gw_result *res, int fallback);
	void *done_arg;
};

struct gw_request {
	struct curl_slist *rcpt;
	struct curl_slist *headers;
	curl_mime *mime;
	char reply[128]; /* last final 2xx reply line of the server */
};

static const char *const email_schemes[] = {"smtp", "smtps", NULL};

/* Accept a plain local@domain address. */
int gw_email_addr_ok(const char *s)
{
	const char *at;
	size_t n;
	size_t i;

	if (s == NULL)
		return 0;
	n = strlen(s);
	at = strrchr(s, '@');
	if (n < 3 || n > 254 || at == NULL || at == s || at[1] == '\0' || strchr(s, '@') != at)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f || strchr("<>()[],;:\"\\", c) != NULL)
			return 0;
	}
	return 1;
}

/* RFC 5322 date, always in English and UTC. */
void gw_email_date(time_t t, char *buf, size_t buflen)
{
	static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, buflen, "Date: Thu, 01 Jan 1970 00:00:00 +0000");
		return;
	}
	snprintf(buf, buflen, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday % 7],
	         tm.tm_mday, mon[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	         tm.tm_sec);
}

/* Non-zero when s can go into a header unencoded. */
static int subject_plain(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
		if (s[0] == '=' && s[1] == '?')
			return 0; /* would read as an encoded word */
	}
	return 1;
}

/* The Subject header line (see gw_email.h). */
char *gw_email_subject(const char *title)
{
	char *t = gw_text_join(title, NULL, NULL, GW_EMAIL_SUBJECT_MAX, GW_TEXT_ONELINE);
	char *out = NULL;
	size_t len;
	size_t cap;
	const unsigned char *p;
	size_t left;

	if (t == NULL)
		goto out;
	if (subject_plain(t)) {
		len = strlen("Subject: ") + strlen(t) + 1;
		out = mqs_malloc(len);
		if (out != NULL)
			snprintf(out, len, "Subject: %s", t);
		goto out;
	}
	left = strlen(t);
	/* each chunk of <= 45 bytes becomes <= 75 characters plus CRLF SP */
	cap = strlen("Subject: ") + (left / RFC2047_CHUNK + 1) * 80 + 1;
	out = mqs_malloc(cap);
	if (out == NULL)
		goto out;
	len = (size_t)snprintf(out, cap, "Subject:");
	p = (const unsigned char *)t;
	while (left > 0) {
		size_t take = 0;

		/* take whole code points up to RFC2047_CHUNK bytes */
		while (take < left) {
			uint32_t cp;
			size_t n = mqs_utf8_decode(p + take, left - take, &cp);

			if (n == 0 || take + n > RFC2047_CHUNK)
				break;
			take += n;
		}
		if (take == 0)
			break; /* cannot happen: t is valid UTF-8 */
		len += (size_t)snprintf(out + len, cap - len, "%s=?UTF-8?B?",
		                        len > strlen("Subject:") ? "\r\n " : " ");
		len += (size_t)EVP_EncodeBlock((unsigned char *)out + len, p, (int)take);
		len += (size_t)snprintf(out + len, cap - len, "?=");
		p += take;
		left -= take;
	}
out:
	mqs_free(t);
	return out;
}

/* body with every LF as CRLF, so the quoted-printable encoder keeps the
 * lines (a bare LF would become "=0A"); NULL when out of memory. */
static char *crlf_body(const char *text)
{
	size_t n = 0;
	size_t i;
	size_t o = 0;
	char *out;

	for (i = 0; text[i] != '\0'; i++)
		n += text[i] == '\n' ? 2 : 1;
	out = mqs_malloc(n + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; text[i] != '\0'; i++) {
		if (text[i] == '\n')
			out[o++] = '\r';
		out[o++] = text[i];
	}
	out[o] = '\0';
	return out;
}

/* CURLOPT_HEADERFUNCTION: SMTP server replies arrive here line by line;
 * keep the last final positive one (the reply to the end of DATA). */
static size_t smtp_reply(char *data, size_t size, size_t nmemb, void *userp)
{
	struct gw_request *req = userp;
	size_t n = size * nmemb;

	if (n >= 4 && data[0] == '2' && data[3] == ' ') {
		size_t k = n;

		while (k > 0 && (data[k - 1] == '\r' || data[k - 1] == '\n'))
			k--;
		if (k >= sizeof(req->reply))
			k = sizeof(req->reply) - 1;
		memcpy(req->reply, data, k);
		req->reply[k] = '\0';
	}
	return n;
}

/* Provider reference from the final reply: the id after "queued as ", else
 * the reply text when it names no address. */
static void smtp_ref(const char *reply, struct gw_result *res)
{
	const char *q = strstr(reply, "queued as ");
	size_t i;

	res->provider_ref[0] = '\0';
	if (q != NULL) {
		char id[64];

		q += strlen("queued as ");
		for (i = 0; i + 1 < sizeof(id) && q[i] != '\0' && q[i] != ' '; i++)
			id[i] = q[i];
		id[i] = '\0';
		gw_result_ref(res, id);
		return;
	}
	if (strlen(reply) <= 4 || strchr(reply, '@') != NULL)
		return;
	for (i = 4; reply[i] != '\0'; i++) {
		if ((unsigned char)reply[i] < 0x20 || (unsigned char)reply[i] > 0x7e)
			return;
	}
	snprintf(res->provider_ref, sizeof(res->provider_ref), "%s", reply + 4);
}

/* Append a header line built from fmt to the list: MQS_OK, or
 * MQS_ERR_NOMEM when out of memory or too long. */
static __attribute__((format(printf, 2, 3))) int header_add(struct curl_slist **list,
                                                            const char *fmt, ...)
{
	char line[512];
	struct curl_slist *n;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(line))
		return MQS_ERR_NOMEM;
	n = curl_slist_append(*list, line);
	if (n == NULL)
		return MQS_ERR_NOMEM;
	*list = n;
	return MQS_OK;
}

/* 1 when url can go between <> in a header: 1..400 printable ASCII
 * characters without space, '<', '>', ',' or '"'. */
int gw_email_header_url_ok(const char *url)
{
	size_t n = strlen(url);

	if (n == 0 || n > 400)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == ',' || c == '"')
			return 0;
	}
	return 1;
}

/* part becomes multipart/alternative of text (plain) and html, both UTF-8
 * and quoted-printable (a marketing email with an html part). */
static CURLcode mime_alternative(CURL *easy, curl_mimepart *part, const char *text,
                                 const char *html)
{
	curl_mime *alt = curl_mime_init(easy);
	curl_mimepart *p;
	CURLcode cc = CURLE_OUT_OF_MEMORY;

	if (alt == NULL)
		return cc;
	p = curl_mime_addpart(alt);
	if (p == NULL)
		goto fail;
	cc = curl_mime_data(p, text, CURL_ZERO_TERMINATED);
	if (cc == CURLE_OK)
		cc = curl_mime_type(p, "text/plain; charset=utf-8");
	if (cc == CURLE_OK)
		cc = curl_mime_encoder(p, "quoted-printable");
	if (cc != CURLE_OK)
		goto fail;
	p = curl_mime_addpart(alt);
	if (p == NULL) {
		cc = CURLE_OUT_OF_MEMORY;
		goto fail;
	}
	cc = curl_mime_data(p, html, CURL_ZERO_TERMINATED);
	if (cc == CURLE_OK)
		cc = curl_mime_type(p, "text/html; charset=utf-8");
	if (cc == CURLE_OK)
		cc = curl_mime_encoder(p, "quoted-printable");
	if (cc != CURLE_OK)
		goto fail;
	/* the part owns alt from here on */
	cc = curl_mime_subparts(part, alt);
	if (cc != CURLE_OK)
		goto fail;
	return curl_mime_type(part, "multipart/alternative");
fail:
	curl_mime_free(alt);
	return cc;
}

/* Configure easy for one SMTP transaction to d->address. */
static int email_prepare(struct gw_channel *ch, const struct gw_delivery *d, CURL *easy,
                         struct gw_request **reqp, struct gw_result *res)
{
	struct gw_email *em = (struct gw_email *)ch;
	struct gw_request *req = NULL;
	struct curl_slist *n;
	curl_mimepart *part;
	char rcpt[260];
	char key[80];
	char id[80];
	char sev[16];
	char date[64];
	char *subject = NULL;
	char *text = NULL;
	char *body = NULL;
	char *html = NULL;
	int marketing = d->kind != NULL && strcmp(d->kind, "marketing") == 0;
	CURLcode cc = CURLE_OK;
	int rc = MQS_ERR_INVAL;

	*reqp = NULL;
	if (!gw_email_addr_ok(d->address)) {
		res->outcome = GW_FAILED;
		snprintf(res->error, sizeof(res->error), "email: invalid address");
		goto out;
	}
	req = mqs_calloc(1, sizeof(*req));
	subject = gw_email_subject(d->title);
	text = gw_text_join(d->body, NULL, NULL, GW_EMAIL_BODY_MAX, 0);
	if (text != NULL)
		body = crlf_body(text);
	if (req == NULL || subject == NULL || body == NULL)
		goto nomem;
	if (marketing && d->html != NULL) {
		html = crlf_body(d->html);
		if (html == NULL)
			goto nomem;
	}
	snprintf(rcpt, sizeof(rcpt), "<%s>", d->address);
	req->rcpt = curl_slist_append(NULL, rcpt);
	if (req->rcpt == NULL)
		goto nomem;

	/* a Message-ID that stays the same on every attempt of this delivery */
	if (d->retry_key != NULL && d->retry_key[0] != '\0')
		gw_text_token(d->retry_key, "-._", key, sizeof(key));
	else
		snprintf(key, sizeof(key), "mqttsec-%lld", (long long)d->id);
	gw_text_token(d->msg_id, "-._:", id, sizeof(id));
	gw_text_token(d->severity, NULL, sev, sizeof(sev));
	gw_email_date(time(NULL), date, sizeof(date));
	if (header_add(&req->headers, "From: %s", em->from) != 0 ||
	    header_add(&req->headers, "To: %s", d->address) != 0 ||
	    header_add(&req->headers, "%s", date) != 0 ||
	    header_add(&req->headers, "Message-ID: <%s@%s>", key, em->domain) != 0 ||
	    header_add(&req->headers, "Auto-Submitted: auto-generated") != 0 ||
	    header_add(&req->headers, "X-Mqttsec-Id: %s", id) != 0 ||
	    (!marketing && header_add(&req->headers, "X-Mqttsec-Severity: %s", sev) != 0))
		goto nomem;
	/* one-click unsubscribe (RFC 8058; docs/marketing.md, "List-Unsubscribe"):
	 * the link is ours (base64url token), checked for header safety anyway */
	if (marketing && d->list_unsubscribe != NULL) {
		if (!gw_email_header_url_ok(d->list_unsubscribe)) {
			res->outcome = GW_FAILED;
			snprintf(res->error, sizeof(res->error), "email: bad unsubscribe link");
			goto out;
		}
		if (header_add(&req->headers, "List-Unsubscribe: <%s>", d->list_unsubscribe) != 0 ||
		    header_add(&req->headers,
		               "List-Unsubscribe-Post: List-Unsubscribe=One-Click") != 0)
			goto nomem;
	}
	if (d->severity != NULL && strcmp(d->severity, "critical") == 0 &&
	    header_add(&req->headers, "Importance: high") != 0)
		goto nomem;
	/* the subject may be longer than header_add's buffer */
	n = curl_slist_append(req->headers, subject);
	if (n == NULL)
		goto nomem;
	req->headers = n;

	req->mime = curl_mime_init(easy);
	part = req->mime != NULL ? curl_mime_addpart(req->mime) : NULL;
	if (part == NULL)
		goto nomem;
	if (html != NULL) {
		cc = mime_alternative(easy, part, body, html);
	} else {
		cc = curl_mime_data(part, body, CURL_ZERO_TERMINATED);
		if (cc == CURLE_OK)
			cc = curl_mime_type(part, "text/plain; charset=utf-8");
		if (cc == CURLE_OK)
			cc = curl_mime_encoder(part, "quoted-printable");
	}

	if (cc == CURLE_OK)
		cc = gw_net_setopt(easy, &em->net, "smtp,smtps");
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_URL, em->net.url);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_USE_SSL, em->use_ssl);
	if (cc == CURLE_OK && em->username != NULL)
		cc = curl_easy_setopt(easy, CURLOPT_USERNAME, em->username);
	if (cc == CURLE_OK && em->password != NULL)
		cc = curl_easy_setopt(easy, CURLOPT_PASSWORD, em->password);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_MAIL_FROM, em->mail_from);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, req->rcpt);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_MIMEPOST, req->mime);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, smtp_reply);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_HEADERDATA, req);
	if (cc != CURLE_OK) {
		res->outcome = GW_RETRY;
		snprintf(res->error, sizeof(res->error), "curl: %s", curl_easy_strerror(cc));
		goto out;
	}
	*reqp = req;
	req = NULL;
	rc = MQS_OK;
	goto out;
nomem:
	res->outcome = GW_RETRY;
	snprintf(res->error, sizeof(res->error), "out of memory");
out:
	mqs_free(subject);
	mqs_secret_free_str(body);
	mqs_secret_free_str(text);
	mqs_secret_free_str(html);
	OPENSSL_cleanse(rcpt, sizeof(rcpt));
	if (req != NULL) {
		curl_mime_free(req->mime);
		curl_slist_free_all(req->headers);
		curl_slist_free_all(req->rcpt);
		mqs_free(req);
	}
	return rc;
}

/* SMTP outcome: ok sent; 4xx reply or network trouble retry; 5xx failed. */
static void email_finish(struct gw_channel *ch, struct gw_request *req, CURL *easy, CURLcode cc,
                         struct gw_result *res)
{
	long code = 0;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	res->retry_after = 0;
	res->provider_ref[0] = '\0';
	res->error[0] = '\0';
	if (cc == CURLE_OK) {
		res->outcome = GW_SENT;
		smtp_ref(req->reply, res);
	} else if (code >= 400 && code < 600) {
		/* the last reply was a refusal: its class decides */
		res->outcome = code >= 500 ? GW_FAILED : GW_RETRY;
		snprintf(res->error, sizeof(res->error), "smtp %ld: %s", code,
		         curl_easy_strerror(cc));
	} else {
		res->outcome = gw_curl_transient(cc) ? GW_RETRY : GW_FAILED;
		snprintf(res->error, sizeof(res->error), "smtp: %s", curl_easy_strerror(cc));
	}
}

/* Quoted-printable (RFC 2045 6.7) of text, whose line ends are CRLF, onto
 * b: lines of at most 76 characters with soft breaks, CRLF kept.  MQS_OK
 * or an mqs_buf error. */
static int qp_add(struct mqs_buf *b, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	char chunk[1024];
	size_t o = 0, col = 0;
	int rc = MQS_OK;

	for (const char *p = text; *p != '\0' && rc == MQS_OK; p++) {
		unsigned char c = (unsigned char)*p;
		char tok[3];
		size_t tl = 1;

		if (c == '\r' && p[1] == '\n') {
			chunk[o++] = '\r';
			chunk[o++] = '\n';
			col = 0;
			p++;
		} else {
			int at_end = p[1] == '\0' || (p[1] == '\r' && p[2] == '\n');

			if (c == '=' || (c < 0x20 && c != '\t') || c > 0x7e ||
			    ((c == ' ' || c == '\t') && at_end)) {
				tok[0] = '=';
				tok[1] = hex[c >> 4];
				tok[2] = hex[c & 15];
				tl = 3;
			} else {
				tok[0] = (char)c;
			}
			if (col + tl > 75) {
				chunk[o++] = '=';
				chunk[o++] = '\r';
				chunk[o++] = '\n';
				col = 0;
			}
			memcpy(chunk + o, tok, tl);
			o += tl;
			col += tl;
		}
		if (o > sizeof(chunk) - 16) {
			rc = mqs_buf_add(b, chunk, o);
			o = 0;
		}
	}
	if (rc == MQS_OK && o > 0)
		rc = mqs_buf_add(b, chunk, o);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return rc;
}

/* One text part: its headers, a blank line, its quoted-printable text. */
static int part_add(struct mqs_buf *b, const char *type, const char *text)
{
	int rc = mqs_buf_addf(b,
	                      "Content-Type: %s; charset=utf-8\r\n"
	                      "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
	                      type);

	if (rc == MQS_OK)
		rc = qp_add(b, text);
	return rc;
}

/* The whole message of d for the pipelining client: the same headers as
 * the libcurl path, MIME built here (a boundary quoted-printable text can
 * never contain: it starts with "=_").  MQS_OK, MQS_ERR_INVAL (res
 * filled: the delivery failed), or a retry with res filled. */
static int native_message(struct gw_email *em, const struct gw_delivery *d, struct mqs_buf *b,
                          struct gw_result *res)
{
	char key[80], id[80], sev[16], date[64];
	char *subject = NULL, *text = NULL, *body = NULL, *html = NULL;
	int marketing = d->kind != NULL && strcmp(d->kind, "marketing") == 0;
	int rc = MQS_ERR_NOMEM;

	subject = gw_email_subject(d->title);
	text = gw_text_join(d->body, NULL, NULL, GW_EMAIL_BODY_MAX, 0);
	if (text != NULL)
		body = crlf_body(text);
	if (subject == NULL || body == NULL)
		goto out;
	if (marketing && d->html != NULL) {
		html = crlf_body(d->html);
		if (html == NULL)
			goto out;
	}
	if (d->retry_key != NULL && d->retry_key[0] != '\0')
		gw_text_token(d->retry_key, "-._", key, sizeof(key));
	else
		snprintf(key, sizeof(key), "mqttsec-%lld", (long long)d->id);
	gw_text_token(d->msg_id, "-._:", id, sizeof(id));
	gw_text_token(d->severity, NULL, sev, sizeof(sev));
	gw_email_date(time(NULL), date, sizeof(date));
	rc = mqs_buf_addf(b,
	                  "From: %s\r\nTo: %s\r\n%s\r\nMessage-ID: <%s@%s>\r\n"
	                  "Auto-Submitted: auto-generated\r\nX-Mqttsec-Id: %s\r\n",
	                  em->from, d->address, date, key, em->domain, id);
	if (rc == MQS_OK && !marketing)
		rc = mqs_buf_addf(b, "X-Mqttsec-Severity: %s\r\n", sev);
	/* one-click unsubscribe (RFC 8058; docs/marketing.md, "List-Unsubscribe") */
	if (rc == MQS_OK && marketing && d->list_unsubscribe != NULL) {
		if (!gw_email_header_url_ok(d->list_unsubscribe)) {
			res->outcome = GW_FAILED;
			snprintf(res->error, sizeof(res->error), "email: bad unsubscribe link");
			rc = MQS_ERR_INVAL;
			goto out;
		}
		rc = mqs_buf_addf(b,
		                  "List-Unsubscribe: <%s>\r\n"
		                  "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
		                  d->list_unsubscribe);
	}
	if (rc == MQS_OK && d->severity != NULL && strcmp(d->severity, "critical") == 0)
		rc = mqs_buf_adds(b, "Importance: high\r\n");
	if (rc == MQS_OK)
		rc = mqs_buf_addf(b, "%s\r\nMIME-Version: 1.0\r\n", subject);
	if (rc == MQS_OK && html != NULL) {
		rc = mqs_buf_addf(b,
		                  "Content-Type: multipart/alternative; boundary=\"=_mqs_%s\"\r\n"
		                  "\r\n--=_mqs_%s\r\n",
		                  key, key);
		if (rc == MQS_OK)
			rc = part_add(b, "text/plain", body);
		if (rc == MQS_OK)
			rc = mqs_buf_addf(b, "\r\n--=_mqs_%s\r\n", key);
		if (rc == MQS_OK)
			rc = part_add(b, "text/html", html);
		if (rc == MQS_OK)
			rc = mqs_buf_addf(b, "\r\n--=_mqs_%s--\r\n", key);
	} else if (rc == MQS_OK) {
		rc = part_add(b, "text/plain", body);
		if (rc == MQS_OK)
			rc = mqs_buf_adds(b, "\r\n");
	}
out:
	if (rc != MQS_OK && rc != MQS_ERR_INVAL) {
		res->outcome = GW_RETRY;
		snprintf(res->error, sizeof(res->error), "email: cannot build the message");
	}
	mqs_free(subject);
	mqs_secret_free_str(body);
	mqs_secret_free_str(text);
	mqs_secret_free_str(html);
	return rc;
}

/* The lookup is over (or abandoned): free it, or leave it behind when it
 * still runs and cannot be cancelled (a resolver stuck past its own
 * timeouts: the block stays allocated for it). */
static void lookup_end(struct gw_email *em)
{
	struct email_lookup *lk = em->lookup;

	em->lookup = NULL;
	if (lk == NULL)
		return;
	if (gai_error(&lk->cb) == EAI_INPROGRESS && gai_cancel(&lk->cb) == EAI_NOTCANCELED)
		return;
	if (lk->cb.ar_result != NULL)
		freeaddrinfo(lk->cb.ar_result);
	mqs_free(lk);
}

/* Create the pipelining client once the server's address is known,
 * without blocking the loop (docs/channels.md, "Pipelining"): a numeric
 * address at once; a name looked up in the background by getaddrinfo_a,
 * emails going through libcurl meanwhile, given up after the channel's
 * timeout (then libcurl from then on).  MQS_OK when em->smtp is there,
 * else MQS_ERR_UNSUPPORTED (this email through libcurl). */
static int email_client(struct gw_email *em, int64_t now_ms)
{
	struct gw_smtp_conf sc = {
	    .host = em->host,
	    .port = em->port,
	    .helo = em->helo,
	    .mail_from = em->mail_from,
	    .timeout_ms = em->net.timeout_s * 1000,
	    .max_conns = em->head.max_inflight,
	    .starttls_wanted = em->use_ssl != CURLUSESSL_NONE,
	};
	struct addrinfo hints, *ai = NULL;
	char err[160], port[16];
	int rc = MQS_ERR_UNSUPPORTED, g;

	if (em->smtp != NULL) {
		rc = MQS_OK;
		goto out;
	}
	snprintf(port, sizeof(port), "%u", em->port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (em->lookup == NULL && getaddrinfo(em->host, port, &hints, &ai) == 0 && ai != NULL) {
		sc.addr = ai->ai_addr;
		sc.addrlen = ai->ai_addrlen;
	} else if (em->lookup == NULL) {
		/* a name: looked up off the loop */
		struct email_lookup *lk = mqs_calloc(1, sizeof(*lk));
		struct gaicb *list[1];

		if (lk == NULL)
			goto out;
		snprintf(lk->host, sizeof(lk->host), "%s", em->host);
		snprintf(lk->port, sizeof(lk->port), "%s", port);
		lk->hints.ai_socktype = SOCK_STREAM;
		lk->hints.ai_flags = AI_NUMERICSERV;
		lk->cb.ar_name = lk->host;
		lk->cb.ar_service = lk->port;
		lk->cb.ar_request = &lk->hints;
		list[0] = &lk->cb;
		g = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
		if (g != 0) {
			mqs_free(lk);
			em->native = 0; /* libcurl (its errors name the lookup) */
			goto out;
		}
		em->lookup = lk;
		em->lookup_until = now_ms + (sc.timeout_ms > 0 ? sc.timeout_ms : 30000);
		goto out;
	} else {
		g = gai_error(&em->lookup->cb);
		if (g == EAI_INPROGRESS && now_ms < em->lookup_until)
			goto out;
		if (g != 0 || em->lookup->cb.ar_result == NULL) {
			/* failed or too slow: libcurl from now on (its errors name
			 * a lookup that fails) */
			em->native = 0;
			lookup_end(em);
			goto out;
		}
		sc.addr = em->lookup->cb.ar_result->ai_addr;
		sc.addrlen = em->lookup->cb.ar_result->ai_addrlen;
	}
	/* created at the first delivery, when max_inflight is known */
	em->conns =
	    em->head.max_inflight < GW_SMTP_CONNS_MAX ? em->head.max_inflight : GW_SMTP_CONNS_MAX;
	em->smtp = gw_smtp_new(&sc, err, sizeof(err));
	lookup_end(em); /* sc.addr copied */
	if (em->smtp == NULL) {
		em->native = 0; /* libcurl from now on */
		goto out;
	}
	em->head.max_marketing = gw_smtp_bulk_max(em->smtp);
	rc = MQS_OK;
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	return rc;
}

/* native_start: d over the pipelining client when it can take it. */
static int email_native_start(struct gw_channel *ch, const struct gw_delivery *d, void *token,
                              int64_t now_ms, struct gw_result *res)
{
	struct gw_email *em = (struct gw_email *)ch;
	struct mqs_buf b;
	char rcpt[264];
	char *msg = NULL;
	size_t len = 0;
	int rc = MQS_ERR_UNSUPPORTED;
	int marketing = d->kind != NULL && strcmp(d->kind, "marketing") == 0;

	mqs_buf_init(&b, GW_EMAIL_MSG_MAX, 1);
	if (!em->native)
		goto out;
	if (email_client(em, now_ms) != MQS_OK)
		goto out;
	if (gw_smtp_fallback(em->smtp))
		goto out;
	if (!gw_email_addr_ok(d->address)) {
		res->outcome = GW_FAILED;
		snprintf(res->error, sizeof(res->error), "email: invalid address");
		rc = MQS_ERR_INVAL;
		goto out;
	}
	rc = native_message(em, d, &b, res);
	if (rc != MQS_OK)
		goto out;
	msg = gw_smtp_dot_stuff((const char *)b.data, b.len, GW_EMAIL_MSG_MAX, &len);
	if (msg == NULL) {
		res->outcome = GW_RETRY;
		snprintf(res->error, sizeof(res->error), "email: cannot build the message");
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	snprintf(rcpt, sizeof(rcpt), "<%s>", d->address);
	/* anything but marketing is urgent: it takes the connection kept for
	 * it (docs/channels.md, "Pipelining") */
	rc = gw_smtp_submit(em->smtp, rcpt, msg, len, token, !marketing, now_ms);
	OPENSSL_cleanse(rcpt, sizeof(rcpt));
	if (rc == MQS_ERR_NOMEM) {
		res->outcome = GW_RETRY;
		snprintf(res->error, sizeof(res->error), "out of memory");
	}
out:
	mqs_buf_release(&b);
	return rc;
}

/* gw_smtp's done: the result as the engine's. */
static void email_smtp_done(void *arg, void *token, const struct gw_smtp_result *r)
{
	struct gw_email *em = arg;
	struct gw_result res;

	memset(&res, 0, sizeof(res));
	res.outcome = r->outcome;
	snprintf(res.error, sizeof(res.error), "%s", r->error);
	if (r->outcome == GW_SENT)
		smtp_ref(r->reply, &res);
	em->done(em->done_arg, token, &res, r->fallback);
}

/* native_perform: the client's I/O. */
static void email_native_perform(struct gw_channel *ch, int64_t now_ms,
                                 void (*done)(void *arg, void *token, const struct gw_result *res,
                                              int fallback),
                                 void *arg)
{
	struct gw_email *em = (struct gw_email *)ch;

	if (em->smtp == NULL)
		return;
	em->done = done;
	em->done_arg = arg;
	gw_smtp_perform(em->smtp, now_ms, email_smtp_done, em);
	if (!em->doubled && gw_smtp_ready(em->smtp)) {
		/* the server pipelines: each connection carries a running
		 * transaction and the next one (docs/channels.md, "Pipelining") */
		em->doubled = 1;
		ch->max_inflight = 2 * (em->conns > 0 ? em->conns : 1);
		ch->max_marketing = gw_smtp_bulk_max(em->smtp);
	} else if (em->doubled == 1 && gw_smtp_fallback(em->smtp)) {
		em->doubled = 2; /* libcurl from now on: one transfer per connection */
		ch->max_inflight = em->conns > 0 ? em->conns : 1;
		ch->max_marketing = 0;
	}
}

/* native_fds: the client's sockets. */
static size_t email_native_fds(struct gw_channel *ch, int *fd, short *events, size_t cap)
{
	struct gw_email *em = (struct gw_email *)ch;

	return em->smtp != NULL ? gw_smtp_fds(em->smtp, fd, events, cap) : 0;
}

/* native_next: the client's earliest deadline. */
static int64_t email_native_next(struct gw_channel *ch)
{
	struct gw_email *em = (struct gw_email *)ch;

	return em->smtp != NULL ? gw_smtp_next_ms(em->smtp) : 0;
}

/* Free per-transfer state. */
static void email_request_free(struct gw_request *req)
{
	if (req == NULL)
		return;
	curl_mime_free(req->mime);
	curl_slist_free_all(req->headers);
	curl_slist_free_all(req->rcpt);
	mqs_free(req);
}

/* Free the channel. */
static void email_free(struct gw_channel *ch)
{
	struct gw_email *em = (struct gw_email *)ch;

	if (em == NULL)
		return;
	gw_smtp_free(em->smtp, NULL, NULL);
	lookup_end(em);
	gw_net_conf_release(&em->net);
	mqs_free(em->from);
	mqs_free(em->mail_from);
	mqs_free(em->domain);
	mqs_free(em->username);
	mqs_secret_free_str(em->password);
	mqs_free(em);
}

static const struct gw_channel_ops email_ops = {
    .name = "email",
    .prepare = email_prepare,
    .finish = email_finish,
    .deliver = NULL,
    .request_free = email_request_free,
    .native_start = email_native_start,
    .native_perform = email_native_perform,
    .native_fds = email_native_fds,
    .native_next = email_native_next,
    .free = email_free,
    .threaded = 1,
};

/* Server, port and EHLO name of em's url for the pipelining client.
 * MQS_OK, or MQS_ERR_PARSE (then libcurl only). */
static int url_server(struct gw_email *em)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *path = NULL;
	int rc = MQS_ERR_PARSE;
	size_t hl;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, em->net.url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		path = NULL;
	hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		memmove(host, host + 1, hl - 1);
	}
	if (strlen(host) >= sizeof(em->host))
		goto out;
	snprintf(em->host, sizeof(em->host), "%s", host);
	em->port = (unsigned)strtoul(port, NULL, 10);
	if (path != NULL && path[0] == '/' && path[1] != '\0')
		gw_text_token(path + 1, "-.", em->helo, sizeof(em->helo));
	else
		snprintf(em->helo, sizeof(em->helo), "localhost");
	if (em->port == 0 || em->helo[0] == '\0')
		goto out;
	rc = MQS_OK;
out:
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

/* New email channel from [channel email]. */
struct gw_channel *gw_email_new(const struct gw_chan_conf *conf, char *err, size_t errlen)
{
	struct gw_email *em = mqs_calloc(1, sizeof(*em));
	const char *from = NULL;
	const char *tls = gw_conf_str(conf, "tls");
	const char *user = gw_conf_str(conf, "username");
	const char *pass = gw_conf_str(conf, "password");
	const char *pipe = gw_conf_str(conf, "pipelining");
	char dom[256];
	int smtps;
	size_t n;

	if (em == NULL) {
		snprintf(err, errlen, "[channel email] out of memory");
		return NULL;
	}
	em->head.ops = &email_ops;
	em->head.max_inflight = 4;
	if (gw_net_conf_load(&em->net, conf, "email", email_schemes, err, errlen) != 0)
		goto fail;
	if (gw_conf_need(conf, "email", "from", &from, err, errlen) != 0)
		goto fail;
	if (!gw_email_addr_ok(from)) {
		snprintf(err, errlen, "[channel email] from must be a plain address (user@domain)");
		goto fail;
	}
	smtps = strncasecmp(em->net.url, "smtps:", 6) == 0;
	if (tls == NULL || strcasecmp(tls, "auto") == 0) {
		em->use_ssl = smtps ? CURLUSESSL_ALL : CURLUSESSL_TRY;
	} else if (strcasecmp(tls, "required") == 0) {
		em->use_ssl = CURLUSESSL_ALL;
	} else if (strcasecmp(tls, "none") == 0 && !smtps) {
		em->use_ssl = CURLUSESSL_NONE;
	} else {
		snprintf(err, errlen,
		         "[channel email] tls must be auto, required or none "
		         "(none not with smtps://)");
		goto fail;
	}
	if ((user == NULL) != (pass == NULL)) {
		snprintf(err, errlen, "[channel email] username and password go together");
		goto fail;
	}
	if (pass != NULL && em->use_ssl != CURLUSESSL_ALL && !gw_url_is_loopback(em->net.url)) {
		/* STARTTLS "when offered" can be stripped: never risk the password */
		snprintf(err, errlen, "[channel email] password needs smtps:// or tls = required");
		goto fail;
	}
	n = strlen(from) + 3;
	em->from = mqs_strdup(from);
	em->mail_from = mqs_malloc(n);
	gw_text_token(strrchr(from, '@') + 1, "-.", dom, sizeof(dom));
	em->domain = mqs_strdup(dom);
	em->username = user != NULL ? mqs_strdup(user) : NULL;
	em->password = pass != NULL ? mqs_strdup(pass) : NULL;
	if (em->from == NULL || em->mail_from == NULL || em->domain == NULL ||
	    (user != NULL && em->username == NULL) || (pass != NULL && em->password == NULL)) {
		snprintf(err, errlen, "[channel email] out of memory");
		goto fail;
	}
	snprintf(em->mail_from, n, "<%s>", from);
	if (pipe != NULL && strcasecmp(pipe, "auto") != 0 && strcasecmp(pipe, "off") != 0) {
		snprintf(err, errlen, "[channel email] pipelining must be auto or off");
		goto fail;
	}
	/* the pipelining client: plain SMTP (STARTTLS offered -> libcurl), no
	 * AUTH (docs/channels.md, "Pipelining") */
	if ((pipe == NULL || strcasecmp(pipe, "auto") == 0) && !smtps &&
	    em->use_ssl != CURLUSESSL_ALL && em->username == NULL)
		em->native = url_server(em) == MQS_OK;
	return &em->head;
fail:
	email_free(&em->head);
	return NULL;
}
