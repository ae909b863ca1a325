/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_log.c - timestamped log lines on stderr. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

#include "gw_log.h"

static int log_level = GW_LOG_INFO;

/* Set the most verbose level still printed. */
void gw_log_set_level(int level)
{
	log_level = level;
}

/* Print one line on stderr with a UTC timestamp and the level name. */
void gw_log(int level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	char line[1024];
	struct timeval tv;
	struct tm tm;
	va_list ap;

	if (level > log_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: %s\n", tm.tm_year + 1900,
	        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	        (long)(tv.tv_usec / 1000),
	        names[level < 0   ? 0
	              : level > 3 ? 3
	                          : level],
	        line);
	fflush(stderr);
}
