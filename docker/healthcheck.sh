#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# mqttsec-healthcheck broker|gateway|console - container health without
# logging in (a login would spend a TOTP step and fill the broker's log).
#
#   broker   healthy when a socket listens on the MQTT port (mosquitto only
#            listens once its configuration and the plugin have loaded)
#   gateway  healthy when a TCP connection to the broker's port is established
#   console  healthy when a socket listens on the console's port (8443)
#
# The port is MQTTSEC_HEALTH_PORT (1883; the console service sets 8443).
# Reads /proc/net/tcp{,6}.
set -eu
port=$(printf '%04X' "${MQTTSEC_HEALTH_PORT:-1883}")
case ${1:-broker} in
broker)
	col=2
	state=0A
	;;
gateway)
	col=3
	state=01
	;;
console)
	col=2
	state=0A
	;;
*)
	echo "usage: mqttsec-healthcheck broker|gateway|console" >&2
	exit 2
	;;
esac
set --
for f in /proc/net/tcp /proc/net/tcp6; do
	if [ -r "$f" ]; then set -- "$@" "$f"; fi
done
[ $# -gt 0 ] || exit 1
exec awk -v col="$col" -v port=":$port" -v state="$state" '
	FNR > 1 && substr($col, length($col) - 4) == port && $4 == state { ok = 1 }
	END { exit ok ? 0 : 1 }' "$@"
