/* SPDX-License-Identifier: BSD-3-Clause */
/* alloc-faults.h - the allocation-failure injection shared by the fault
 * tests (HACKING.md, "Fault injection"; tests/fuzz/README.md,
 * "Allocation-failure injection"): hooks_install() points the library
 * (lib/mqs_alloc.h), OpenSSL (CRYPTO_set_mem_functions), cJSON
 * (cJSON_InitHooks) and SQLite (SQLITE_CONFIG_MALLOC) at one counter;
 * drive(name, op) runs op once counting its N allocations, then N more
 * times refusing allocation k in run k, and prints three TAP lines: the
 * counted run succeeds, every refusal gives an error code or the right
 * result, and no refusal leaves a block behind.
 *
 * Ownership: header-only, one copy per test program.  Every block the
 * hooks hand out is malloc()'d and counted in `live` until the hooks free
 * it; an operation must give back all it allocated.  Install the hooks
 * before anything is allocated through them and never uninstall them.
 */
#ifndef MQS_ALLOC_FAULTS_H
#define MQS_ALLOC_FAULTS_H

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <sqlite3.h>

#include "mqs_alloc.h"
#include "tap.h"

static int armed;    /* count (and maybe refuse) allocations */
static long seen;    /* allocations asked for while armed */
static long fail_at; /* refuse allocation number fail_at (0: none) */
static long live;    /* blocks given out through the hooks, not yet freed */

/* 1 when this allocation is to be refused. */
static int fault_now(void)
{
	if (!armed)
		return 0;
	seen++;
	return seen == fail_at;
}

static void *f_malloc(size_t len)
{
	void *p;

	if (fault_now())
		return NULL;
	p = malloc(len > 0 ? len : 1);
	if (p != NULL)
		live++;
	return p;
}

static void f_free(void *p)
{
	if (p == NULL)
		return;
	live--;
	free(p);
}

static void *f_realloc(void *p, size_t len)
{
	void *n;

	if (p == NULL)
		return f_malloc(len);
	if (len == 0) {
		f_free(p);
		return NULL;
	}
	if (fault_now())
		return NULL;
	n = realloc(p, len);
	return n;
}

static void *o_malloc(size_t len, const char *file, int line)
{
	return f_malloc(len);
}

static void *o_realloc(void *p, size_t len, const char *file, int line)
{
	return f_realloc(p, len);
}

static void o_free(void *p, const char *file, int line)
{
	f_free(p);
}

static void *s_malloc(int len)
{
	return len < 0 ? NULL : f_malloc((size_t)len);
}

static void *s_realloc(void *p, int len)
{
	return len < 0 ? NULL : f_realloc(p, (size_t)len);
}

static int s_size(void *p)
{
	return (int)malloc_usable_size(p);
}

static int s_roundup(int n)
{
	return (n + 7) & ~7;
}

static int s_init(void *app)
{
	return SQLITE_OK;
}

static void s_shutdown(void *app)
{
}

/* Route every allocator the library uses through the hooks above. */
static void hooks_install(void)
{
	static const sqlite3_mem_methods sm = {s_malloc,  f_free, s_realloc,  s_size,
	                                       s_roundup, s_init, s_shutdown, NULL};
	cJSON_Hooks ch = {f_malloc, f_free};

	if (CRYPTO_set_mem_functions(o_malloc, o_realloc, o_free) != 1) {
		fprintf(stderr, "cannot set the openssl allocator\n");
		exit(99);
	}
	if (sqlite3_config(SQLITE_CONFIG_MALLOC, &sm) != SQLITE_OK) {
		fprintf(stderr, "cannot set the sqlite allocator\n");
		exit(99);
	}
	cJSON_InitHooks(&ch);
	mqs_alloc_set(f_malloc, f_realloc, f_free);
}

/* An operation: 0 when it succeeded with the right result, 1 when it
 * failed with an error code, -1 when it succeeded with a wrong result. */
typedef int op_fn(void);

/* Run op once counting, then once per allocation refusing it; report. */
static void drive(const char *name, op_fn *op)
{
	long n, bad = 0, errors = 0, tolerated = 0, leaks = 0, base;
	int rc;

	/* warm up: OpenSSL's and SQLite's lazy set-up is not the operation's */
	(void)op();
	ERR_clear_error();
	base = live;
	armed = 1;
	seen = 0;
	fail_at = 0;
	rc = op();
	armed = 0;
	ERR_clear_error();
	n = seen;
	tap_ok(rc == 0 && n > 0 && live == base,
	       "%s: succeeds with %ld allocations and gives them all back (%ld left)", name, n,
	       live - base);
	for (long k = 1; k <= n; k++) {
		base = live;
		armed = 1;
		seen = 0;
		fail_at = k;
		rc = op();
		armed = 0;
		ERR_clear_error();
		if (rc < 0) {
			bad++;
			tap_diag("%s: allocation %ld refused: success with a wrong result", name,
			         k);
		} else if (rc > 0) {
			errors++;
		} else {
			tolerated++;
		}
		if (live != base) {
			leaks++;
			tap_diag("%s: allocation %ld refused: %ld blocks not given back", name, k,
			         live - base);
		}
	}
	tap_ok(bad == 0,
	       "%s: each of the %ld refusals gives an error or the right result "
	       "(%ld errors, %ld absorbed)",
	       name, n, errors, tolerated);
	tap_ok(leaks == 0, "%s: no refusal leaves a block behind (%ld did)", name, leaks);
}

#endif
