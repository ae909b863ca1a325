#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 61-attack-ack-namespace.sh - a device allowed to publish alerts (devA)
# publishes a decoy with the id of devB's real critical alert, in its own
# namespace.  The recipient acknowledges the decoy; the acknowledgement
# names the namespace it is for (the "route" and "publisher" of the status
# message), so the real alert keeps escalating; one naming no namespace
# while the id waits in two is refused (the alerts go on escalating).  Before, an ack named the id
# only and stopped the escalation of every namespace, the real alert's too.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$PLUGIN_SO" "$ACL_BIN" "$DEVICE_BIN"
. "$top_srcdir/tests/integration/gateway-lib.sh"

. "$top_srcdir/tests/integration/alert-attack-lib.sh"
acl topic protect 'mqttsec/status/#'
acl key export 'mqttsec/status/#' --for gateway --out "$GW_CREDS" || bail_out "key export failed"
alert_attack_start

dpub devB alerts/b --seal -m '{"id": "f-1", "severity": "critical", "group": "ops",
 "title": "Real fire"}'
wait_for 15 _delivered "Real fire"
dpub devA alerts/a --seal -m '{"id": "f-1", "severity": "critical", "group": "ops",
 "title": "Test, please acknowledge"}'
wait_for 15 _delivered "Test, please acknowledge"
is "$(esc f-1 devB)" waiting "the real alert escalates"
is "$(esc f-1 devA)" waiting "the decoy escalates"

dpub alicephone mqttsec/status/f-1/ack --seal -m '{"by": "alice"}'
wait_for 15 _gwlog gateway "refused acknowledgement of f-1 by device alicephone: the id is waiting in several namespaces"
ok "an ack naming no namespace while the id waits in two is refused" \
	_gwlog gateway "refused acknowledgement of f-1 by device alicephone: the id is waiting in several namespaces"
is "$(esc f-1 devB)/$(esc f-1 devA)" waiting/waiting "... and stops neither"

dpub alicephone mqttsec/status/f-1/ack --seal \
	-m '{"by": "alice", "route": "alerts", "publisher": "devA"}'
wait_for 15 _esc_is f-1 devA acked
is "$(esc f-1 devA)" acked "the ack naming devA's namespace stops the decoy"
is "$(esc f-1 devB)" waiting "... and not the real alert of the same id"

dpub alicephone mqttsec/status/f-1/ack --seal -m '{"by": "alice", "publisher": "devB"}'
wait_for 15 _esc_is f-1 devB acked
is "$(esc f-1 devB)" acked "an ack naming devB's namespace stops the real alert"

dpub devB alerts/b --seal -m '{"id": "f-2", "severity": "critical", "group": "ops",
 "title": "Second"}'
wait_for 15 _delivered "Second"
dpub alicephone mqttsec/status/f-2/ack --seal -m '{"by": "alice", "publisher": "devA"}'
# marker: a refused ack, logged once the one before it was handled
dpub devA mqttsec/status/f-2/ack --seal -m '{"by": "alice"}'
ok "marker: devA's ack refused" wait_for 15 _gwlog gateway "refused acknowledgement of f-2 by device devA"
is "$(esc f-2 devB)" waiting "an ack naming another namespace stops nothing"
dpub alicephone mqttsec/status/f-2/ack --seal -m '{"by": "alice"}'
wait_for 15 _esc_is f-2 devB acked
is "$(esc f-2 devB)" acked "an ack naming no namespace still acknowledges the id"

done_testing
