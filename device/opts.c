/* SPDX-License-Identifier: BSD-3-Clause */
/* opts.c - the connection and payload options shared by publish,
 * subscribe, publish --split and join (device.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"

/* A whole number in 1..max; see device.h. */
long dev_opt_num(const char *what, const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > max) {
		dev_err("invalid %s %s", what, s);
		return -1;
	}
	return v;
}

/* Defaults of the shared options. */
void dev_net_opts_init(struct dev_net_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = 1883;
	o->seal = -1;
}

/* One shared option; see device.h. */
int dev_net_opt(struct dev_net_opts *o, int opt, const char *arg)
{
	long v = 0;

	switch (opt) {
	case 'h':
		o->host = arg;
		break;
	case 'p':
		v = dev_opt_num("port", arg, 65535);
		o->port = (int)v;
		break;
	case 't':
		o->topic = arg;
		break;
	case 'm':
		o->message = arg;
		break;
	case 'f':
		o->file = arg;
		break;
	case 'l':
		o->lines = 1;
		break;
	case 'q':
		if (strcmp(arg, "0") != 0 && strcmp(arg, "1") != 0 && strcmp(arg, "2") != 0) {
			dev_err("invalid qos %s: must be 0, 1 or 2", arg);
			return -1;
		}
		o->qos = arg[0] - '0';
		o->qos_given = 1;
		break;
	case 'i':
		o->client_id = arg;
		break;
	case 'C':
		v = dev_opt_num("count", arg, 1000000000L);
		o->count = v;
		break;
	case 'W':
		v = dev_opt_num("timeout", arg, 86400L * 365);
		o->timeout_s = (int)v;
		break;
	case DEV_OPT_SEAL:
		o->seal = 1;
		break;
	case DEV_OPT_NO_SEAL:
		o->seal = 0;
		break;
	default:
		return 0;
	}
	return v < 0 ? -1 : 1;
}
