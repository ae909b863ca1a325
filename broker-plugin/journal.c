/* SPDX-License-Identifier: BSD-3-Clause */
/* journal.c - the step journal (format and durability: journal.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "mqs_alloc.h"
#include "mqs_error.h"

#define STEP_DIGITS_MAX 19 /* INT64_MAX */
#define CHECK_DIGITS    8
/* "<step> <name> <check>\n" */
#define LINE_MAX_LEN (STEP_DIGITS_MAX + 1 + MQSP_JOURNAL_NAME_MAX + 1 + CHECK_DIGITS + 1)

struct mqsp_journal {
	int fd;
	off_t size;     /* bytes of whole lines in the file */
	size_t records; /* records in the file */
	int torn;       /* bytes after size still to cut off before the next append */
	char *path;
};

#define LOCK_TRIES    20 /* another broker's start-up recovery ... */
#define LOCK_RETRY_MS 50 /* ... holds the lock for a moment */

/* 32-bit FNV-1a of len bytes: a check against torn or zeroed lines, not
 * against tampering (whoever can write the file can write the database). */
static uint32_t fnv1a(const char *p, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 16777619u;
	}
	return h;
}

/* A name a record can hold: 1-255 bytes, no space or control character. */
static int name_ok(const char *name, size_t len)
{
	if (len == 0 || len > MQSP_JOURNAL_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= ' ' || c == 0x7f)
			return 0;
	}
	return 1;
}

/* Take the journal's lock, waiting up to a second for a broker that only
 * recovers it at start-up.  0, or -1 with errno set. */
static int lock_file(int fd)
{
	struct timespec pause = {0, LOCK_RETRY_MS * 1000000L};
	int r = -1;

	for (int i = 0; i < LOCK_TRIES; i++) {
		r = flock(fd, LOCK_EX | LOCK_NB);
		if (r == 0 || (errno != EWOULDBLOCK && errno != EINTR))
			break;
		nanosleep(&pause, NULL);
	}
	return r;
}

/* Open (creating 0600) the journal at path. */
int mqsp_journal_open(const char *path, struct mqsp_journal **out, char *err, size_t errlen)
{
	struct mqsp_journal *j = NULL;
	struct stat st;
	int fd = -1;
	int e = 0;
	int rc = MQS_ERR_IO;

	*out = NULL;
	fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		e = errno;
		if (e == ELOOP) {
			rc = MQS_ERR_PERM;
			snprintf(err, errlen, "cannot open step journal %s: a symbolic link", path);
		} else {
			snprintf(err, errlen, "cannot open step journal %s: %s", path, strerror(e));
		}
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		e = errno;
		snprintf(err, errlen, "cannot open step journal %s: %s", path, strerror(e));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = MQS_ERR_PERM;
		snprintf(err, errlen, "cannot open step journal %s: not a regular file", path);
		goto out;
	}
	/* it names devices: nobody else needs to read it */
	if ((st.st_mode & 077) != 0 && fchmod(fd, 0600) != 0) {
		e = errno;
		snprintf(err, errlen, "cannot make step journal %s private: %s", path, strerror(e));
		goto out;
	}
	/* one broker per journal: another one would empty it under this one */
	if (lock_file(fd) != 0) {
		e = errno;
		if (e == EWOULDBLOCK) {
			rc = MQS_ERR_EXISTS;
			snprintf(err, errlen,
			         "cannot open step journal %s: in use by another broker (brokers "
			         "sharing a database need plugin_opt_totp_step_commit database)",
			         path);
		} else {
			snprintf(err, errlen, "cannot lock step journal %s: %s", path, strerror(e));
		}
		goto out;
	}
	rc = MQS_ERR_NOMEM;
	j = mqs_calloc(1, sizeof(*j));
	if (j == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	j->path = mqs_strdup(path);
	if (j->path == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	j->fd = fd;
	j->size = st.st_size;
	fd = -1;
	*out = j;
	j = NULL;
	rc = MQS_OK;
out:
	if (fd >= 0)
		close(fd); /* drops the lock too */
	if (j != NULL)
		mqs_free(j->path);
	mqs_free(j);
	if (e != 0)
		errno = e;
	return rc;
}

/* Close the file and free j. */
void mqsp_journal_free(struct mqsp_journal *j)
{
	if (j == NULL)
		return;
	if (j->fd >= 0)
		close(j->fd);
	mqs_free(j->path);
	mqs_free(j);
}

/* Parse one line (without its newline): 1 with name and step set when valid. */
static int parse_line(char *line, size_t len, const char **name, int64_t *step)
{
	char *sp1 = memchr(line, ' ', len);
	char *sp2;
	size_t head_len, name_len;
	uint32_t check = 0;
	int64_t v = 0;

	if (sp1 == NULL || sp1 == line || sp1 - line > STEP_DIGITS_MAX)
		return 0;
	for (char *c = line; c < sp1; c++) {
		if (*c < '0' || *c > '9' || v > (INT64_MAX - (*c - '0')) / 10)
			return 0;
		v = v * 10 + (*c - '0');
	}
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line));
	if (sp2 == NULL || (size_t)(line + len - (sp2 + 1)) != CHECK_DIGITS)
		return 0;
	name_len = (size_t)(sp2 - (sp1 + 1));
	if (!name_ok(sp1 + 1, name_len))
		return 0;
	for (const char *c = sp2 + 1; c < line + len; c++) {
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return 0;
		check = (check << 4) | (uint32_t)(*c <= '9' ? *c - '0' : *c - 'a' + 10);
	}
	head_len = (size_t)(sp2 - line);
	if (fnv1a(line, head_len) != check)
		return 0;
	*sp2 = '\0';
	*name = sp1 + 1;
	*step = v;
	return 1;
}

/* Read every record in the file and hand each valid one to fn. */
int mqsp_journal_read(struct mqsp_journal *j, mqsp_journal_fn fn, void *ctx, size_t *bad)
{
	char buf[8192];
	char line[LINE_MAX_LEN + 1];
	size_t used = 0, nbad = 0, nrec = 0;
	int too_long = 0;
	off_t pos = 0, good_end = 0;
	int rc = MQS_OK;

	for (;;) {
		ssize_t n = pread(j->fd, buf, sizeof(buf), pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = MQS_ERR_IO;
			goto out;
		}
		if (n == 0)
			break;
		pos += n;
		for (ssize_t i = 0; i < n; i++) {
			const char *name;
			int64_t step;

			if (buf[i] != '\n') {
				if (used < LINE_MAX_LEN)
					line[used++] = buf[i];
				else
					too_long = 1;
				continue;
			}
			if (!too_long && parse_line(line, used, &name, &step)) {
				nrec++;
				rc = fn(ctx, name, step);
				if (rc != MQS_OK)
					goto out;
			} else {
				nbad++;
			}
			used = 0;
			too_long = 0;
			good_end = pos - n + i + 1;
		}
	}
	/* a last line without its newline is a write the crash cut short: cut
	 * it off, or the next record would be glued to it */
	if (pos > good_end) {
		nbad++;
		j->size = good_end;
		j->torn = ftruncate(j->fd, good_end) != 0;
	}
out:
	j->records = nrec;
	if (bad != NULL)
		*bad = nbad;
	return rc;
}

/* Append one record with a single write(2). */
int mqsp_journal_append(struct mqsp_journal *j, const char *name, int64_t step)
{
	char line[LINE_MAX_LEN + 1];
	size_t name_len = strlen(name);
	ssize_t w;
	int head, len;

	if (step < 0 || !name_ok(name, name_len))
		return MQS_ERR_INVAL;
	if (j->torn) {
		if (ftruncate(j->fd, j->size) != 0)
			return MQS_ERR_IO;
		j->torn = 0;
	}
	head = snprintf(line, sizeof(line), "%" PRId64 " %s", step, name);
	if (head < 0 || (size_t)head + 1 + CHECK_DIGITS + 1 > sizeof(line) - 1)
		return MQS_ERR_INVAL;
	len = head + snprintf(line + head, sizeof(line) - (size_t)head, " %08" PRIx32 "\n",
	                      fnv1a(line, (size_t)head));
	do {
		w = write(j->fd, line, (size_t)len);
	} while (w < 0 && errno == EINTR);
	if (w == len) {
		j->size += len;
		j->records++;
		return MQS_OK;
	}
	if (w >= 0) {
		/* a short write (disk full): cut the partial line off again */
		int e = w == 0 ? ENOSPC : EIO;

		if (ftruncate(j->fd, j->size) != 0) {
			e = errno;
			j->torn = 1;
		}
		errno = e;
	}
	return MQS_ERR_IO;
}

/* Records appended since the file was last emptied. */
size_t mqsp_journal_records(const struct mqsp_journal *j)
{
	return j->records;
}

/* Empty the file. */
int mqsp_journal_reset(struct mqsp_journal *j)
{
	if (j->size == 0 && j->records == 0 && !j->torn)
		return MQS_OK;
	if (ftruncate(j->fd, 0) != 0)
		return MQS_ERR_IO;
	j->size = 0;
	j->records = 0;
	j->torn = 0;
	return MQS_OK;
}

/* Make what the file holds durable. */
int mqsp_journal_sync(struct mqsp_journal *j)
{
	int r;

	do {
		r = fdatasync(j->fd);
	} while (r != 0 && errno == EINTR);
	return r == 0 ? MQS_OK : MQS_ERR_IO;
}

/* The path the journal was opened with. */
const char *mqsp_journal_path(const struct mqsp_journal *j)
{
	return j->path;
}
