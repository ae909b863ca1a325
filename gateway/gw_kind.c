/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_kind.c - the message-kind registry (gw_kind.h). */
#include "config.h"

#include <string.h>

#include "gw_kind.h"

static const char *const sensor_keys[] = {"field", "rule", "hysteresis", NULL};
/* docs/marketing.md, "Review" */
static const char *const marketing_keys[] = {"review_levels", "review_timeout", NULL};
/* docs/medical.md, "Sending" and "Receiving" */
static const char *const medical_keys[] = {"channels",   "threshold",        "record_key",
                                           "max_queued", "max_queued_bytes", NULL};
static const char *const medical_join_keys[] = {"channels",   "threshold",         "record_key",
                                                "deliver",    "join_timeout",      "max_pending",
                                                "max_record", "max_pending_bytes", NULL};
static const char *const no_keys[] = {NULL};

/* Indexed by enum gw_kind. */
static const struct gw_kind_info kinds[GW_KIND__COUNT] = {
    {"alert", GW_KIND_ALERT, no_keys, 1},
    {"sensor", GW_KIND_SENSOR, sensor_keys, 1},
    {"marketing", GW_KIND_MARKETING, marketing_keys, 1},
    {"medical", GW_KIND_MEDICAL, medical_keys, 1},
    {"medical-join", GW_KIND_MEDICAL_JOIN, medical_join_keys, 1},
};

/* Look a kind up by name. */
const struct gw_kind_info *gw_kind_find(const char *name)
{
	for (size_t i = 0; name != NULL && i < GW_KIND__COUNT; i++) {
		if (strcmp(kinds[i].name, name) == 0)
			return &kinds[i];
	}
	return NULL;
}
