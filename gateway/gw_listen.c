/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_listen.c - the HTTP listener (gw_listen.h).  STUB until it lands. */
#include "config.h"

#include <stdio.h>

#include "gateway.h"
#include "gw_listen.h"

/* Start listening. */
struct gw_listen *gw_listen_new(struct gw_gateway *gw, char *err, size_t errlen)
{
	err[0] = '\0';
	if (gw->conf->http.enabled)
		snprintf(err, errlen, "[http] is not supported by this build yet");
	return NULL;
}

/* Stop and free. */
void gw_listen_free(struct gw_listen *l)
{
	(void)l;
}

/* The descriptor to poll. */
int gw_listen_fd(struct gw_listen *l)
{
	(void)l;
	return -1;
}

/* The port bound. */
int gw_listen_port(const struct gw_listen *l)
{
	(void)l;
	return 0;
}

/* Next run without I/O. */
uint64_t gw_listen_next_ms(struct gw_listen *l, uint64_t now_ms)
{
	(void)l;
	return now_ms + 1000;
}

/* Serve what is ready. */
void gw_listen_run(struct gw_listen *l)
{
	(void)l;
}
