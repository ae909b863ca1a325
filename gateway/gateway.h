/* gateway.h - the running gateway: configuration, store, credentials and
 * the engines, shared by the modules of `mqttsec-gateway run`.
 *
 * Everything runs on one thread: libcurl's multi interface and the
 * libmosquitto socket are driven from one poll loop (gw_run.c), so no
 * module locks anything.
 *
 * Ownership: gw_run() creates and frees the struct and everything in it.
 */
#ifndef GATEWAY_H
#define GATEWAY_H

#include "gw_config.h"
#include "gw_store.h"
#include "mqs_creds.h"

struct gw_engine;
struct gw_mqtt;
struct mqs_seen;
struct gw_sensor;

struct gw_gateway {
	struct gw_config *conf;
	struct gw_store store;
	struct mqs_creds creds;
	struct gw_engine *engine;
	struct gw_mqtt *mqtt;
	struct gw_sensor *sensor;
	struct mqs_seen *replay;    /* envelopes seen (mqs_seen.h) */
	unsigned long acks_refused; /* acknowledgements refused since start */
};

/* Let the delivery engine progress; called between the messages of a long
 * MQTT burst (at most every few milliseconds does any work). */
void gw_run_pump(struct gw_gateway *gw);

/* Run the daemon with configuration conf until SIGTERM/SIGINT.  Returns a
 * sysexits.h code. */
int gw_run(struct gw_config *conf);

#endif
