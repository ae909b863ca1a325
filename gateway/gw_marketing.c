/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_marketing.c - campaigns from approval to the last delivery
 * (gw_marketing.h).  STUB until the delivery part lands. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "gw_marketing.h"

struct gw_marketing {
	struct gw_gateway *gw;
};

/* The marketing state. */
struct gw_marketing *gw_marketing_new(struct gw_gateway *gw, char *err, size_t errlen)
{
	struct gw_marketing *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->gw = gw;
	return m;
}

/* Free. */
void gw_marketing_free(struct gw_marketing *m)
{
	free(m);
}

/* One tick. */
uint64_t gw_marketing_tick(struct gw_gateway *gw, struct gw_marketing *m, uint64_t now_ms)
{
	(void)gw;
	(void)m;
	return now_ms + 1000;
}

/* The report of a campaign. */
int gw_marketing_report(struct gw_store *s, const char *cid, struct gw_report *r)
{
	(void)s;
	(void)cid;
	memset(r, 0, sizeof(*r));
	return MQS_ERR_NOENT;
}
