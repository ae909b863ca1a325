/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-sensor.c - sensor routes: the state machine (hold time,
 * hysteresis, one alert per excursion, recovery), readings.  The rule
 * language itself is test-gw-rule.c. */
#include "config.h"

#include <string.h>

#include "gw_sensor.h"
#include "gw_util.h"
#include "tap.h"

/* A set-up step whose failure the assertions that follow would show: only
 * reported. */
#define SETUP(call)                                                                                \
	do {                                                                                       \
		if ((call) != 0)                                                                   \
			tap_diag("set-up failed: %s", #call);                                      \
	} while (0)

struct run {
	int fires, recovers;
};

static void feed(const struct gw_rule *r, double h, struct gw_sstate *st, double v, uint64_t t,
                 struct run *run)
{
	int changed;
	int ev = gw_sensor_step(r, h, st, 1, v, t, &changed);

	if (ev == GW_SE_FIRE)
		run->fires++;
	if (ev == GW_SE_RECOVER)
		run->recovers++;
}

static void test_machine(void)
{
	struct gw_rule r;
	struct gw_sstate st;
	struct run run = {0, 0};
	char err[128];
	int changed;

	SETUP(gw_rule_parse("value > 40 for 60s => alert group=ops", &r, err, sizeof(err)));
	memset(&st, 0, sizeof(st));
	feed(&r, 2, &st, 41, 0, &run);
	tap_ok(st.state == GW_SS_PENDING && run.fires == 0, "above threshold: pending");
	feed(&r, 2, &st, 42, 30000, &run);
	tap_ok(run.fires == 0, "not before the hold time");
	tap_ok(gw_sensor_step(&r, 2, &st, 0, 0, 59999, &changed) == GW_SE_NONE,
	       "tick before the hold time: nothing");
	tap_ok(gw_sensor_step(&r, 2, &st, 0, 0, 60000, &changed) == GW_SE_FIRE && changed &&
	           st.seq == 1,
	       "tick at the hold time fires");
	run.fires++;
	feed(&r, 2, &st, 45, 61000, &run);
	feed(&r, 2, &st, 39, 62000, &run);
	feed(&r, 2, &st, 41, 63000, &run);
	feed(&r, 2, &st, 38.5, 64000, &run);
	tap_ok(run.fires == 1 && run.recovers == 0, "within hysteresis: no repeat, no recovery");
	feed(&r, 2, &st, 38, 65000, &run);
	tap_ok(run.recovers == 1 && st.state == GW_SS_NORMAL, "back at threshold - hysteresis: "
	                                                      "recovery");
	feed(&r, 2, &st, 41, 70000, &run);
	feed(&r, 2, &st, 40, 80000, &run);
	feed(&r, 2, &st, 41, 90000, &run);
	feed(&r, 2, &st, 41, 140000, &run);
	tap_ok(run.fires == 1 && st.state == GW_SS_PENDING,
	       "a dip below the threshold restarts the hold time");
	feed(&r, 2, &st, 41, 150000, &run);
	tap_ok(run.fires == 2 && st.seq == 2, "second excursion, second alert");
	gw_rule_release(&r);

	SETUP(gw_rule_parse("value < 10 => alert group=ops", &r, err, sizeof(err)));
	memset(&st, 0, sizeof(st));
	memset(&run, 0, sizeof(run));
	feed(&r, 0, &st, 9, 0, &run);
	tap_ok(run.fires == 1, "no hold time: fires at once");
	feed(&r, 0, &st, 9.9, 1, &run);
	feed(&r, 0, &st, 10, 2, &run);
	tap_ok(run.recovers == 1, "hysteresis 0: recovery as soon as the condition ends");
	gw_rule_release(&r);

	SETUP(gw_rule_parse("value >= 10 => alert group=ops", &r, err, sizeof(err)));
	memset(&st, 0, sizeof(st));
	memset(&run, 0, sizeof(run));
	feed(&r, 1, &st, 10, 0, &run);
	feed(&r, 1, &st, 9.5, 1, &run);
	tap_ok(run.fires == 1 && run.recovers == 0, ">= with hysteresis 1: 9.5 still active");
	feed(&r, 1, &st, 8.9, 2, &run);
	tap_ok(run.recovers == 1, ">= with hysteresis 1: 8.9 recovers");
	gw_rule_release(&r);
}

static void test_readings(void)
{
	double v = 0;
	char err[128];

	tap_ok(gw_sensor_reading(NULL, (const uint8_t *)" 41.5\n", 6, &v, err, sizeof(err)) == 0 &&
	           v == 41.5,
	       "numeric payload");
	tap_ok(gw_sensor_reading(NULL, (const uint8_t *)"41.5C", 5, &v, err, sizeof(err)) != 0,
	       "trailing garbage refused");
	tap_ok(gw_sensor_reading(NULL, (const uint8_t *)"nan", 3, &v, err, sizeof(err)) != 0,
	       "nan refused");
	tap_ok(gw_sensor_reading("temperature", (const uint8_t *)"{\"temperature\": 22}", 19, &v,
	                         err, sizeof(err)) == 0 &&
	           v == 22,
	       "json field");
	tap_ok(gw_sensor_reading("a.b", (const uint8_t *)"{\"a\": {\"b\": \"7.25\"}}", 20, &v, err,
	                         sizeof(err)) == 0 &&
	           v == 7.25,
	       "nested field holding a numeric string");
	tap_ok(gw_sensor_reading("a.c", (const uint8_t *)"{\"a\": {\"b\": 1}}", 15, &v, err,
	                         sizeof(err)) != 0,
	       "missing field refused");
	tap_ok(gw_sensor_reading("a", (const uint8_t *)"{\"a\": true}", 11, &v, err, sizeof(err)) !=
	           0,
	       "boolean refused");
}

int main(void)
{
	test_machine();
	test_readings();
	return tap_exit();
}
