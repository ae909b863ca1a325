#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 35-gateway-sensor.sh - kind = sensor routes: a rule fires once per
# excursion after its hold time, hysteresis keeps a flapping sensor quiet,
# the recovery notice comes once the value is back, state is per topic and
# survives a restart; numeric payloads and JSON fields both work.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"

start_mosquitto "allow_anonymous true" || bail_out "no broker"
gw_config '[route temp]
topic = sensors/+/temp
kind = sensor
field = data.temperature
hysteresis = 2
rule = value > 40 for 4s => alert group=ops severity=warning title="Hot {topic}: {value} C"

[route hum]
topic = sensors/+/hum
kind = sensor
group = ops
rule = value < 20 => alert title="Too dry" channels=email'
gw group add ops >/dev/null
gw recipient add alice --email alice@example.com --group ops >/dev/null
gw_start || bail_out "gateway did not start"

t() {
	pub "sensors/$1/temp" "{\"data\": {\"temperature\": $2}}"
}
n_msgs() {
	sql "SELECT count(*) FROM messages WHERE route = '$1' AND topic = '$2'"
}
# The hold time is 4 s.  A check that something has NOT fired yet is only
# meaningful while less than the hold time has passed since the excursion
# began; on a machine too slow for that it is skipped, never failed.
# within_hold T0: true while less than 4 s passed since T0 (date +%s%N)
within_hold() {
	[ $(($(date +%s%N) - $1)) -lt 4000000000 ]
}
# ids TOPIC: the alert ids of TOPIC in order, numbered 1, 2, ... (ids are
# random) and a recovery as "<n>-ok" when it is "<id of alert n>-ok"
ids() {
	sql "SELECT msg_id FROM messages WHERE topic = '$1' ORDER BY id" |
		awk '{ if (sub(/-ok$/, "")) printf "%s-ok ", (($0 in n) ? n[$0] : "?");
		       else { n[$0] = ++k; printf "%d ", k } }'
}

## first excursion: fires once, after the hold time, even without new readings
t r1 39
T0=$(date +%s%N)
t r1 41
sleep 0.3
t r1 42
N=$(n_msgs temp sensors/r1/temp)
if within_hold "$T0"; then
	is "$N" 0 "no alert before the hold time"
else
	skip "no alert before the hold time" "the machine took longer than the hold time"
fi
wait_sql "SELECT count(*) FROM messages WHERE topic = 'sensors/r1/temp'" 1 5
is "$(n_msgs temp sensors/r1/temp)" 1 "alert after the hold time"
# titles are sealed in the database: read them from the spooled deliveries
_spooled() {
	grep -qsxF -- "Subject: $1" "$TEST_TMP"/spool/*.txt
}
_spooled_prefix() {
	grep -qs -- "^Subject: $1" "$TEST_TMP"/spool/*.txt
}
ok "title with {topic} and {value}" wait_for 10 _spooled "Hot sensors/r1/temp: 42 C"
for v in 45 43 39.5 41; do
	t r1 $v
done
sleep 4.5
is "$(n_msgs temp sensors/r1/temp)" 1 "one alert per excursion (39.5 is within the hysteresis)"

## recovery once back past threshold - hysteresis
t r1 37.9
wait_sql "SELECT count(*) FROM messages WHERE topic = 'sensors/r1/temp'" 2 5
is "$(ids sensors/r1/temp)" "1 1-ok " "recovery notice"
ok "recovery title" wait_for 10 _spooled_prefix "Recovered: "

## a short blip shorter than the hold time sends nothing
# (both readings from one client, one right after the other, so the blip
# is shorter than the hold time however busy the machine is)
printf '%s\n' '{"data": {"temperature": 41}}' '{"data": {"temperature": 39}}' |
	mosquitto_pub -h 127.0.0.1 -p "$MOSQ_PORT" -q 1 -t sensors/r1/temp -l
sleep 4.5
is "$(n_msgs temp sensors/r1/temp)" 2 "a blip shorter than the hold time is ignored"

## a second excursion fires again
t r1 44
wait_sql "SELECT count(*) FROM messages WHERE topic = 'sensors/r1/temp'" 3 5
is "$(ids sensors/r1/temp)" "1 1-ok 2 " "second excursion, second alert"

## state is per topic
t r2 50
wait_sql "SELECT count(*) FROM messages WHERE topic = 'sensors/r2/temp'" 1 5
is "$(n_msgs temp sensors/r2/temp)" 1 "another topic has its own state"

## state survives a restart: no repeat of the active alert, recovery still comes
stop_bg gateway
gw_start gateway2 || bail_out "gateway did not restart"
t r1 45
sleep 0.5
is "$(n_msgs temp sensors/r1/temp)" 3 "no repeated alert after a restart"
t r1 30
wait_sql "SELECT count(*) FROM messages WHERE topic = 'sensors/r1/temp'" 4 5
is "$(ids sensors/r1/temp)" "1 1-ok 2 2-ok " "recovery after a restart"

## numeric payloads, no hold time, bad readings
pub sensors/r1/hum 15.5
wait_sql "SELECT count(*) FROM messages WHERE route = 'hum'" 1 5
is "$(n_msgs hum sensors/r1/hum)" 1 "numeric payload fires at once (no hold time)"
pub sensors/r1/hum "not a number"
pub sensors/r1/temp '{"data": {}}'
wait_for 5 grep -q "field data.temperature missing" "$TEST_TMP/gateway2.log"
ok "a bad numeric reading is dropped with a reason" \
	grep -q "route hum: dropped reading on sensors/r1/hum: payload is not a number" \
	"$TEST_TMP/gateway2.log"
ok "a missing JSON field is dropped with a reason" \
	grep -q "field data.temperature missing or not a number" "$TEST_TMP/gateway2.log"
wait_sql "SELECT count(*) FROM outbox WHERE state != 'sent'" 0 5
is "$(ls "$TEST_TMP/spool" | wc -l | tr -d ' ')" \
	"$(sql "SELECT count(*) FROM outbox")" "every sensor message was delivered (spool)"

## a bad rule is refused with file:line
printf '\n[route bad]\ntopic = x\nkind = sensor\nrule = value >> 3 => alert group=ops\n' \
	>>"$GW_CONF"
"$GATEWAY_BIN" -c "$GW_CONF" check >/dev/null 2>"$TEST_TMP/bad.err"
ok "a bad rule names file:line" grep -q "gateway.conf:[0-9]*: \[route bad\] rule: " \
	"$TEST_TMP/bad.err"

done_testing
