/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-epoch.c - session epochs per client id
 * (broker-plugin/epoch.c) and the replay set's session hash
 * (mqsp_replay_conn): a new epoch for every clean session, the same one
 * for a resumed persistent session, takeovers, forgetting and bounds. */
#include "config.h"

#include <stdint.h>

#include "epoch.h"
#include "replay.h"
#include "tap.h"

int main(void)
{
	struct mqsp_epochs *e = mqsp_epochs_new(4);
	struct mqsp_replay *r = mqsp_replay_new(60, 16);
	int a, b, c; /* stand-ins for connections: only their addresses count */
	uint64_t e1, e2, e3, e4;

	tap_ok(e != NULL && r != NULL, "created");
	if (e == NULL || r == NULL)
		return tap_exit();
	tap_ok(mqsp_epochs_new(0) == NULL, "max 0 is refused");

	/* clean sessions: a new epoch every time */
	e1 = mqsp_epochs_connect(e, "dev", &a, 1);
	tap_ok(e1 != 0, "an epoch is never 0");
	tap_ok(mqsp_epochs_get(e, "dev", &a, 1) == e1, "the connection keeps its epoch");
	mqsp_epochs_disconnect(e, "dev", &a);
	tap_is_int((long long)mqsp_epochs_count(e), 0, "a clean session is forgotten at its end");
	e2 = mqsp_epochs_connect(e, "dev", &b, 1);
	tap_ok(e2 != e1, "a new clean connection: a new epoch");

	/* persistent sessions */
	e3 = mqsp_epochs_connect(e, "dev", &a, 0);
	tap_ok(e3 != e2, "clean session off after a clean one: nothing to resume, new epoch");
	mqsp_epochs_disconnect(e, "dev", &a);
	tap_is_int((long long)mqsp_epochs_count(e), 1, "a persistent session is kept");
	tap_ok(mqsp_epochs_connect(e, "dev", &b, 0) == e3, "resumed: the same epoch");
	tap_ok(mqsp_epochs_get(e, "dev", &b, 0) == e3, "... for its messages too");
	tap_ok(mqsp_epochs_connect(e, "dev", &c, 0) == e3,
	       "taken over by another persistent connection: the same session");
	mqsp_epochs_disconnect(e, "dev", &b); /* the old one ends after the new one */
	tap_ok(mqsp_epochs_get(e, "dev", &c, 0) == e3, "the old connection's end changes nothing");
	e4 = mqsp_epochs_connect(e, "dev", &a, 1);
	tap_ok(e4 != e3, "a clean connection ends the persistent session: new epoch");
	tap_ok(mqsp_epochs_connect(e, "dev", &b, 0) != e4,
	       "and clean session off after it does not resume it");

	/* a connection the map never saw (another plugin let it in) */
	e1 = mqsp_epochs_get(e, "other", &a, 1);
	tap_ok(e1 != 0 && mqsp_epochs_get(e, "other", &a, 1) == e1,
	       "an unknown connection gets an epoch at its first message and keeps it");
	tap_ok(mqsp_epochs_get(e, "other", &b, 1) != e1,
	       "another connection of that client id: another epoch");

	/* bounds: at most 4 entries, the least recently connected goes */
	e1 = mqsp_epochs_connect(e, "p1", &a, 0);
	mqsp_epochs_connect(e, "p2", &a, 0);
	mqsp_epochs_connect(e, "p3", &a, 0);
	mqsp_epochs_connect(e, "p4", &a, 0);
	mqsp_epochs_connect(e, "p5", &a, 0);
	tap_is_int((long long)mqsp_epochs_count(e), 4, "bounded at 4 entries");
	tap_ok(mqsp_epochs_connect(e, "p1", &b, 0) != e1,
	       "an evicted persistent session gets a new epoch (a resend is then a replay)");

	/* the replay set's session hash */
	tap_ok(mqsp_replay_conn(r, "dev", 5, 1) == mqsp_replay_conn(r, "dev", 5, 1),
	       "same client id, epoch and QoS: the same hash");
	tap_ok(mqsp_replay_conn(r, "dev", 5, 1) != mqsp_replay_conn(r, "dev", 6, 1),
	       "another session: another hash");
	tap_ok(mqsp_replay_conn(r, "dev", 5, 1) != mqsp_replay_conn(r, "dev", 5, 2),
	       "another QoS: another hash");
	tap_ok(mqsp_replay_conn(r, "dev", 5, 1) != mqsp_replay_conn(r, "dew", 5, 1),
	       "another client id: another hash");

	mqsp_epochs_free(e);
	mqsp_epochs_free(NULL);
	mqsp_replay_free(r);
	tap_done();
	return tap_exit();
}
