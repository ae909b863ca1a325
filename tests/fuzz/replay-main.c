/* SPDX-License-Identifier: BSD-3-Clause */
/* replay-main.c - a main() for a libFuzzer target in a build without
 * libFuzzer (tests/fuzz/README.md, "Replaying the seeds in every build"):
 * calls LLVMFuzzerTestOneInput once on every file named, and on every file
 * of every folder named (in name order, dot files skipped), each in a
 * buffer of exactly its size so that an over-read is the sanitizers' to
 * see.  A target reports a failed check by aborting; the driver prints one
 * line per input and exits 0 when every input ran, EX_NOINPUT when a file
 * cannot be read and EX_USAGE without arguments.
 *
 * Ownership: nothing is shared; every input is freed after its run. */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

/* The target's entry point (tests/fuzz/fuzz-*.c). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libFuzzer's optional initialiser: weak, so targets without one link. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define REPLAY_MAX_INPUT (1024 * 1024)

/* Run the target on one file; 0 on success, -1 when it cannot be read. */
static int replay_file(const char *path)
{
	FILE *f = NULL;
	uint8_t *data = NULL;
	long len;
	int rc = -1;

	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "cannot open input %s\n", path);
		goto out;
	}
	if (fseek(f, 0, SEEK_END) != 0)
		goto out;
	len = ftell(f);
	if (len < 0 || len > REPLAY_MAX_INPUT || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "cannot read input %s: too large or not a file\n", path);
		goto out;
	}
	/* malloc(0) may return NULL: keep one byte, pass the true length */
	data = malloc((size_t)len > 0 ? (size_t)len : 1);
	if (data == NULL)
		goto out;
	if (len > 0 && fread(data, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "cannot read input %s\n", path);
		goto out;
	}
	fclose(f);
	f = NULL;
	printf("replay %s (%ld bytes)\n", path, len);
	fflush(stdout);
	(void)LLVMFuzzerTestOneInput(data, (size_t)len);
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	free(data);
	return rc;
}

/* Order the names of a folder. */
static int replay_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run the target on every file of a folder (not recursive); the number of
 * inputs run, or -1. */
static long replay_dir(const char *path)
{
	DIR *d = NULL;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	long runs = -1;
	char file[4096];

	d = opendir(path);
	if (d == NULL) {
		fprintf(stderr, "cannot open folder %s\n", path);
		goto out;
	}
	for (;;) {
		e = readdir(d);
		if (e == NULL)
			break;
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			size_t ncap = cap > 0 ? cap * 2 : 64;
			char **nn;

			if (ncap > 100000)
				goto out;
			nn = realloc(names, ncap * sizeof(*nn));
			if (nn == NULL)
				goto out;
			names = nn;
			cap = ncap;
		}
		names[n] = strdup(e->d_name);
		if (names[n] == NULL)
			goto out;
		n++;
	}
	qsort(names, n, sizeof(*names), replay_cmp);
	runs = 0;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		int w = snprintf(file, sizeof(file), "%s/%s", path, names[i]);

		if (w < 0 || (size_t)w >= sizeof(file) || stat(file, &st) != 0) {
			runs = -1;
			goto out;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (replay_file(file) != 0) {
			runs = -1;
			goto out;
		}
		runs++;
	}
out:
	if (d != NULL)
		closedir(d);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return runs;
}

/* Replay every file and folder named on the command line. */
int main(int argc, char **argv)
{
	long total = 0;
	int rc = EX_NOINPUT;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE-OR-FOLDER...\n", argv[0]);
		rc = EX_USAGE;
		goto out;
	}
	if (LLVMFuzzerInitialize != NULL)
		(void)LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "cannot open input %s\n", argv[i]);
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			long r = replay_dir(argv[i]);

			if (r < 0)
				goto out;
			total += r;
		} else {
			if (replay_file(argv[i]) != 0)
				goto out;
			total++;
		}
	}
	printf("replayed %ld inputs\n", total);
	rc = total > 0 ? 0 : EX_NOINPUT;
out:
	return rc;
}
