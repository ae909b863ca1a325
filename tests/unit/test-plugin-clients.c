/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-clients.c - the connected-clients table (broker-plugin/clients.c):
 * a key push goes to a client id only while the connection that fetched
 * holds it, logged in as the same username (mqsp_clients_is). */
#include "config.h"

#include <string.h>

#include "clients.h"
#include "mqs_error.h"
#include "tap.h"

int main(void)
{
	struct mqsp_clients t;
	int a = 0, b = 0; /* two connections (only their addresses are used) */

	mqsp_clients_init(&t);
	tap_is_int(mqsp_clients_add(&t, &a, "c1", "alice", NULL, 1, 0), MQS_OK, "alice as c1");
	tap_ok(mqsp_clients_is(mqsp_clients_find(&t, "c1"), &a, "alice"),
	       "the connection that fetched, same username");
	tap_ok(!mqsp_clients_is(mqsp_clients_find(&t, "c1"), &a, "bob"),
	       "the same connection under another username: no");
	/* another connection (another username) takes the client id */
	tap_is_int(mqsp_clients_add(&t, &b, "c1", "bob", NULL, 1, 0), MQS_OK, "bob takes c1");
	tap_ok(!mqsp_clients_is(mqsp_clients_find(&t, "c1"), &a, "alice"),
	       "the old connection no longer holds the id: no push");
	tap_ok(!mqsp_clients_is(mqsp_clients_find(&t, "c1"), &b, "alice"),
	       "the new one is another username: no push");
	mqsp_clients_remove(&t, &b, "c1");
	tap_ok(!mqsp_clients_is(mqsp_clients_find(&t, "c1"), &a, "alice"),
	       "a disconnected id: no push");
	tap_ok(!mqsp_clients_is(NULL, &a, "alice"), "NULL: no");
	mqsp_clients_release(&t);
	tap_done();
	return tap_exit();
}
