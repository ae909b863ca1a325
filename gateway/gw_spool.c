/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_spool.c - the embedded default channel: one file per delivery under a
 * folder (0700), written atomically with mode 0600. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gw_channel.h"
#include "gw_email.h"
#include "gw_text.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_util.h"

/* Longest title and body written, in characters. */
#define SPOOL_TITLE_MAX 1000
#define SPOOL_BODY_MAX  100000

/* Keys of [channel spool]. */
const char *const gw_spool_keys[] = {"dir", NULL};

struct gw_spool {
	struct gw_channel head; /* first: the engine sees a struct gw_channel */
	char *dir;
};

/* Create dir (and missing parents) with mode 0700; MQS_OK or MQS_ERR_IO
 * with errno set. */
static int mkdir_p(const char *dir)
{
	char path[PATH_MAX];
	size_t n = strlen(dir);
	size_t i;

	if (n == 0 || n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return MQS_ERR_IO;
	}
	memcpy(path, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, S_IRWXU) != 0 && errno != EEXIST)
			return MQS_ERR_IO;
		path[i] = i < n ? '/' : '\0';
	}
	return MQS_OK;
}

/* A file name part that can lead a name: never '-' (an option to a shell
 * command run on the spool) nor '.' (a hidden file). */
static void no_leading_dash(char *part)
{
	if (part[0] == '-' || part[0] == '.')
		part[0] = '_';
}

/* The file of one delivery. */
int gw_spool_file_name(const char *dir, const char *msg_id, const char *recipient,
                       const char *channel, long long delivery_id, char id[65], char who[65],
                       char chan[17], char *out, size_t cap)
{
	int n;

	/* file name parts: letters, digits, '-' and '_' only */
	gw_text_token(msg_id, "-_", id, 65);
	gw_text_token(recipient, "-_", who, 65);
	gw_text_token(channel, NULL, chan, 17);
	no_leading_dash(id);
	no_leading_dash(who);
	n = snprintf(out, cap, "%s/%s-%s-%s-%lld.txt", dir, id, who, chan, delivery_id);
	return n >= 0 && (size_t)n < cap ? MQS_OK : MQS_ERR_BUFSIZE;
}

/* A medical record: "<dir>/<id>-<channel>-<delivery_id>.rec" holding the
 * record bytes exactly, 0600 (docs/medical.md, "Receiving"). */
static void spool_record(struct gw_spool *sp, const struct gw_delivery *d, struct gw_result *res)
{
	char id[65];
	char who[65];
	char chan[17];
	char path[PATH_MAX];
	const char *base;
	int n;

	if (gw_spool_file_name(sp->dir, d->msg_id, "record", d->channel, (long long)d->id, id, who,
	                       chan, path, sizeof(path)) != 0) {
		res->outcome = GW_FAILED;
		snprintf(res->error, sizeof(res->error), "spool: file name too long");
		return;
	}
	n = snprintf(path, sizeof(path), "%s/%s-%s-%lld.rec", sp->dir, id, chan, (long long)d->id);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		res->outcome = GW_FAILED;
		snprintf(res->error, sizeof(res->error), "spool: file name too long");
		return;
	}
	if (mqs_file_write_secret(path, d->data != NULL ? d->data : (const uint8_t *)"",
	                          d->data_len, 0) != MQS_OK) {
		res->outcome = GW_RETRY;
		snprintf(res->error, sizeof(res->error), "spool: cannot write file: %s",
		         strerror(errno));
		return;
	}
	res->outcome = GW_SENT;
	base = strrchr(path, '/') + 1;
	if (strlen(base) < sizeof(res->provider_ref))
		memcpy(res->provider_ref, base, strlen(base) + 1);
}

/* Write one delivery into its own file. */
static void spool_deliver(struct gw_channel *ch, const struct gw_delivery *d, struct gw_result *res)
{
	struct gw_spool *sp = (struct gw_spool *)ch;
	char id[65];
	char who[65];
	char chan[17];
	char key[65];
	char sev[17];
	char date[64];
	char path[PATH_MAX];
	char *title = gw_text_join(d->title, NULL, NULL, SPOOL_TITLE_MAX, GW_TEXT_ONELINE);
	char *body = gw_text_join(d->body, NULL, NULL, SPOOL_BODY_MAX, 0);
	char *text = NULL;
	const char *base;
	int len;
	int err;

	res->retry_after = 0;
	res->provider_ref[0] = '\0';
	res->error[0] = '\0';
	if (d->kind != NULL && strcmp(d->kind, "medical-join") == 0) {
		spool_record(sp, d, res);
		goto out;
	}
	gw_text_token(d->retry_key, "-", key, sizeof(key));
	gw_text_token(d->severity, NULL, sev, sizeof(sev));
	gw_email_date(time(NULL), date, sizeof(date));
	if (title == NULL || body == NULL) {
		res->outcome = GW_RETRY;
		snprintf(res->error, sizeof(res->error), "spool: out of memory");
		goto out;
	}
	if (gw_spool_file_name(sp->dir, d->msg_id, d->recipient, d->channel, (long long)d->id, id,
	                       who, chan, path, sizeof(path)) != 0) {
		res->outcome = GW_FAILED;
		snprintf(res->error, sizeof(res->error), "spool: file name too long");
		goto out;
	}
	/* the address is not written: the file names the recipient only */
	len = asprintf(&text,
	               "Message-Id: %s\nDelivery-Id: %lld\nRecipient: %s\nChannel: %s\n"
	               "Severity: %s\nRetry-Key: %s\n%s\nSubject: %s\n\n%s\n",
	               id, (long long)d->id, who, chan, sev, key, date, title, body);
	if (len < 0) {
		text = NULL;
		res->outcome = GW_RETRY;
		snprintf(res->error, sizeof(res->error), "spool: out of memory");
		goto out;
	}
	/* an existing file is a retry of the same delivery: replace it */
	err = mqs_file_write_secret(path, text, (size_t)len, 0);
	if (err != MQS_OK) {
		res->outcome = GW_RETRY;
		snprintf(res->error, sizeof(res->error), "spool: cannot write file: %s",
		         strerror(errno));
		goto out;
	}
	res->outcome = GW_SENT;
	/* the file name is the reference when it fits */
	base = strrchr(path, '/') + 1;
	if (strlen(base) < sizeof(res->provider_ref))
		memcpy(res->provider_ref, base, strlen(base) + 1);
out:
	free(text); /* asprintf's: the C library's */
	mqs_free(title);
	mqs_free(body);
}

/* Free the channel. */
static void spool_free(struct gw_channel *ch)
{
	struct gw_spool *sp = (struct gw_spool *)ch;

	if (sp == NULL)
		return;
	mqs_free(sp->dir);
	mqs_free(sp);
}

static const struct gw_channel_ops spool_ops = {
    .name = "spool",
    .prepare = NULL,
    .finish = NULL,
    .deliver = spool_deliver,
    .request_free = NULL,
    .free = spool_free,
};

/* New spool channel writing under dir. */
struct gw_channel *gw_spool_new(const char *dir, char *err, size_t errlen)
{
	struct gw_spool *sp = NULL;
	struct stat st;

	if (dir == NULL || dir[0] == '\0') {
		snprintf(err, errlen, "spool: no folder");
		goto fail;
	}
	if (mkdir_p(dir) != 0 || stat(dir, &st) != 0) {
		snprintf(err, errlen, "cannot create spool folder %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "spool folder %s is not a folder", dir);
		goto fail;
	}
	/* deliveries hold message text: keep the folder private */
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0 && st.st_uid == geteuid() &&
	    chmod(dir, S_IRWXU) != 0) {
		snprintf(err, errlen, "cannot chmod spool folder %s: %s", dir, strerror(errno));
		goto fail;
	}
	sp = mqs_calloc(1, sizeof(*sp));
	if (sp != NULL)
		sp->dir = mqs_strdup(dir);
	if (sp == NULL || sp->dir == NULL) {
		snprintf(err, errlen, "spool: out of memory");
		goto fail;
	}
	sp->head.ops = &spool_ops;
	sp->head.max_inflight = 1;
	return &sp->head;
fail:
	spool_free((struct gw_channel *)sp);
	return NULL;
}

/* New spool channel from [channel spool] (or no section: conf->spool_dir). */
struct gw_channel *gw_spool_new_conf(const struct gw_chan_conf *conf, char *err, size_t errlen)
{
	const char *dir = conf->get(conf, "dir");

	return gw_spool_new(dir != NULL ? dir : conf->spool_dir, err, errlen);
}
