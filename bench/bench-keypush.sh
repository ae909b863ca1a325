#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-keypush.sh - cost of a key push (docs/payload-encryption.md, "Online
# keys"): N devices (default 1000) connected to mosquitto with the plugin,
# each fetched the key of kp/# online; then `mqttsec-acl key rotate kp/#`
# and the time until every device received the pushed key, plus the
# plugin's own time for the pushes (its log line).  Run from a build dir:
#   ../bench/bench-keypush.sh
set -eu
BUILD=${top_builddir:-$PWD}
SRC=$(cd "$(dirname "$0")/.." && pwd)
ACL=$BUILD/acl/mqttsec-acl
PLUGIN=$BUILD/broker-plugin/.libs/mqttsec_plugin.so
N=${BENCH_CLIENTS:-1000}
W=$(mktemp -d "${TMPDIR:-/tmp}/mqttsec-keypush.XXXXXX")
BROKER=
cleanup() {
	[ -n "$BROKER" ] && kill "$BROKER" 2>/dev/null && wait "$BROKER" 2>/dev/null
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT
export MQTTSEC_DB=$W/mqttsec.db MQTTSEC_MASTER_KEY_FILE=$W/master.key
"$ACL" init >/dev/null
"$ACL" group add subs >/dev/null
t0=$(date +%s.%N)
for i in $(seq "$N"); do
	"$ACL" device add "kp$i" --out "$W/kp$i.json" >/dev/null
	"$ACL" group member add subs "kp$i" >/dev/null
done
echo "enrolled $N devices in $(echo "$(date +%s.%N) - $t0" | bc) s"
"$ACL" acl add allow all @subs 'kp/#' >/dev/null
"$ACL" topic protect 'kp/#' >/dev/null
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$W/mosquitto.conf" <<CONF
$([ "$(id -u)" = 0 ] && echo "user root")
listener $PORT 127.0.0.1
plugin $PLUGIN
plugin_opt_db_file $MQTTSEC_DB
plugin_opt_master_key_file $MQTTSEC_MASTER_KEY_FILE
max_connections -1
log_type error
log_type warning
log_type notice
log_type information
log_dest file $W/broker.log
CONF
ulimit -n 8192 2>/dev/null || true
mosquitto -c "$W/mosquitto.conf" & BROKER=$!
sleep 1
python3 "$SRC/bench/keypush_clients.py" "$PORT" 'kp/#' "$W/ready" "$W"/kp*.json >"$W/clients.out" &
CL=$!
for _ in $(seq 1200); do [ -f "$W/ready" ] && break; sleep 0.1; done
cat "$W/clients.out"
rm -f "$W/ready"
"$ACL" key rotate 'kp/#' >/dev/null
wait "$CL" || true
tail -1 "$W/clients.out"
grep 'pushed new topic keys' "$W/broker.log" | sed 's/^[0-9T:-]*: //'
