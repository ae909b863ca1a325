#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# deps.sh - install the Debian 12 packages mqttsec needs to build and test.
#
# Quiet when everything is installed.  As root it runs apt-get update once
# and installs what is missing; as another user it names the missing
# packages and exits 1.  --deb adds what building the .deb packages needs,
# --bench what the benchmarks need (gnuplot for bench/bench-soak.sh).
#
# Note: the mosquitto package starts a system broker on port 1883 when it
# is installed (where an init system runs).  The tests never use it (they
# start their own brokers on free ports); scripts/quickstart.sh needs 1883
# free or MQTTSEC_PORT set.  Stop it with: systemctl disable --now mosquitto
set -eu

PACKAGES=(
	build-essential autoconf automake libtool pkg-config
	libmosquitto-dev mosquitto mosquitto-clients mosquitto-dev
	libssl-dev liboath-dev oathtool
	libsqlite3-dev sqlite3
	libcurl4-openssl-dev libcjson-dev libinih-dev libqrencode-dev libgfshare-dev libmicrohttpd-dev uthash-dev
	libargon2-dev chromium chromium-driver python3-selenium
	python3 python3-cryptography python3-aiosmtpd python3-paho-mqtt openssl
	nodejs node-mqtt
	postfix
	clang libclang-rt-14-dev clang-format
	ca-certificates
)
if [ "${1:-}" = --deb ]; then
	PACKAGES+=(debhelper lintian)
fi
# bench: gnuplot draws the soak's plot (bench/bench-soak.sh)
if [ "${1:-}" = --bench ]; then
	PACKAGES+=(gnuplot-nox)
fi

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [ "$status" != "install ok installed" ]; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
	echo "deps.sh: install them as root: apt-get install ${missing[*]}" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# postfix is only here for smtp-sink (a local SMTP test sink): no mail system
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "deps.sh: done"
