/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-journal.c - the broker plugin's step journal
 * (broker-plugin/journal.c): records survive a reopen, damaged lines are
 * skipped and counted, a torn last line is cut off, bad names are refused, a
 * failed write leaves no partial line, the file is private, locked, and
 * must be a regular file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "mqs_error.h"
#include "tap.h"

#define MAX_SEEN 16

struct seen {
	size_t n;
	char name[MAX_SEEN][MQSP_JOURNAL_NAME_MAX + 1];
	int64_t step[MAX_SEEN];
};

/* mqsp_journal_read() callback collecting the records. */
static int collect(void *ctx, const char *name, int64_t step)
{
	struct seen *s = ctx;

	if (s->n >= MAX_SEEN)
		return MQS_ERR_TOOBIG;
	snprintf(s->name[s->n], sizeof(s->name[0]), "%s", name);
	s->step[s->n] = step;
	s->n++;
	return MQS_OK;
}

/* Append raw bytes to path. */
static void append_raw(const char *path, const char *bytes, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	if (fd < 0 || write(fd, bytes, len) != (ssize_t)len)
		tap_diag("cannot append to %s", path);
	if (fd >= 0)
		close(fd);
}

/* Size of path in bytes, or -1. */
static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Open path, read it into s; returns the read's result. */
static int reopen_read(const char *path, struct mqsp_journal **j, struct seen *s, size_t *bad)
{
	char err[256];

	mqsp_journal_free(*j);
	*j = NULL;
	memset(s, 0, sizeof(*s));
	if (mqsp_journal_open(path, j, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		return MQS_ERR_IO;
	}
	return mqsp_journal_read(*j, collect, s, bad);
}

static void test_roundtrip(const char *dir)
{
	char path[512], err[256];
	struct mqsp_journal *j = NULL;
	struct seen s;
	struct stat st;
	size_t bad = 99;
	char long_name[MQSP_JOURNAL_NAME_MAX + 2];

	snprintf(path, sizeof(path), "%s/db-steps", dir);
	tap_is_int(mqsp_journal_open(path, &j, err, sizeof(err)), MQS_OK, "open creates");
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "created 0600");
	tap_is_int(mqsp_journal_read(j, collect, &s, &bad), MQS_OK, "read an empty journal");
	tap_is_int((long)bad, 0, "nothing damaged in an empty journal");
	tap_is_int(mqsp_journal_append(j, "dev-1", 59123456), MQS_OK, "append");
	tap_is_int(mqsp_journal_append(j, "dev.2_b", 0), MQS_OK, "append step 0");
	tap_is_int(mqsp_journal_append(j, "dev-1", 59123457), MQS_OK, "append a later step");
	tap_is_int((long)mqsp_journal_records(j), 3, "three records");

	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	tap_is_int(mqsp_journal_append(j, long_name, 1), MQS_ERR_INVAL, "256-byte name refused");
	long_name[MQSP_JOURNAL_NAME_MAX] = '\0';
	tap_is_int(mqsp_journal_append(j, long_name, 1), MQS_OK, "255-byte name taken");
	tap_is_int(mqsp_journal_append(j, "", 1), MQS_ERR_INVAL, "empty name refused");
	tap_is_int(mqsp_journal_append(j, "a b", 1), MQS_ERR_INVAL, "name with a space refused");
	tap_is_int(mqsp_journal_append(j, "a\nb", 1), MQS_ERR_INVAL, "name with a newline refused");
	tap_is_int(mqsp_journal_append(j, "dev", -1), MQS_ERR_INVAL, "negative step refused");
	tap_is_int((long)mqsp_journal_records(j), 4, "refused records not counted");

	tap_is_int(reopen_read(path, &j, &s, &bad), MQS_OK, "reopen and read");
	tap_is_int((long)s.n, 4, "four records read back");
	tap_is_int((long)bad, 0, "none damaged");
	tap_ok(s.n == 4 && strcmp(s.name[0], "dev-1") == 0 && s.step[0] == 59123456,
	       "first record in order");
	tap_ok(s.n == 4 && strcmp(s.name[1], "dev.2_b") == 0 && s.step[1] == 0, "second record");
	tap_ok(s.n == 4 && s.step[2] == 59123457, "third record");
	tap_ok(s.n == 4 && strlen(s.name[3]) == MQSP_JOURNAL_NAME_MAX, "long name read back");
	tap_is_int((long)mqsp_journal_records(j), 4, "records counted by the read");

	tap_is_int(mqsp_journal_reset(j), MQS_OK, "reset");
	tap_is_int(file_size(path), 0, "reset empties the file");
	tap_is_int((long)mqsp_journal_records(j), 0, "no records after reset");
	tap_is_int(mqsp_journal_append(j, "dev-3", 7), MQS_OK, "append after reset");
	tap_is_int(reopen_read(path, &j, &s, &bad), MQS_OK, "read after reset");
	tap_ok(s.n == 1 && strcmp(s.name[0], "dev-3") == 0 && s.step[0] == 7,
	       "only the record after the reset");
	mqsp_journal_free(j);
	mqsp_journal_free(NULL);
	unlink(path);
}

static void test_damage(const char *dir)
{
	char path[512], err[256];
	struct mqsp_journal *j = NULL;
	struct seen s;
	size_t bad = 0;
	static const char zeros[40];
	char big[600];

	snprintf(path, sizeof(path), "%s/damaged-steps", dir);
	if (mqsp_journal_open(path, &j, err, sizeof(err)) != MQS_OK) {
		tap_ok(0, "open: %s", err);
		return;
	}
	tap_is_int(mqsp_journal_append(j, "good-1", 100), MQS_OK, "damaged: first record written");
	/* check of "100 good-1" with one digit changed */
	append_raw(path, "101 good-1 00000000\n", 20);
	append_raw(path, zeros, sizeof(zeros));
	append_raw(path, "\n", 1);
	append_raw(path, "garbage\n", 8);
	append_raw(path, "12x good-2 00000000\n", 20);
	memset(big, '7', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	append_raw(path, big, sizeof(big));
	append_raw(path, "99999999999999999999 dev 00000000\n", 34); /* > INT64_MAX */
	mqsp_journal_free(j);
	j = NULL;
	if (mqsp_journal_open(path, &j, err, sizeof(err)) == MQS_OK) {
		/* the write a crash cut short: no newline */
		tap_is_int(mqsp_journal_append(j, "good-2", 200), MQS_OK,
		           "damaged: record after the damage written");
		mqsp_journal_free(j);
		j = NULL;
	}
	append_raw(path, "300 good", 8);
	tap_is_int(reopen_read(path, &j, &s, &bad), MQS_OK, "read a damaged journal");
	tap_is_int((long)s.n, 2, "the two good records");
	tap_ok(s.n == 2 && strcmp(s.name[0], "good-1") == 0 && s.step[0] == 100 &&
	           strcmp(s.name[1], "good-2") == 0 && s.step[1] == 200,
	       "good records survive damage around them");
	tap_is_int((long)bad, 7,
	           "damaged lines counted (bad check, zeroes, garbage, bad "
	           "digits, too long, overflow, torn tail)");
	/* the torn tail was cut off: the next record starts a line of its own */
	tap_is_int(mqsp_journal_append(j, "good-3", 300), MQS_OK, "append after a torn tail");
	tap_is_int(reopen_read(path, &j, &s, &bad), MQS_OK, "read again");
	tap_ok(s.n == 3 && strcmp(s.name[2], "good-3") == 0 && s.step[2] == 300,
	       "the record after the torn tail reads back");
	tap_is_int((long)bad, 6, "the torn tail is gone, the other damage stays");
	mqsp_journal_free(j);
	unlink(path);
}

static void test_refusals(const char *dir)
{
	char path[512], link_path[512], err[256];
	struct mqsp_journal *j = NULL;
	struct stat st;

	tap_is_int(mqsp_journal_open(dir, &j, err, sizeof(err)) != MQS_OK, 1,
	           "a directory is refused");
	tap_ok(j == NULL, "nothing returned on failure");
	tap_ok(strstr(err, "cannot open step journal") == err, "lowercase message: %s", err);

	snprintf(path, sizeof(path), "%s/target", dir);
	snprintf(link_path, sizeof(link_path), "%s/link-steps", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	tap_ok(symlink(path, link_path) == 0, "made a symbolic link");
	tap_is_int(mqsp_journal_open(link_path, &j, err, sizeof(err)), MQS_ERR_PERM,
	           "a symbolic link is refused");
	tap_ok(strstr(err, "symbolic link") != NULL, "says so: %s", err);
	unlink(link_path);

	tap_is_int(mqsp_journal_open("/dev/null", &j, err, sizeof(err)), MQS_ERR_PERM,
	           "a device file is refused");
	tap_ok(strstr(err, "not a regular file") != NULL, "says so: %s", err);

	snprintf(path, sizeof(path), "%s/nodir/x-steps", dir);
	tap_is_int(mqsp_journal_open(path, &j, err, sizeof(err)), MQS_ERR_IO,
	           "a missing folder gives an i/o error");

	/* one process per journal: a second open waits a second, then gives up */
	snprintf(path, sizeof(path), "%s/locked-steps", dir);
	tap_is_int(mqsp_journal_open(path, &j, err, sizeof(err)), MQS_OK, "open for the lock test");
	{
		struct mqsp_journal *j2 = NULL;

		tap_is_int(mqsp_journal_open(path, &j2, err, sizeof(err)), MQS_ERR_EXISTS,
		           "a journal open elsewhere is refused");
		tap_ok(strstr(err, "in use by another broker") != NULL, "says so: %s", err);
		mqsp_journal_free(j);
		j = NULL;
		tap_is_int(mqsp_journal_open(path, &j2, err, sizeof(err)), MQS_OK,
		           "free again once the first one closed it");
		mqsp_journal_free(j2);
	}

	snprintf(path, sizeof(path), "%s/open-steps", dir);
	close(open(path, O_WRONLY | O_CREAT, 0644));
	chmod(path, 0644);
	tap_is_int(mqsp_journal_open(path, &j, err, sizeof(err)), MQS_OK, "open 0644 file");
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "made 0600 on open");
	mqsp_journal_free(j);
}

/* A write the file size limit refuses: an error, and no partial line. */
static void test_write_failure(const char *dir)
{
	char path[512], err[256];
	struct mqsp_journal *j = NULL;
	struct rlimit old, lim;
	struct seen s;
	size_t bad = 0;
	int e = MQS_OK;
	int i;

	snprintf(path, sizeof(path), "%s/full-steps", dir);
	if (mqsp_journal_open(path, &j, err, sizeof(err)) != MQS_OK) {
		tap_ok(0, "open: %s", err);
		return;
	}
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 100; /* a few records, then a short write, then EFBIG */
	setrlimit(RLIMIT_FSIZE, &lim);
	for (i = 0; i < 20 && e == MQS_OK; i++)
		e = mqsp_journal_append(j, "device-with-a-long-name", 1000000 + i);
	setrlimit(RLIMIT_FSIZE, &old);
	tap_is_int(e, MQS_ERR_IO, "a write over the limit fails");
	tap_ok(i > 1 && i < 20, "after %d records", i - 1);
	tap_ok(file_size(path) > 0 && file_size(path) % 41 == 0,
	       "no partial line left (%ld bytes, 41 per record)", file_size(path));
	tap_is_int(mqsp_journal_append(j, "device-with-a-long-name", 2000000), MQS_OK,
	           "append works again once there is room");
	tap_is_int(reopen_read(path, &j, &s, &bad), MQS_OK, "read back");
	tap_is_int((long)bad, 0, "no damaged line");
	tap_is_int((long)s.n, (long)i, "every record that was written");
	mqsp_journal_free(j);
	unlink(path);
}

int main(void)
{
	char dir[] = "/tmp/mqsp-journal-XXXXXX";
	char cmd[600];

	if (mkdtemp(dir) == NULL) {
		tap_ok(0, "mkdtemp: %s", strerror(errno));
		tap_done();
		return tap_exit();
	}
	test_roundtrip(dir);
	test_damage(dir);
	test_refusals(dir);
	test_write_failure(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", dir);
	tap_done();
	return tap_exit();
}
