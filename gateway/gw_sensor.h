/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_sensor.h - [route NAME] kind = sensor: threshold rules (gw_rule.h)
 * over numeric readings, with hold time, hysteresis and a recovery notice
 * (docs/gateway.md, Sensor routes).
 *
 * Readings are a numeric payload or, with "field = a.b", a number (or
 * numeric string) in a JSON object.  State is kept per (route, topic, rule)
 * in memory and in SQLite, so a restart neither repeats an alert nor
 * forgets an excursion.  One alert per excursion: after it fires, the rule
 * re-arms only once the value is back past threshold -/+ hysteresis, which
 * also sends the recovery notice.
 *
 * Ownership: the sensor engine (struct gw_sensor) belongs to the gateway,
 * created by gw_sensor_new(), freed by gw_sensor_free() (NULL ok).  The
 * rules it runs belong to the configuration.
 */
#ifndef GW_SENSOR_H
#define GW_SENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "gw_rule.h"

enum gw_sstate_kind { GW_SS_NORMAL = 0, GW_SS_PENDING, GW_SS_ACTIVE };

/* State of one rule for one topic. */
struct gw_sstate {
	int state;         /* enum gw_sstate_kind */
	uint64_t since_ms; /* PENDING: when the condition started to hold */
	uint32_t seq;      /* excursions fired so far */
	double last;       /* last reading */
};

enum gw_sensor_event { GW_SE_NONE = 0, GW_SE_FIRE, GW_SE_RECOVER };

/* Advance st for a reading v at now_ms (have_value 1), or for the passage
 * of time alone (have_value 0).  hysteresis is the effective value.
 * Returns an enum gw_sensor_event; *changed is set to 1 when st changed in
 * a way worth persisting. */
int gw_sensor_step(const struct gw_rule *r, double hysteresis, struct gw_sstate *st, int have_value,
                   double v, uint64_t now_ms, int *changed);

/* Extract a reading from payload: the whole payload as a number when field
 * is NULL, else field (dotted path) of a JSON object.  Returns MQS_OK or
 * MQS_ERR_PARSE with a reason in err. */
int gw_sensor_reading(const char *field, const uint8_t *payload, size_t len, double *v, char *err,
                      size_t errlen);

struct gw_gateway;
struct gw_route;
struct gw_sensor;

/* Create the sensor engine and load persisted state.  NULL on failure
 * (logged). */
struct gw_sensor *gw_sensor_new(struct gw_gateway *gw);

/* Free the sensor engine.  NULL is fine. */
void gw_sensor_free(struct gw_sensor *s);

/* Write a fresh, unpredictable sensor alert id for route into out
 * (capacity cap): "sensor-<route>-<32 hex digits from the CSPRNG>".
 * Returns 0, or -1 (out emptied). */
int gw_sensor_make_id(const char *route, char *out, size_t cap);

/* A reading arrived on topic for route r. */
void gw_sensor_sample(struct gw_gateway *gw, const struct gw_route *r, const char *topic,
                      const uint8_t *payload, size_t len, uint64_t now_ms);

/* Fire pending rules whose hold time passed.  Returns the next time (Unix
 * ms) a pending rule could fire, or 0 when none is pending. */
uint64_t gw_sensor_tick(struct gw_gateway *gw, uint64_t now_ms);

#endif
