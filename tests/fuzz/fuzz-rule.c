/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-rule.c - libFuzzer target for the sensor rule language (gw_rule.h;
 * docs/gateway.md, Sensor routes) and the sensor state machine
 * (gw_sensor_step).
 *
 * Input: the first line is a rule; the bytes after it are steps of three
 * bytes (flags, then a signed 16-bit reading in quarters).  gw_rule_parse()
 * never crashes, leaves the rule released and gives a reason on failure;
 * what parses has a known operator and severity, a finite threshold, a
 * finite hysteresis >= 0, a title of at most 200 characters of valid UTF-8
 * and known channels, and describes itself within the buffer.  The steps
 * drive gw_sensor_step() from NORMAL: alerts fire and recover in turn,
 * a reading fires only when the condition holds, recovers only when it no
 * longer holds with the hysteresis, and seq counts the alerts fired. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_rule.h"
#include "gw_sensor.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "mqs_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Characters (code points) of valid UTF-8 s. */
static size_t chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((uint8_t)*s & 0xc0) != 0x80;
	return n;
}

/* Check what parsed. */
static void check_rule(const struct gw_rule *r)
{
	char desc[64];

	if (r->op < GW_OP_GT || r->op > GW_OP_LE || !isfinite(r->threshold))
		abort();
	if (r->severity < GW_SEV_INFO || r->severity > GW_SEV_CRITICAL)
		abort();
	if (r->has_hysteresis && (!isfinite(r->hysteresis) || r->hysteresis < 0))
		abort();
	if (r->title != NULL && (!mqs_utf8_valid((const uint8_t *)r->title, strlen(r->title), 0) ||
	                         chars(r->title) > GW_RULE_TITLE_MAX))
		abort();
	if (r->body != NULL && !mqs_utf8_valid((const uint8_t *)r->body, strlen(r->body), 0))
		abort();
	for (int ch = 0; ch < 32; ch++) {
		if ((r->chan_mask >> ch & 1) != 0 && strcmp(gw_chan_name(ch), "?") == 0)
			abort();
	}
	memset(desc, 'x', sizeof(desc));
	gw_rule_describe(r, desc, sizeof(desc));
	if (memchr(desc, '\0', sizeof(desc)) == NULL)
		abort();
}

/* Drive the state machine with the steps. */
static void run_steps(const struct gw_rule *r, const uint8_t *p, size_t n)
{
	struct gw_sstate st;
	double hyst = r->has_hysteresis ? r->hysteresis : 0.5;
	uint64_t now = 1000;
	uint32_t fired = 0;
	int active = 0;

	memset(&st, 0, sizeof(st));
	for (size_t i = 0; i + 3 <= n; i += 3) {
		int have = p[i] & 1, changed = -1, ev;
		double v = (double)(int16_t)(p[i + 1] << 8 | p[i + 2]) / 4;

		now += (uint64_t)(p[i] >> 1) * 1000;
		ev = gw_sensor_step(r, hyst, &st, have, v, now, &changed);
		if (changed != 0 && changed != 1)
			abort();
		if (ev == GW_SE_FIRE) {
			if (active || !changed || (have && !gw_rule_holds(r, v, 0)))
				abort();
			active = 1;
			fired++;
		} else if (ev == GW_SE_RECOVER) {
			if (!active || !have || gw_rule_holds(r, v, hyst))
				abort();
			active = 0;
		} else if (ev != GW_SE_NONE) {
			abort();
		}
		if (st.seq != fired)
			abort();
	}
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_rule r;
	char err[256];
	char *text;
	const uint8_t *nl;
	size_t tlen;

	if (size > 8192)
		return 0;
	nl = memchr(data, '\n', size);
	tlen = nl != NULL ? (size_t)(nl - data) : size;
	if (memchr(data, '\0', tlen) != NULL)
		return 0;
	text = malloc(tlen + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, tlen);
	text[tlen] = '\0';
	memset(&r, 0xa5, sizeof(r));
	err[0] = '\0';
	if (gw_rule_parse(text, &r, err, sizeof(err)) != MQS_OK) {
		if (r.group != NULL || r.title != NULL || r.body != NULL || err[0] == '\0')
			abort();
		goto out;
	}
	check_rule(&r);
	if (nl != NULL)
		run_steps(&r, nl + 1, size - tlen - 1);
	gw_rule_release(&r);
	if (r.group != NULL || r.title != NULL || r.body != NULL)
		abort();
out:
	free(text);
	return 0;
}
