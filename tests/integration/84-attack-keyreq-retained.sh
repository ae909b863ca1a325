#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 84-attack-keyreq-retained.sh - a device with valid credentials must not
# leave a message stored on mqttsec/keys/req (docs/payload-encryption.md,
# "Online keys"): a retained publish there and a retained Last Will on it
# are refused by the ACL check (the will never reaches the message
# callback that consumes requests), so the broker's persistence file holds
# nothing on that topic after a clean shutdown; a plain request still gets
# its answer.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_file "$DEVICE_BIN"

acl topic protect 'site1/#' >/dev/null || bail_out "topic protect failed"
pdevice dev
acl acl add allow all dev 'site1/#' >/dev/null
start_plugin_broker "persistence true" "persistence_location $TEST_TMP/" \
	"autosave_interval 3600"

# a retained Last Will on mqttsec/keys/req, sent when the connection dies
start_bg willer timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u dev \
	-P "$(fresh dev)" -i willer -t mqttsec/keys/dev --will-topic mqttsec/keys/req \
	--will-payload evil-will --will-retain --will-qos 1
ok "the device with a retained will connects" wait_for 10 logged 'Sending SUBACK to willer'
kill -KILL -- "-${BG_PID[willer]}"
ok "its connection dies" wait_for 10 logged 'Client willer .*\(closed its connection\|disconnected\)'
# a retained publish there
pub dev "$(fresh dev)" -i retainer -t mqttsec/keys/req -m evil-retained -r -q 1 || true
ok "the retained publish is refused" wait_for 10 logged \
	"Denied PUBLISH from retainer (d0, q1, r1, m[0-9]*, 'mqttsec/keys/req'"
# a plain request is still answered
_wait_step dev
ok "a plain key request is answered" timeout "$CLIENT_TIMEOUT" "$DEVICE_BIN" \
	-c "$TEST_TMP/dev.json" keys fetch -h 127.0.0.1 -p "$MOSQ_PORT" 'site1/#'
_step dev >"$TEST_TMP/dev.step"
stop_bg mosquitto
ok "the broker saved its store" test -s "$TEST_TMP/mosquitto.db"
nok "nothing is stored on mqttsec/keys/req" grep -aq 'mqttsec/keys/req' "$TEST_TMP/mosquitto.db"
done_testing
