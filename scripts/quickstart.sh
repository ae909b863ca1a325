#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# quickstart.sh - build mqttsec and run it on its embedded defaults.
#
# With the broker plugin built: a Mosquitto broker with mqttsec on
# 127.0.0.1:${MQTTSEC_PORT:-1883} and mqttsec-gateway, in the foreground
# (Ctrl-C stops both), a fresh database and master key, one enrolled demo
# device "demo" that may use demo/# and publish alerts/#, and the gateway's
# own device; the gateway has no channel configured, so deliveries are files
# in the spool folder.  Without the plugin: a demonstration of the device CLI
# (TOTP code, seal, open).
#
# Environment: MQTTSEC_STATE (state folder, default ./_quickstart),
# MQTTSEC_PORT (default 1883), MOSQUITTO_BIN (default /usr/sbin/mosquitto),
# BUILD_DIR (default _build).
set -u

cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
B=$top/${BUILD_DIR:-_build}
STATE=${MQTTSEC_STATE:-$top/_quickstart}
PORT=${MQTTSEC_PORT:-1883}
MOSQUITTO_BIN=${MOSQUITTO_BIN:-/usr/sbin/mosquitto}

say() {
	printf '%s\n' "$*"
}
die() {
	printf 'quickstart.sh: %s\n' "$*" >&2
	exit 1
}

## build
scripts/deps.sh || die "cannot install the dependencies"
if [ ! -f "$B/Makefile" ]; then
	say "== building in ${B#"$top"/} (first run: configure)"
	autoreconf -fi >/dev/null 2>&1 || die "autoreconf failed (run: autoreconf -fi)"
	if ! mkdir -p "$B" || ! (cd "$B" && ../configure -q); then
		die "configure failed (see $B/config.log)"
	fi
else
	say "== building in ${B#"$top"/}"
fi
make -s -C "$B" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null ||
	die "build failed (run: make -C _build)"

DEVICE=$B/device/mqttsec-device
ACL=$B/acl/mqttsec-acl
PLUGIN=$B/broker-plugin/.libs/mqttsec_plugin.so
[ -x "$DEVICE" ] || die "$DEVICE was not built"
mkdir -p "$STATE" || die "cannot create $STATE"
chmod 700 "$STATE"
STATE=$(cd "$STATE" && pwd)

## everything started here is stopped on exit and on Ctrl-C
pids=()
cleanup() {
	local pid
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null
	done
	if [ ${#pids[@]} -gt 0 ]; then
		say ""
		say "stopped. State kept in $STATE (delete it to start afresh)."
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

## without the broker plugin: the device CLI on its own
if [ ! -f "$PLUGIN" ] || [ ! -x "$ACL" ]; then
	CREDS=$STATE/demo.json
	if [ ! -f "$CREDS" ]; then
		secret=$(head -c 20 /dev/urandom | base32 -w0 | tr -d '=')
		key=$(head -c 32 /dev/urandom | base64 -w0)
		(umask 077 && printf '{"username": "demo",
 "totp": {"secret": "%s", "digits": 6, "period": 30, "algorithm": "SHA1"},
 "keys": [{"id": 1, "key": "%s", "use": "device"}]}\n' "$secret" "$key" >"$CREDS")
	fi
	say ""
	say "The broker plugin is not built in this version: demonstrating mqttsec-device."
	say ""
	say "credentials (docs/acl.md, mode 0600): $CREDS"
	say ""
	say "\$ mqttsec-device -c $CREDS totp"
	"$DEVICE" -c "$CREDS" totp || die "totp failed"
	say ""
	say "\$ echo 'hello from demo' | mqttsec-device -c $CREDS seal demo/greeting > $STATE/hello.env"
	echo 'hello from demo' | "$DEVICE" -c "$CREDS" seal demo/greeting >"$STATE/hello.env" ||
		die "seal failed"
	say "envelope v1, $(stat -c %s "$STATE/hello.env") bytes; header (version, origin length, key id, ms, nonce):"
	od -An -tx1 -N26 "$STATE/hello.env"
	say ""
	say "\$ mqttsec-device -c $CREDS open demo/greeting < $STATE/hello.env"
	"$DEVICE" -c "$CREDS" open demo/greeting <"$STATE/hello.env" || die "open failed"
	say ""
	say "\$ mqttsec-device -c $CREDS open demo/other < $STATE/hello.env   # another topic"
	"$DEVICE" -c "$CREDS" open demo/other <"$STATE/hello.env" 2>&1
	say "(refused: an envelope is valid only for the topic it was sealed for)"
	say ""
	say "Try it yourself: $DEVICE -c $CREDS totp"
	exit 0
fi

## with the broker plugin: broker + plugin + gateway on the embedded defaults
DB=$STATE/mqttsec.db
KEY=$STATE/master.key
CREDS=$STATE/demo.json
GWCREDS=$STATE/gateway.json
CONF=$STATE/mosquitto.conf
GWCONF=$STATE/gateway.conf
GATEWAY=$B/gateway/mqttsec-gateway
A() { "$ACL" -d "$DB" -k "$KEY" "$@"; }
G() { "$GATEWAY" -c "$GWCONF" "$@"; }

[ -x "$MOSQUITTO_BIN" ] || die "$MOSQUITTO_BIN not found (apt-get install mosquitto)"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
	die "port $PORT on 127.0.0.1 is in use (the Debian mosquitto service?): stop it with
  systemctl disable --now mosquitto
or pick another port: MQTTSEC_PORT=1884 scripts/quickstart.sh"
fi

A init >/dev/null || die "mqttsec-acl init failed"
if [ ! -f "$CREDS" ]; then
	{ A device add demo --out "$CREDS" &&
		A acl add allow all demo 'demo/#' &&
		A acl add allow pub demo 'alerts/#' &&
		A acl add allow sub demo 'mqttsec/status/#' &&
		A acl add allow read demo 'mqttsec/status/#'; } >/dev/null ||
		die "cannot enrol the demo device"
	say "enrolled device 'demo' (credentials in $CREDS): demo/#, may publish alerts/#"
fi
if [ -x "$GATEWAY" ] && [ ! -f "$GWCREDS" ]; then
	{ A device add gateway --out "$GWCREDS" &&
		A acl add allow sub gateway 'alerts/#' &&
		A acl add allow read gateway 'alerts/#' &&
		A acl add allow pub gateway 'mqttsec/status/#' &&
		A acl add allow sub gateway 'mqttsec/status/+/ack' &&
		A acl add allow read gateway 'mqttsec/status/+/ack'; } >/dev/null ||
		die "cannot enrol the gateway device"
	say "enrolled device 'gateway' (credentials in $GWCREDS): receives alerts/#"
fi

# Started as root, mosquitto drops to the mosquitto user, which must be
# able to write the database (and its WAL) and read the master key.
user_line=
if [ "$(id -u)" -eq 0 ]; then
	if id mosquitto >/dev/null 2>&1 && chown mosquitto: "$STATE" "$DB" "$KEY" &&
		runuser -u mosquitto -- test -w "$DB" -a -r "$KEY" 2>/dev/null; then
		user_line="user mosquitto"
	else
		user_line="user root"
		say "note: the mosquitto user cannot reach $STATE; the broker keeps running as root"
	fi
fi

cat >"$CONF" <<EOC
# written by scripts/quickstart.sh
${user_line}
per_listener_settings false
set_tcp_nodelay true
listener $PORT 127.0.0.1
allow_anonymous false
persistence false
log_dest stdout
log_type error
log_type warning
log_type notice
log_type information
plugin $PLUGIN
plugin_opt_db_file $DB
plugin_opt_master_key_file $KEY
EOC

# The gateway: no [channel] section, so every delivery becomes a file in
# the spool folder next to its database.
if [ -x "$GATEWAY" ]; then
	cat >"$GWCONF" <<EOC
; written by scripts/quickstart.sh
[broker]
host = 127.0.0.1
port = $PORT
credentials = $GWCREDS
status_topic = mqttsec/status

[store]
db = $STATE/gateway.db
master_key_file = $STATE/gateway.key
spool_dir = $STATE/spool

[route alerts]
topic = alerts/#
kind = alert
EOC
	if ! G group list 2>/dev/null | grep -qw ops; then
		{ G group add ops && G recipient add alice --email alice@example.com --group ops; } \
			>/dev/null || die "cannot add the demo group and recipient to the gateway"
	fi
fi

"$MOSQUITTO_BIN" -c "$CONF" &
pids+=($!)
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
	kill -0 "${pids[0]}" 2>/dev/null || break
	sleep 0.2
done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || die "mosquitto did not start (see above)"
if [ -x "$GATEWAY" ]; then
	G run &
	pids+=($!)
fi

cat <<EOC

mqttsec quickstart
  broker:  Mosquitto with the mqttsec plugin on 127.0.0.1:$PORT
  gateway: mqttsec-gateway: alerts/# -> recipient alice (group ops) -> files in $STATE/spool
  state:   $STATE (databases, master keys, credentials, configs)
  device:  demo, may use demo/# and publish alerts/#

Try it in another terminal:
  D="$DEVICE -c $CREDS"
  \$D totp                                              # the current one-time code
  \$D publish -h 127.0.0.1 -p $PORT -t alerts/room3 \\
     -m '{"id":"a-1","severity":"warning","group":"ops","title":"Server room hot","body":"41.5 C"}'
  ls $STATE/spool                                       # the delivery, one file
  (a code works once: a second run of mqttsec-device waits for the next 30 s step)
Manage it:
  $ACL -d $DB -k $KEY device list
  $GATEWAY -c $GWCONF outbox

Ctrl-C stops everything.
EOC

wait -n "${pids[@]}"
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ]; then
	say "a process exited with status $rc; stopping"
fi
exit "$rc"
