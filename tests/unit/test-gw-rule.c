/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-rule.c - the sensor rule language (gw_rule.h), linked alone:
 * gw_rule.c with the pure helpers it uses, no gateway, store or network. */
#include "config.h"

#include <string.h>

#include "gw_rule.h"
#include "gw_util.h"
#include "tap.h"

/* Rules that parse, with their fields, and rules refused with a reason. */
static void test_parse(void)
{
	struct gw_rule r;
	char err[256];

	tap_ok(gw_rule_parse("value > 40 for 60s => alert group=ops severity=critical "
	                     "title=\"Server room hot\"",
	                     &r, err, sizeof(err)) == 0,
	       "the example rule parses");
	tap_ok(r.op == GW_OP_GT && r.threshold == 40 && r.hold_ms == 60000 &&
	           r.severity == GW_SEV_CRITICAL && strcmp(r.group, "ops") == 0 &&
	           strcmp(r.title, "Server room hot") == 0,
	       "fields of the example rule");
	gw_rule_release(&r);
	tap_ok(gw_rule_parse("value <= -5.5 => alert channels=sms,email hysteresis=1.5 "
	                     "body=\"say \\\"cold\\\"\"",
	                     &r, err, sizeof(err)) == 0 &&
	           r.op == GW_OP_LE && r.threshold == -5.5 && r.hold_ms == 0 &&
	           r.severity == GW_SEV_WARNING && r.group == NULL && r.has_hysteresis &&
	           r.hysteresis == 1.5 &&
	           r.chan_mask == (GW_CH_BIT(GW_CH_SMS) | GW_CH_BIT(GW_CH_EMAIL)) &&
	           strcmp(r.body, "say \"cold\"") == 0,
	       "no hold, channels, hysteresis, escaped quotes");
	gw_rule_release(&r);
	tap_ok(gw_rule_parse("temp > 4 => alert", &r, err, sizeof(err)) != 0,
	       "must start with value");
	tap_ok(gw_rule_parse("value >> 4 => alert", &r, err, sizeof(err)) != 0, "bad operator");
	tap_ok(gw_rule_parse("value > 4 for ever => alert", &r, err, sizeof(err)) != 0,
	       "bad duration: %s", err);
	tap_ok(gw_rule_parse("value > 4 alert", &r, err, sizeof(err)) != 0, "missing =>");
	tap_ok(gw_rule_parse("value > 4 => page", &r, err, sizeof(err)) != 0,
	       "action must be alert");
	tap_ok(gw_rule_parse("value > 4 => alert colour=red", &r, err, sizeof(err)) != 0 &&
	           strstr(err, "colour") != NULL,
	       "unknown attribute named: %s", err);
	tap_ok(gw_rule_parse("value > 4 => alert title=\"open", &r, err, sizeof(err)) != 0,
	       "unterminated quote");
	tap_ok(gw_rule_parse("value > 4 => alert severity=loud", &r, err, sizeof(err)) != 0,
	       "bad severity");
	/* found by fuzz-rule: titles and bodies that are not UTF-8 reached
	 * the channels */
	tap_ok(gw_rule_parse("value > 4 => alert title=\"room \xbf cold\"", &r, err, sizeof(err)) !=
	               0 &&
	           strcmp(err, "title must be UTF-8") == 0 && r.title == NULL,
	       "a title that is not UTF-8 is refused: %s", err);
	tap_ok(gw_rule_parse("value > 4 => alert body=\xc3(", &r, err, sizeof(err)) != 0 &&
	           strcmp(err, "body must be UTF-8") == 0 && r.body == NULL,
	       "a body that is not UTF-8 is refused: %s", err);
	tap_ok(gw_rule_parse("value > 4 => alert title=\"Salle \xc3\xa0 30 \xc2\xb0"
	                     "C\"",
	                     &r, err, sizeof(err)) == 0,
	       "a UTF-8 title parses");
	gw_rule_release(&r);
}

int main(void)
{
	test_parse();
	return tap_exit();
}
