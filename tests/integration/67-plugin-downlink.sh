#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 67-plugin-downlink.sh - per-device downlink on a real broker
# (docs/payload-encryption.md, "Per-device downlink"): a filter protected
# with --per-device 2 has no shared key; a command to cmd/NAME/set is
# re-sealed with HKDF(NAME's device key, "mqttsec-downlink-v1" | topic)
# under NAME's key id, so only NAME opens it (another subscriber to cmd/#
# gets bytes it cannot open); a topic naming no device, or a disabled one,
# is dropped (reason no-device); key rotate/export refuse the filter; after
# a rekey the downlink is sealed for the device's new key.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_file "$DEVICE_BIN" "$ENVELOPE_PY"
need_python_module cryptography

nok "--per-device 0 is refused" acl topic protect 'cmd/+/set' --per-device 0
nok "a level the filter does not have is refused" acl topic protect 'cmd/+/set' --per-device 4
OUT=$(acl topic protect 'cmd/+/set' --per-device 2 2>&1)
ok "topic protect 'cmd/+/set' --per-device 2" grep -q 'protected per device' <<<"$OUT"
ok "topic list shows the device level" \
	sh -c "\"$ACL_BIN\" topic list --json | tr -d ' \t' | grep -q '\"per_device\":2'"
OUT=$(acl key rotate 'cmd/+/set' 2>&1)
ok "key rotate is refused: no shared key" grep -q 'protected per device: it has no shared key' <<<"$OUT"
for d in op dev1 dev2 dev3 spy spyraw; do
	pdevice "$d"
done
acl group add devs >/dev/null
for d in dev1 dev2 dev3; do
	acl group member add devs "$d" >/dev/null
done
acl acl add allow pub op 'cmd/#' >/dev/null
acl acl add allow all @devs 'cmd/%u/set' >/dev/null
acl acl add allow all spy 'cmd/#' >/dev/null
acl acl add allow all spyraw 'cmd/#' >/dev/null
OUT=$(acl key export 'cmd/+/set' --for dev1 2>&1)
ok "key export is refused: no shared key" grep -q 'protected per device: it has no shared key' <<<"$OUT"
ok "the credentials list the filter as protected (publishers seal there)" \
	grep -qF 'cmd/+/set' "$TEST_TMP/op.json"
read -r D1KID D1KEY < <(devkey dev1)

start_plugin_broker
start_bg dev1 "$DEVICE_BIN" -c "$TEST_TMP/dev1.json" subscribe -h 127.0.0.1 -p "$MOSQ_PORT" \
	-t 'cmd/dev1/set' -v -q 1
start_bg dev2 "$DEVICE_BIN" -c "$TEST_TMP/dev2.json" subscribe -h 127.0.0.1 -p "$MOSQ_PORT" \
	-t 'cmd/dev2/set' -v -q 1
start_bg spy "$DEVICE_BIN" -c "$TEST_TMP/spy.json" subscribe -h 127.0.0.1 -p "$MOSQ_PORT" \
	-t 'cmd/#' -v -q 1
start_bg spyraw timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -i spyraw -u spyraw \
	-P "$(fresh spyraw)" -t 'cmd/#' -q 1 -F '%t %x'
_subscribed() {
	[ "$(grep -c 'Sending SUBACK to' "$MOSQ_LOG")" -ge 4 ]
}
wait_for 10 _subscribed || bail_out "subscribers did not subscribe"
L1=$TEST_TMP/dev1.log
L2=$TEST_TMP/dev2.log
LS=$TEST_TMP/spy.log
LX=$TEST_TMP/spyraw.log

# --- a command for dev1
ok "op publishes a sealed command to cmd/dev1/set" devrun op publish -t cmd/dev1/set \
	-m 'open the valve' -q 1
ok "dev1 opens it with its own key, origin = op" \
	wait_for 10 grep -qxF 'cmd/dev1/set op open the valve' "$L1"
ok "spy (cmd/#) receives it ..." wait_for 10 grep -q '^cmd/dev1/set ' "$LX"
ok "... and cannot open it" wait_for 10 grep -q 'cannot open message on cmd/dev1/set' "$LS"
nok "spy never printed the plaintext" grep -q 'open the valve' "$LS"
nok "dev2 got nothing of dev1's" grep -q 'cmd/dev1/set' "$L2"
HEX=$(awk '$1 == "cmd/dev1/set" { print $2; exit }' "$LX")
printf '%s' "$HEX" | xxd -r -p >"$TEST_TMP/d1.env"
OUT=$(python3 "$ENVELOPE_PY" open --key-b64 "$D1KEY" --topic cmd/dev1/set <"$TEST_TMP/d1.env" 2>&1)
nok "the raw device key does not open it (one key, one purpose)" grep -q 'open the valve' <<<"$OUT"
# an independent HKDF (Python cryptography) of dev1's key and the topic
DLKEY=$(python3 - "$D1KEY" cmd/dev1/set <<'PY'
import base64, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
k = base64.b64decode(sys.argv[1])
d = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"",
         info=b"mqttsec-downlink-v1" + sys.argv[2].encode()).derive(k)
print(base64.b64encode(d).decode())
PY
)
OUT=$(python3 "$ENVELOPE_PY" open --key-b64 "$DLKEY" --topic cmd/dev1/set <"$TEST_TMP/d1.env" 2>&1)
ok "it opens with HKDF(dev1 key, \"mqttsec-downlink-v1\" | topic)" grep -q 'open the valve' <<<"$OUT"
ok "... under dev1's device key id $D1KID" grep -qx "key-id: $D1KID" <<<"$OUT"
ok "... with origin op" grep -qx 'origin: op' <<<"$OUT"
ok "mqttsec-device open: dev1 opens the captured envelope" \
	sh -c "\"$DEVICE_BIN\" -c \"$TEST_TMP/dev1.json\" open cmd/dev1/set <\"$TEST_TMP/d1.env\" 2>/dev/null | grep -qx 'open the valve'"
nok "mqttsec-device open: spy cannot" \
	sh -c "\"$DEVICE_BIN\" -c \"$TEST_TMP/spy.json\" open cmd/dev1/set <\"$TEST_TMP/d1.env\" 2>/dev/null | grep -q 'open the valve'"

# --- a command for dev2
ok "op publishes to cmd/dev2/set" devrun op publish -t cmd/dev2/set -m 'close the valve' -q 1
ok "dev2 opens its own command" wait_for 10 grep -qxF 'cmd/dev2/set op close the valve' "$L2"
ok "spy receives it and cannot open it" \
	wait_for 10 grep -q 'cannot open message on cmd/dev2/set' "$LS"

# --- no such device: dropped, logged, never forwarded
OUT=$(devrun op publish -t cmd/nobody/set -m 'for nobody' -q 1 2>&1)
ok "a command to cmd/nobody/set: the MQTT 5 publisher learns the refusal" \
	grep -q 'refused message .*: Not authorized' <<<"$OUT"
ok "dropped with reason no-device" dropped no-device 1
ok "the log names the topic" logged 'on protected topic cmd/nobody/set: no-device'

# --- a disabled device: dropped
ok "disable dev3" change device disable dev3
OUT=$(devrun op publish -t cmd/dev3/set -m 'for dev3' -q 1 2>&1)
ok "a command to the disabled dev3 is refused" grep -q 'Not authorized' <<<"$OUT"
ok "dropped with reason no-device" dropped no-device 2

# --- the marker: what was published before it has been delivered by then
ok "marker to dev1" devrun op publish -t cmd/dev1/set -m 'marker' -q 1
ok "marker delivered to dev1" wait_for 10 grep -qxF 'cmd/dev1/set op marker' "$L1"
ok "marker delivered to spyraw" wait_for 10 test "$(grep -c '^cmd/dev1/set ' "$LX")" -ge 2
nok "nothing for nobody was forwarded" grep -q '^cmd/nobody/set' "$LX"
nok "nothing for the disabled dev3 was forwarded" grep -q '^cmd/dev3/set' "$LX"
nok "no plaintext in the broker log" grep -q 'open the valve\|for nobody\|for dev3' "$MOSQ_LOG"
is "$(drops tampered)" 0 "nothing was taken for tampered"

# --- after a rekey the downlink uses the new key at once
BEFORE=$(reloads)
ok "device rekey dev2" acl device rekey dev2 --grace 60 --out "$TEST_TMP/dev2new.json"
ok "the broker reloaded" wait_for 10 _reloaded_since "$BEFORE"
cp "$TEST_TMP/dev2.json" "$TEST_TMP/dev2old.json"
cp "$TEST_TMP/dev2new.json" "$TEST_TMP/dev2.json"
start_bg dev2new "$DEVICE_BIN" -c "$TEST_TMP/dev2new.json" subscribe -h 127.0.0.1 \
	-p "$MOSQ_PORT" -t 'cmd/dev2/set' -v -q 1 -i dev2-new
_dev2new_in() {
	grep -q "Sending SUBACK to dev2-new" "$MOSQ_LOG"
}
wait_for 10 _dev2new_in || bail_out "dev2's new subscriber did not subscribe"
ok "op publishes to cmd/dev2/set after the rekey" devrun op publish -t cmd/dev2/set \
	-m 'after rekey' -q 1
ok "dev2 with its new credentials opens it" \
	wait_for 10 grep -qxF 'cmd/dev2/set op after rekey' "$TEST_TMP/dev2new.log"
ok "dev2 with its old credentials cannot (sealed for the new key)" \
	wait_for 10 grep -q 'cannot open message on cmd/dev2/set' "$L2"
nok "... and never printed it" grep -q 'after rekey' "$L2"

done_testing
