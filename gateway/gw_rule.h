/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_rule.h - the sensor rule language of [route NAME] kind = sensor
 * (docs/gateway.md, Sensor routes):
 *
 *   rule = value > 40 for 60s => alert group=ops severity=critical title="Server room hot"
 *
 * Operators: > >= < <=.  "for D" (optional) is how long the condition must
 * hold before the alert fires.  Attributes after "=> alert": group,
 * severity (info|warning|critical, default warning), title, body,
 * channels (email,sms,...), hysteresis.  Titles and bodies may use {value},
 * {topic}, {threshold} and {route} (expanded by gw_sensor.c).
 *
 * A pure module: text in, struct gw_rule out; it never sees the gateway,
 * the store or the network (the state machine is gw_sensor.h).
 *
 * Ownership: struct gw_rule is caller-owned; its strings are malloc'd by
 * gw_rule_parse() and freed by gw_rule_release().  On a parse failure the
 * rule is left released (nothing to free).
 */
#ifndef GW_RULE_H
#define GW_RULE_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"

/* Longest rule title, in bytes: GW_TITLE_MAX of gw_alert.h. */
#define GW_RULE_TITLE_MAX 200

enum gw_rule_op { GW_OP_GT = 0, GW_OP_GE, GW_OP_LT, GW_OP_LE };

struct gw_rule {
	int op; /* enum gw_rule_op */
	double threshold;
	uint64_t hold_ms;
	int has_hysteresis;
	double hysteresis;
	char *group;  /* NULL: the route's group */
	int severity; /* enum gw_severity */
	char *title;  /* NULL: a generated one */
	char *body;   /* NULL: a generated one */
	unsigned chan_mask;
	int has_channels;
};

/* Parse rule text into r (zeroed first).  Returns MQS_OK, or MQS_ERR_PARSE
 * with a lowercase reason in err and r released. */
MQS_MUST_CHECK int gw_rule_parse(const char *text, struct gw_rule *r, char *err, size_t errlen);

/* Free r's strings; r is left zeroed.  NULL is fine. */
void gw_rule_release(struct gw_rule *r);

/* "value > 40 for 60s" style text of the condition. */
void gw_rule_describe(const struct gw_rule *r, char *out, size_t cap);

/* 1 when reading v meets r's condition with the threshold moved by shift
 * towards "not met" (shift 0: the condition itself; shift = hysteresis: the
 * condition for staying in alert), else 0. */
int gw_rule_holds(const struct gw_rule *r, double v, double shift);

#endif
