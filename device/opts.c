/* SPDX-License-Identifier: BSD-3-Clause */
/* opts.c - the connection and payload options shared by publish,
 * subscribe, publish --split and join (device.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

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
	o->port = DEV_PORT_MQTT;
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
		o->port_given = 1;
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
	case DEV_OPT_CAFILE:
		o->cafile = arg;
		break;
	case DEV_OPT_CAPATH:
		o->capath = arg;
		break;
	case DEV_OPT_CERT:
		o->cert = arg;
		break;
	case DEV_OPT_KEY:
		o->key = arg;
		break;
	case DEV_OPT_TLS_VERSION:
		if (strcmp(arg, "tlsv1.2") != 0 && strcmp(arg, "tlsv1.3") != 0) {
			dev_err("invalid tls version %s: must be tlsv1.2 or tlsv1.3", arg);
			return -1;
		}
		o->tls_version = arg;
		break;
	case DEV_OPT_INSECURE:
		o->insecure = 1;
		break;
	default:
		return 0;
	}
	return v < 0 ? -1 : 1;
}

/* Whether path can be read (mode: R_OK for a file, R_OK | X_OK for a
 * folder); else print "cannot read OPTION PATH: reason". */
static int tls_path_ok(const char *option, const char *path, int mode)
{
	if (path == NULL || access(path, mode) == 0)
		return 1;
	dev_err("cannot read %s %s: %s", option, path, strerror(errno));
	return 0;
}

/* Check the combination and finish the defaults; see device.h. */
int dev_net_opts_check(struct dev_net_opts *o)
{
	int tls = o->cafile != NULL || o->capath != NULL;
	int ex = EX_USAGE;

	if ((o->cert == NULL) != (o->key == NULL)) {
		dev_err("invalid client certificate: give both --cert and --key, or neither");
		goto out;
	}
	if (!tls && (o->cert != NULL || o->tls_version != NULL || o->insecure)) {
		dev_err("invalid tls options: %s needs --cafile or --capath",
		        o->cert != NULL          ? "--cert"
		        : o->tls_version != NULL ? "--tls-version"
		                                 : "--insecure");
		goto out;
	}
	ex = EX_NOINPUT;
	if (!tls_path_ok("--cafile", o->cafile, R_OK) ||
	    !tls_path_ok("--capath", o->capath, R_OK | X_OK) ||
	    !tls_path_ok("--cert", o->cert, R_OK) || !tls_path_ok("--key", o->key, R_OK))
		goto out;
	if (tls && !o->port_given)
		o->port = DEV_PORT_MQTTS;
	if (o->insecure)
		fprintf(stderr,
		        DEV_PROG ": warning: --insecure: the broker's certificate is not "
		                 "checked against host name %s\n",
		        o->host);
	ex = EX_OK;
out:
	return ex;
}
