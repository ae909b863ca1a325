/* SPDX-License-Identifier: BSD-3-Clause */
/* tap.h - a tiny header-only TAP (Test Anything Protocol) producer for the
 * C unit tests.
 *
 *   tap_plan(n);                        optional: announce n tests up front
 *   tap_ok(cond, fmt, ...);             one test; returns cond != 0
 *   tap_is_int(got, want, fmt, ...);    integer equality, diag on mismatch
 *   tap_is_mem(got, want, len, fmt, ...);  byte equality, diag on mismatch
 *   tap_diag(fmt, ...);                 "# ..." comment on stdout
 *   tap_skip(n, why);                   n skipped tests
 *   tap_done();                         print the plan at the end (no tap_plan)
 *   return tap_exit();                  0 when every test passed and the plan
 *                                       (if any) was met, else 1
 *
 * Ownership: nothing allocates.  State is one static struct per translation
 * unit (each test program is one file), so nothing leaks across files.
 * Output goes to stdout, flushed after every line, so a crash still leaves
 * the lines printed so far for the automake TAP driver.
 */
#ifndef MQS_TAP_H
#define MQS_TAP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static struct {
	unsigned run;     /* tests run (including skipped) */
	unsigned failed;  /* tests that failed */
	unsigned planned; /* from tap_plan, 0 when none */
	int plan_printed;
} tap_state;

#if defined(__GNUC__)
#define TAP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define TAP_UNUSED       __attribute__((unused))
#else
#define TAP_PRINTF(a, b)
#define TAP_UNUSED
#endif

/* Announce n tests.  Call at most once, before the first test. */
static inline TAP_UNUSED void tap_plan(unsigned n)
{
	tap_state.planned = n;
	tap_state.plan_printed = 1;
	printf("1..%u\n", n);
	fflush(stdout);
}

/* Print the message lines of a diagnostic, each prefixed with "# ". */
static inline TAP_UNUSED TAP_PRINTF(1, 0) void tap_vdiag(const char *fmt, va_list ap)
{
	char buf[4096];
	const char *p = buf;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);

		printf("# %.*s\n", (int)n, p);
		p += n;
		if (*p == '\n')
			p++;
	}
	fflush(stdout);
}

/* Print a diagnostic comment ("# ...") on stdout. */
static inline TAP_UNUSED TAP_PRINTF(1, 2) void tap_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vdiag(fmt, ap);
	va_end(ap);
}

/* Record one test result with a description in fmt/ap; return ok. */
static inline TAP_UNUSED TAP_PRINTF(2, 0) int tap_vok(int ok, const char *fmt, va_list ap)
{
	char desc[1024];
	char *p;

	vsnprintf(desc, sizeof(desc), fmt, ap);
	/* '#' would start a directive and newlines would break the line. */
	for (p = desc; *p != '\0'; p++) {
		if (*p == '#' || *p == '\n' || *p == '\r')
			*p = ' ';
	}
	tap_state.run++;
	if (!ok)
		tap_state.failed++;
	printf("%s %u - %s\n", ok ? "ok" : "not ok", tap_state.run, desc);
	fflush(stdout);
	return ok;
}

/* One test: passes when cond is non-zero.  Returns cond != 0. */
static inline TAP_UNUSED TAP_PRINTF(2, 3) int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;
	int ok;

	va_start(ap, fmt);
	ok = tap_vok(cond != 0, fmt, ap);
	va_end(ap);
	return ok;
}

/* One test: passes when got == want; prints both on failure. */
static inline TAP_UNUSED TAP_PRINTF(3, 4) int tap_is_int(long long got, long long want,
                                                         const char *fmt, ...)
{
	va_list ap;
	int ok;

	va_start(ap, fmt);
	ok = tap_vok(got == want, fmt, ap);
	va_end(ap);
	if (!ok)
		tap_diag("     got: %lld\n    want: %lld", got, want);
	return ok;
}

/* One test: passes when the len bytes at got and want are equal (NULL is
 * only equal to NULL, or to anything when len is 0); on failure prints the
 * first differing offset and the bytes there. */
static inline TAP_UNUSED TAP_PRINTF(4, 5) int tap_is_mem(const void *got, const void *want,
                                                         size_t len, const char *fmt, ...)
{
	const unsigned char *g = got;
	const unsigned char *w = want;
	size_t i = 0;
	va_list ap;
	int ok;

	if (len == 0)
		ok = 1;
	else if (g == NULL || w == NULL)
		ok = g == w;
	else {
		while (i < len && g[i] == w[i])
			i++;
		ok = i == len;
	}
	va_start(ap, fmt);
	ok = tap_vok(ok, fmt, ap);
	va_end(ap);
	if (!ok && (g == NULL || w == NULL))
		tap_diag("    got %s, want %s", g == NULL ? "NULL" : "a buffer",
		         w == NULL ? "NULL" : "a buffer");
	else if (!ok)
		tap_diag("    first difference at offset %zu of %zu: got 0x%02x, want 0x%02x", i,
		         len, g[i], w[i]);
	return ok;
}

/* Record n skipped tests with the reason why. */
static inline TAP_UNUSED void tap_skip(unsigned n, const char *why)
{
	while (n-- > 0) {
		tap_state.run++;
		printf("ok %u # SKIP %s\n", tap_state.run, why != NULL ? why : "");
	}
	fflush(stdout);
}

/* Print the plan after the last test (use instead of tap_plan). */
static inline TAP_UNUSED void tap_done(void)
{
	if (!tap_state.plan_printed) {
		tap_state.plan_printed = 1;
		tap_state.planned = tap_state.run;
		printf("1..%u\n", tap_state.run);
		fflush(stdout);
	}
}

/* Exit status for main(): prints the plan if nobody did, then returns 0
 * when every test passed and the plan was met, else 1. */
static inline TAP_UNUSED int tap_exit(void)
{
	tap_done();
	if (tap_state.run != tap_state.planned) {
		tap_diag("planned %u tests but ran %u", tap_state.planned, tap_state.run);
		return 1;
	}
	if (tap_state.failed > 0) {
		tap_diag("failed %u of %u tests", tap_state.failed, tap_state.run);
		return 1;
	}
	return 0;
}

#endif
