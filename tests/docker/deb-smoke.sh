#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# tests/docker/deb-smoke.sh - the Debian packages in a clean bookworm container
# (docs/install.md, "Testing the packages"): build the .debs with
# dpkg-buildpackage in a scratch copy of the tree, start a container from the
# local debian:bookworm-slim image, `apt-get install` them there (mosquitto and
# the libraries come from Debian), check the groups, users, folders and
# permissions the maintainer scripts create, run `mqttsec-acl init` and
# `device add`, start Debian's mosquitto with the plugin snippet in
# /etc/mosquitto/conf.d the way mosquitto.service does (its ExecStartPre and
# ExecStart lines, the UMask of the package's drop-in), connect devices with
# their TOTP codes (mosquitto_pub, mqttsec-device subscribe), see a wrong
# code refused, then `apt-get remove` and `purge`.
#
# Uses a running Docker when `docker info` works, else, as root, the script
# MQS_CONTAINER_ENV names (docs/docker.md, Testing).  Prints TAP, a line
# "N passed, N failed" and a last line "deb smoke test: PASS" or "deb smoke
# test: FAIL"; exit 0 pass, 1 fail, 77 skipped (the reason is printed: no
# container engine, no dpkg-buildpackage or build dependencies on the host, a
# host that is not bookworm).  The container is removed on exit.
#
# Environment: MQS_DEB_DIR (install the .debs found there instead of building
# them), MQS_DEB_BUILD_TIMEOUT (seconds for dpkg-buildpackage, 1200),
# MQS_DEB_BASE_IMAGE (debian:bookworm-slim), DEB_SMOKE_KEEP=1 (leave the
# container up for a look; `docker rm -f` it by hand).
# shellcheck disable=SC2317 # functions called through check()/trap
# shellcheck disable=SC2016 # the single-quoted scripts run in the container
# shellcheck disable=SC1091 # /etc/os-release
set -u
cd "$(dirname "$0")/../.." || exit 1
top=$(pwd)
IMAGE=${MQS_DEB_BASE_IMAGE:-debian:bookworm-slim}
BUILD_TIMEOUT=${MQS_DEB_BUILD_TIMEOUT:-1200} # 3.5 min of CPU; 15-19 min wall at load 27
CTR=mqttsec-debsmoke-$$
# The example snippet listens on 8883, where mosquitto_pub speaks TLS by
# default and mqttsec-device none: the test edits it to plain 1883
PORT=1883

t_start=$(date +%s)
n=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mqttsec-deb.XXXXXX") || exit 1
chmod 700 "$tmp"
log=$tmp/log
: >"$log"
started=0

TAP_NAME="deb smoke test"
# shellcheck source=tests/docker/tap-lib.sh
. "$top/tests/docker/tap-lib.sh"
cleanup() {
	trap - EXIT INT TERM
	if [ "$started" = 1 ]; then
		if [ "${DEB_SMOKE_KEEP:-0}" = 1 ]; then
			echo "# kept: docker exec -it $CTR bash; docker rm -f $CTR"
		else
			timeout 60 docker rm -f "$CTR" >/dev/null 2>&1 ||
				echo "# warning: docker rm -f $CTR failed"
		fi
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

## the .debs: given, or built on this (bookworm) host
debs=$tmp/debs
mkdir -p "$debs"
if [ -n "${MQS_DEB_DIR:-}" ]; then
	cp "$MQS_DEB_DIR"/mqttsec-*.deb "$debs/" 2>/dev/null ||
		skip_all "no mqttsec-*.deb in MQS_DEB_DIR=$MQS_DEB_DIR"
else
	command -v dpkg-buildpackage >/dev/null 2>&1 ||
		skip_all "no dpkg-buildpackage on the host (scripts/deps.sh --deb), or set MQS_DEB_DIR"
	codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	[ "$codename" = bookworm ] ||
		skip_all "the host is '${codename:-not Debian}', not bookworm: its .debs would not fit; set MQS_DEB_DIR"
	if ! (cd "$top" && dpkg-checkbuilddeps) >"$tmp/builddeps" 2>&1; then
		skip_all "$(tail -n 1 "$tmp/builddeps")"
	fi
fi

## a container engine: a running Docker, else the MQS_CONTAINER_ENV helper
container_engine
diag "engine: $engine; $(docker version --format 'server {{.Server.Version}}' 2>/dev/null); image $IMAGE"

## build: a scratch copy of the tree (the files git knows, else all but build
## trees), so the build leaves nothing in the checkout
if [ -z "${MQS_DEB_DIR:-}" ]; then
	src=$tmp/src/mqttsec
	mkdir -p "$src"
	t0=$(date +%s)
	if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$top" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$src"
	else
		tar -C "$top" --exclude='./_*' --exclude=./autom4te.cache -cf - . | tar -xf - -C "$src"
	fi
	if (cd "$src" && DEB_BUILD_OPTIONS="nocheck noddebs parallel=$(nproc)" \
		timeout "$BUILD_TIMEOUT" dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
		mv "$tmp"/src/mqttsec-*.deb "$debs/"
		ok "dpkg-buildpackage -us -uc -b ($(($(date +%s) - t0)) s)"
	else
		tail -n 30 "$tmp/build.log" >>"$log"
		bail "dpkg-buildpackage -us -uc -b"
	fi
	rm -rf "$tmp/src"
fi
# shellcheck disable=SC2012 # our own file names
diag "packages: $(ls "$debs" | sed 's/_.*//' | tr '\n' ' ')"
for p in mqttsec-common mqttsec-tools mqttsec-broker-plugin mqttsec-gateway mqttsec-console; do
	ls "$debs/${p}_"*.deb >/dev/null 2>&1 || bail "package $p was built"
done
if command -v lintian >/dev/null 2>&1; then
	check "lintian: no error in the .debs" timeout 300 lintian --fail-on error "$debs"/*.deb
else
	ok "lintian: no error in the .debs # SKIP no lintian on the host"
fi

## the container: clean, the .debs mounted read-only
if timeout 120 docker run -d --name "$CTR" -v "$debs:/debs:ro" "$IMAGE" sleep infinity >>"$log" 2>&1; then
	started=1
	ok "a clean container from $IMAGE"
else
	started=1
	bail "a clean container from $IMAGE (docker run)"
fi
# x COMMAND...: run in the container as root, bounded
x() {
	timeout 120 docker exec "$CTR" "$@"
}
# xs SCRIPT: a shell script in the container
xs() {
	timeout 120 docker exec "$CTR" sh -c "$1"
}
check "no mosquitto and no mqttsec in the clean container" \
	xs '! command -v mosquitto && ! test -e /usr/sbin/mosquitto && ! getent group mqttsec'

## install: apt-get resolves mosquitto and the libraries from Debian
t0=$(date +%s)
if timeout 600 docker exec -e DEBIAN_FRONTEND=noninteractive "$CTR" sh -c \
	'apt-get update -q && apt-get install -y -q --no-install-recommends /debs/*.deb mosquitto-clients' \
	>"$tmp/apt.log" 2>&1; then
	ok "apt-get install ./*.deb pulls mosquitto and the libraries ($(($(date +%s) - t0)) s)"
else
	tail -n 30 "$tmp/apt.log" >>"$log"
	bail "apt-get install ./*.deb"
fi
check "every package is installed" xs 'for p in mqttsec-common mqttsec-tools mqttsec-broker-plugin mqttsec-gateway mqttsec-console mosquitto; do
	dpkg-query -W -f "\${db:Status-Status}\n" $p | grep -qx installed || { echo "$p not installed"; exit 1; }; done'
# ldd lists every library a binary needs: a missing one is a missing Depends
check "every binary and the plugin find their libraries" \
	xs 'set -- /usr/bin/mqttsec-acl /usr/bin/mqttsec-device /usr/bin/mqttsec-gateway /usr/bin/mqttsec-console /usr/lib/*/mqttsec/mqttsec_plugin.so
	for f; do test -f "$f" || { echo "missing $f"; exit 1; }; done
	! ldd "$@" | grep "not found"'
check "the binaries run (their usage)" \
	xs 'for b in mqttsec-acl mqttsec-device mqttsec-gateway mqttsec-console; do $b --help 2>&1 | grep -q "^usage: $b" || { echo "$b: no usage"; exit 1; }; done'

## groups, users, folders and permissions the maintainer scripts create
check "group mqttsec is a system group" \
	xs 'gid=$(getent group mqttsec | cut -d: -f3) && [ "$gid" -lt 1000 ]'
check "mosquitto is a member of mqttsec" xs 'id -nG mosquitto | tr " " "\n" | grep -qx mqttsec'
for u in mqttsec-gateway mqttsec-console; do
	check "system user $u: group mqttsec, no login shell, no home created" \
		xs "e=\$(getent passwd $u) && [ \$(echo \"\$e\" | cut -d: -f3) -lt 1000 ] &&
			[ \"\$(id -gn $u)\" = mqttsec ] && [ \"\$(echo \"\$e\" | cut -d: -f7)\" = /usr/sbin/nologin ]"
done
# stat_is PATH 'MODE OWNER:GROUP'
stat_is() {
	local got
	got=$(x stat -c '%a %U:%G' "$1" 2>&1)
	[ "$got" = "$2" ] || {
		echo "$1: '$got', expected '$2'"
		return 1
	}
}
check "/var/lib/mqttsec is 2770 root:mqttsec" stat_is /var/lib/mqttsec '2770 root:mqttsec'
check "/var/backups/mqttsec is 2770 root:mqttsec" stat_is /var/backups/mqttsec '2770 root:mqttsec'
check "/etc/mqttsec is 750 root:mqttsec" stat_is /etc/mqttsec '750 root:mqttsec'
for e in mosquitto-mqttsec gateway console; do
	check "example /etc/mqttsec/$e.conf.example is a conffile" \
		xs "test -f /etc/mqttsec/$e.conf.example && grep -qx /etc/mqttsec/$e.conf.example /var/lib/dpkg/info/*.conffiles"
done
check "units and the mosquitto.service drop-in installed, none enabled" \
	xs 'for u in mqttsec-gateway.service mqttsec-console.service mqttsec-backup.timer mqttsec-gateway-backup.timer mosquitto.service.d/mqttsec.conf; do
		test -f /lib/systemd/system/$u || { echo "missing $u"; exit 1; }; done
	! ls /etc/systemd/system/*.wants/mqttsec-* 2>/dev/null'
check "man pages installed" \
	xs 'for m in man1/mqttsec-acl.1 man1/mqttsec-device.1 man1/mqttsec-gateway.1 man1/mqttsec-console.1 man8/mqttsec_plugin.8; do
		ls /usr/share/man/$m* >/dev/null || exit 1; done'

## configure as docs/install.md says: the snippet, init, owners
if xs 'sed "s/^listener 8883\$/listener '"$PORT"'/" /etc/mqttsec/mosquitto-mqttsec.conf.example \
		>/etc/mosquitto/conf.d/mqttsec.conf && grep -q "^listener '"$PORT"'\$" /etc/mosquitto/conf.d/mqttsec.conf &&
	mqttsec-acl init && chown mosquitto:mqttsec /etc/mqttsec/master.key /var/lib/mqttsec/mqttsec.db &&
	chmod 0660 /var/lib/mqttsec/mqttsec.db' >>"$log" 2>&1; then
	ok "the example snippet in /etc/mosquitto/conf.d (listener $PORT), mqttsec-acl init, chown as docs/install.md says"
else
	bail "mqttsec-acl init with the default paths"
fi
check "master key is 600 mosquitto:mqttsec" stat_is /etc/mqttsec/master.key '600 mosquitto:mqttsec'
check "database is 660 mosquitto:mqttsec" stat_is /var/lib/mqttsec/mqttsec.db '660 mosquitto:mqttsec'

## Debian's mosquitto, started the way mosquitto.service starts it
start_broker='unit=/lib/systemd/system/mosquitto.service
	dropin=/lib/systemd/system/mosquitto.service.d/mqttsec.conf
	um=$(sed -n "s/^UMask=//p" $dropin)
	[ -n "$um" ] && umask "$um"
	sed -n "s/^ExecStartPre=//p" $unit > /tmp/pre.sh && sh -e /tmp/pre.sh || exit 1
	start=$(sed -n "s/^ExecStart=//p" $unit)
	exec $start </dev/null >>/tmp/mosquitto.stderr 2>&1'
broker_log() {
	x sh -c 'cat /var/log/mosquitto/mosquitto.log /tmp/mosquitto.stderr 2>/dev/null' 2>&1 | tail -n 20
}
# broker_up SECONDS: the pid file names a live process and the log says running
broker_up() {
	local end=$(($(date +%s) + $1))
	while :; do
		xs 'p=$(cat /run/mosquitto/mosquitto.pid 2>/dev/null) && [ -d /proc/$p ] &&
			grep -q "mosquitto version .* running" /var/log/mosquitto/mosquitto.log' >/dev/null 2>&1 && return 0
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.5
	done
}
# a fresh log, its owner kept (mosquitto writes it after dropping root)
xs 'if [ -f /var/log/mosquitto/mosquitto.log ]; then : >/var/log/mosquitto/mosquitto.log; fi' >/dev/null 2>&1
if timeout 60 docker exec -d "$CTR" sh -c "$start_broker" >>"$log" 2>&1 && broker_up 60; then
	ok "Debian's mosquitto starts with /etc/mosquitto/conf.d/mqttsec.conf (ExecStartPre, ExecStart, UMask of the drop-in)"
else
	broker_log >>"$log"
	bail "Debian's mosquitto starts with the plugin"
fi
check "the log says the plugin is loaded" \
	xs 'grep -q "Loading plugin: .*mqttsec_plugin.so" /var/log/mosquitto/mosquitto.log'
check "the broker runs as mosquitto with the group mqttsec" \
	xs 'p=$(cat /run/mosquitto/mosquitto.pid) && u=$(awk "/^Uid:/{print \$2}" /proc/$p/status) &&
		[ "$u" = "$(id -u mosquitto)" ] &&
		awk "/^Groups:/" /proc/$p/status | tr "\t " "\n\n" | grep -qx "$(getent group mqttsec | cut -d: -f3)"'

## devices
# credentials are secrets: mqttsec-device refuses a file others can read
check "mqttsec-acl device add (as root, the broker running)" \
	xs 'umask 077 && mkdir -p /root/dev && mqttsec-acl device add dev1 > /root/dev/dev1.json && mqttsec-acl device add dev2 > /root/dev/dev2.json &&
		test -s /root/dev/dev1.json && test -s /root/dev/dev2.json'
check "acl add: dev2 publishes, dev1 subscribes to and reads smoke/#" \
	xs 'mqttsec-acl acl add allow pub dev2 "smoke/#" && mqttsec-acl acl add allow sub dev1 "smoke/#" &&
		mqttsec-acl acl add allow read dev1 "smoke/#"'
# files in the database's folder stay in the group, never open to others
check "nothing in /var/lib/mqttsec is readable by others, everything is in group mqttsec" \
	xs 'test -z "$(find /var/lib/mqttsec \( -perm -o=r -o ! -group mqttsec \) -print)"'
sleep 2 # ACL changes reach the running broker within a second (docs/acl.md)

# a retained message, so that the subscriber needs no start-up race
msg="deb-smoke-$$"
check "mosquitto_pub with dev2's TOTP code (retained)" \
	xs "mosquitto_pub -h 127.0.0.1 -p $PORT -i dev2 -u dev2 -P \"\$(mqttsec-device -c /root/dev/dev2.json totp)\" \
		-q 1 -r -t smoke/x -m $msg"
got=$(x mqttsec-device -c /root/dev/dev1.json subscribe -h 127.0.0.1 -p "$PORT" -t 'smoke/#' -C 1 -W 60 2>>"$log")
if [ "$got" = "$msg" ]; then
	ok "mqttsec-device subscribe (dev1) receives it"
else
	not_ok "mqttsec-device subscribe (dev1) receives it (got '$got')"
	broker_log >>"$log"
fi
# a wrong code: the right one plus one (the odds it is valid are ~1e-6)
wrong_refused() {
	local out
	out=$(xs 'c=$(mqttsec-device -c /root/dev/dev2.json totp) && w=$(printf "%06d" $(( (1$c - 1000000 + 1) % 1000000 ))) &&
		mosquitto_pub -h 127.0.0.1 -p '"$PORT"' -i dev2 -u dev2 -P "$w" -q 1 -t smoke/y -m nope' 2>&1)
	rc=$?
	echo "exit $rc: $out"
	[ "$rc" -ne 0 ] && grep -qi 'not authori[sz]ed\|bad user name or password' <<<"$out"
}
check "a wrong TOTP code is refused" wrong_refused
check "an unknown device is refused" \
	xs "! mosquitto_pub -h 127.0.0.1 -p $PORT -i ghost -u ghost -P 123456 -t smoke/y -m nope"
check "no password is refused (allow_anonymous false)" \
	xs "! mosquitto_pub -h 127.0.0.1 -p $PORT -t smoke/y -m nope"
check "the broker is still up after the refusals" \
	xs 'p=$(cat /run/mosquitto/mosquitto.pid) && [ -d /proc/$p ]'
check "the payload is not in the broker's log" \
	xs "! grep -q '$msg' /var/log/mosquitto/mosquitto.log"

## stop as the unit would (SIGTERM), then remove and purge
stop_broker() {
	xs 'p=$(cat /run/mosquitto/mosquitto.pid) && kill $p && i=0 &&
		while [ -d /proc/$p ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done && [ ! -d /proc/$p ]'
}
check "mosquitto stops on SIGTERM" stop_broker

if timeout 300 docker exec -e DEBIAN_FRONTEND=noninteractive "$CTR" \
	apt-get remove -y -q mqttsec-broker-plugin mqttsec-gateway mqttsec-console mqttsec-tools mqttsec-common \
	>"$tmp/remove.log" 2>&1; then
	ok "apt-get remove of the five packages"
else
	tail -n 20 "$tmp/remove.log" >>"$log"
	not_ok "apt-get remove of the five packages"
fi
check "remove: binaries, plugin and units are gone" \
	xs '! ls /usr/bin/mqttsec-* /usr/lib/*/mqttsec/mqttsec_plugin.so /lib/systemd/system/mqttsec-* /lib/systemd/system/mosquitto.service.d/mqttsec.conf 2>/dev/null'
check "remove: the examples (conffiles), the key and the database stay" \
	xs 'test -f /etc/mqttsec/mosquitto-mqttsec.conf.example && test -f /etc/mqttsec/master.key && test -f /var/lib/mqttsec/mqttsec.db'
check "remove: mosquitto stays installed" xs 'dpkg-query -W -f "\${db:Status-Status}" mosquitto | grep -qx installed'
if timeout 300 docker exec -e DEBIAN_FRONTEND=noninteractive "$CTR" \
	apt-get purge -y -q mqttsec-broker-plugin mqttsec-gateway mqttsec-console mqttsec-tools mqttsec-common \
	>"$tmp/purge.log" 2>&1; then
	ok "apt-get purge of the five packages"
else
	tail -n 20 "$tmp/purge.log" >>"$log"
	not_ok "apt-get purge of the five packages"
fi
check "purge: no package left in dpkg's database" \
	xs '! dpkg-query -W -f "\${Package} \${db:Status-Abbrev}\n" "mqttsec-*" 2>/dev/null | grep .'
check "purge: the examples are gone" xs '! ls /etc/mqttsec/*.example 2>/dev/null'
check "purge: the master key and the database are kept (docs/install.md)" \
	xs 'test -f /etc/mqttsec/master.key && test -f /var/lib/mqttsec/mqttsec.db'
# Debian's mosquitto without our snippet starts again
x rm -f /etc/mosquitto/conf.d/mqttsec.conf >>"$log" 2>&1
# a fresh log, its owner kept (mosquitto writes it after dropping root)
xs 'if [ -f /var/log/mosquitto/mosquitto.log ]; then : >/var/log/mosquitto/mosquitto.log; fi' >/dev/null 2>&1
if timeout 60 docker exec -d "$CTR" sh -c "$start_broker" >>"$log" 2>&1 && broker_up 60; then
	ok "Debian's mosquitto starts again once the snippet is removed"
else
	broker_log >>"$log"
	not_ok "Debian's mosquitto starts again once the snippet is removed"
fi

[ "$failed" -eq 0 ] || show_log 40
finish
