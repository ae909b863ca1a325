#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# tests/docker/run.sh - build the image, bring docker/docker-compose.yml up on
# loopback, enrol a device through `exec`, publish an alert from the host with
# a TOTP code, see it delivered to the gateway's spool, see the console answer
# its sign-in page inside the compose network, tear everything down.
#
# Uses a running Docker when `docker info` works, else, as root, the script
# MQS_CONTAINER_ENV names: it prepares an engine serving the Docker API and
# prints the variables to export (docs/docker.md, Testing).
# Works with `docker compose` or `docker-compose`.  Prints TAP, a line
# "N passed, N failed" and a last line "docker test: PASS" or "docker test:
# FAIL"; exit 0 pass, 1 fail, 77 skipped (no container engine: the reason is
# printed).  Takes about 40 s with a cached image, 2-3 minutes without.
#
# Environment: MQTTSEC_TEST_IMAGE (tag to build, mqttsec:test; its build
# stage is tagged mqttsec:test-build; the images of the previous run go),
# DOCKER_TEST_KEEP=1 (leave the stack up for a look; tear down by hand),
# MQS_DOCKER_BUILD_TIMEOUT (seconds per build step, 600; more on a busy machine).
# Needs on the host: python3, mosquitto_pub (mosquitto-clients), oathtool,
# curl.
# shellcheck disable=SC2317 # functions called through check()/trap
set -u
cd "$(dirname "$0")/../.." || exit 1
top=$(pwd)
IMAGE=${MQTTSEC_TEST_IMAGE:-mqttsec:test}
PROJECT=mqttsectest$$
CONF=/mosquitto/config/gateway.conf
BUILD_TIMEOUT=${MQS_DOCKER_BUILD_TIMEOUT:-600} # a cached build takes seconds; an uncached one several minutes
UP_TIMEOUT=120

t_start=$(date +%s)
n=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mqttsec-docker.XXXXXX") || exit 1
chmod 700 "$tmp"
log=$tmp/log
ticker=

TAP_NAME="docker test"
# shellcheck source=tests/docker/tap-lib.sh
. "$top/tests/docker/tap-lib.sh"

## a container engine: a running Docker, else the MQS_CONTAINER_ENV helper
container_engine
if docker compose version >/dev/null 2>&1; then
	compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
	compose_cmd=(docker-compose)
else
	skip_all "no 'docker compose' and no docker-compose"
fi
# compose ARGS...: the test's project, bounded in time
compose() {
	MQTTSEC_IMAGE=$IMAGE MQTTSEC_BIND=127.0.0.1 MQTTSEC_PORT=$port \
		timeout "${COMPOSE_TIMEOUT:-90}" "${compose_cmd[@]}" -p "$PROJECT" \
		-f "$top/docker/docker-compose.yml" "$@"
}
# one_off ARGS...: docker run ARGS, then remove the container and its
# anonymous volumes (not --rm: podman's Docker API then loses the exit status)
one_off() {
	local name=${PROJECT}_oneoff rc
	timeout 60 docker run --name "$name" "$@"
	rc=$?
	docker rm -f -v "$name" >/dev/null 2>&1
	return "$rc"
}
podman=0
if docker version 2>/dev/null | grep -qi podman; then podman=1; fi
diag "engine: $engine; compose: ${compose_cmd[*]}; $(docker version --format 'server {{.Server.Version}}' 2>/dev/null)"
for tool in python3 mosquitto_pub oathtool; do
	command -v "$tool" >/dev/null 2>&1 ||
		skip_all "$tool is missing on the host (apt-get install python3 mosquitto-clients oathtool)"
done

## a free loopback port
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$ticker" ]; then
		kill "$ticker" 2>/dev/null
		wait "$ticker" 2>/dev/null
	fi
	if [ "${DOCKER_TEST_KEEP:-0}" = 1 ]; then
		echo "# kept: ${compose_cmd[*]} -p $PROJECT -f docker/docker-compose.yml down -v"
	else
		compose down -v -t 20 >>"$log" 2>&1 ||
			echo "# warning: compose down failed (project $PROJECT)"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

## the image
# the build stage is tagged too (IMAGE-build), so that the images of the
# previous run can be removed without losing the build cache
t0=$(date +%s)
old_ids=$(docker image inspect -f '{{.Id}}' "$IMAGE" "$IMAGE-build" 2>/dev/null)
if timeout "$BUILD_TIMEOUT" docker build -q -f docker/Dockerfile --target build \
	-t "$IMAGE-build" . >>"$log" 2>&1 &&
	timeout "$BUILD_TIMEOUT" docker build -q -f docker/Dockerfile -t "$IMAGE" . >>"$log" 2>&1; then
	ok "image builds ($(($(date +%s) - t0)) s)"
else
	bail "image builds (docker build -f docker/Dockerfile .)"
fi
new_ids=$(docker image inspect -f '{{.Id}}' "$IMAGE" "$IMAGE-build" 2>/dev/null)
for id in $old_ids; do
	grep -qx "$id" <<<"$new_ids" || docker rmi "$id" >/dev/null 2>&1
done
diag "image $IMAGE: $(docker image inspect -f '{{.Size}}' "$IMAGE" 2>/dev/null | awk '{printf "%.0f MB", $1 / 1e6}')"
check "no compiler in the image" \
	one_off --entrypoint sh "$IMAGE" -c '! command -v cc && ! command -v gcc && ! command -v c99'
uid=$(one_off "$IMAGE" id -u 2>>"$log")
if [ "$uid" = 1883 ]; then ok "the image runs as uid 1883 (mosquitto)"; else not_ok "the image runs as uid 1883 (got '$uid')"; fi

# a group/world-readable master key stops the broker with a clear message
# shellcheck disable=SC2016 # expanded in the container
out=$(one_off --entrypoint sh "$IMAGE" -c \
	'mqttsec-acl init >/dev/null && chmod 644 "$MQTTSEC_MASTER_KEY_FILE" &&
	 exec docker-entrypoint.sh mosquitto -c /mosquitto/config/mosquitto.conf' 2>&1)
rc=$?
echo "$out" >>"$log"
if [ "$rc" -ne 0 ] && grep -q 'readable by group or others' <<<"$out"; then
	ok "a master key readable by others is refused (exit $rc)"
else
	not_ok "a master key readable by others is refused (exit $rc: $out)"
fi

## podman without systemd schedules no healthchecks: run them ourselves
if [ "$podman" = 1 ] && command -v podman >/dev/null 2>&1; then
	diag "podman: running the healthchecks every second (no systemd timers here)"
	(
		while :; do
			for c in $(podman ps -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null); do
				podman healthcheck run "$c" >/dev/null 2>&1
			done
			sleep 1
		done
	) &
	ticker=$!
fi

health() {
	docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' \
		"$(compose ps -q "$1" 2>/dev/null)" 2>/dev/null
}
# wait_healthy SECONDS SERVICE...
wait_healthy() {
	local end=$(($(date +%s) + $1)) s all
	shift
	while :; do
		all=1
		for s in "$@"; do
			[ "$(health "$s")" = healthy ] || all=0
		done
		[ "$all" = 1 ] && return 0
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.5
	done
}

## the stack
t0=$(date +%s.%N)
if COMPOSE_TIMEOUT=$UP_TIMEOUT compose up -d --no-build >>"$log" 2>&1; then
	ok "compose up -d"
else
	compose logs --no-color >>"$log" 2>&1
	bail "compose up -d"
fi
if wait_healthy "$UP_TIMEOUT" broker gateway; then
	ok "broker and gateway healthy ($(python3 -c "import time; print(round(time.time() - $t0, 1))") s after compose up)"
else
	compose ps >>"$log" 2>&1
	compose logs --no-color >>"$log" 2>&1
	bail "broker and gateway healthy (broker $(health broker), gateway $(health gateway))"
fi

x() {
	compose exec -T "$@"
}
check "exec runs as the broker's user (uid 1883)" test "$(x broker id -u)" = 1883
check "master key is 0600 and owned by mosquitto" \
	test "$(x broker stat -c '%a %U' /mosquitto/data/master.key)" = "600 mosquitto"
gateway_enrolled() {
	x broker mqttsec-acl device list | grep -q '^gateway '
}
check "the gateway's device was enrolled on first start" gateway_enrolled

## enrol dev1 through exec, let it publish alerts/#
creds=$tmp/dev1.json
if x broker mqttsec-acl device add dev1 >"$creds" 2>>"$log" && [ -s "$creds" ]; then
	ok "device add dev1 through exec prints credentials"
else
	bail "device add dev1 through exec prints credentials"
fi
check "acl add allow pub dev1 alerts/#" x broker mqttsec-acl acl add allow pub dev1 'alerts/#'
x gateway mqttsec-gateway -c "$CONF" group add ops >>"$log" 2>&1
check "gateway recipient add alice (group ops)" \
	x gateway mqttsec-gateway -c "$CONF" recipient add alice --email alice@example.com --group ops
sleep 2 # ACL changes reach the running broker within a second

## publish from the host with the TOTP code
read -r secret digits period alg < <(python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))["totp"]
print(t["secret"], t.get("digits", 6), t.get("period", 30), t.get("algorithm", "SHA1").lower())' "$creds")
code=$(oathtool --totp="${alg:-sha1}" -d "${digits:-6}" -s "${period:-30}s" -b "$secret" 2>>"$log")
alert_id="a-docker-$$"
alert='{"id": "'$alert_id'", "severity": "critical", "group": "ops", "title": "Server room temperature", "body": "41.5 C in room 3", "channels": ["email"]}'
check "mosquitto_pub from the host with the TOTP code" \
	timeout 20 mosquitto_pub -h 127.0.0.1 -p "$port" -i dev1 -u dev1 -P "$code" -q 1 -t alerts/x -m "$alert"

# spooled SECONDS ID: a spool file of the gateway names the alert
spooled() {
	local end=$(($(date +%s) + $1))
	while :; do
		x gateway sh -c "grep -ls 'Message-Id: $2' /mosquitto/data/spool/*" >>"$log" 2>&1 && return 0
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 1
	done
}
if spooled 60 "$alert_id"; then
	ok "the alert is delivered to the gateway's spool"
else
	{
		x gateway sh -c 'ls -la /mosquitto/data /mosquitto/data/spool'
		x gateway mqttsec-gateway -c "$CONF" outbox
		compose logs --no-color --tail 30
	} >>"$log" 2>&1
	not_ok "the alert is delivered to the gateway's spool"
	show_log 40
fi

## mqttsec-device from the image (inside the broker container)
x broker mqttsec-acl device add dev2 --out /tmp/dev2.json >>"$log" 2>&1
x broker mqttsec-acl acl add allow pub dev2 'alerts/#' >>"$log" 2>&1
sleep 2
alert2_id="a-docker-dev-$$"
alert2='{"id": "'$alert2_id'", "severity": "warning", "group": "ops", "title": "Door", "body": "open", "channels": ["email"]}'
check "mqttsec-device publish in the container" \
	x broker mqttsec-device -c /tmp/dev2.json publish -h 127.0.0.1 -p 1883 -q 1 -t alerts/door -m "$alert2"
if spooled 60 "$alert2_id"; then
	ok "the alert of mqttsec-device is delivered to the spool"
else
	not_ok "the alert of mqttsec-device is delivered to the spool"
	show_log 20
fi

## the console: not published on the host, answers inside the network
if wait_healthy "$UP_TIMEOUT" console; then
	ok "console healthy"
else
	compose logs --no-color console >>"$log" 2>&1
	not_ok "console healthy ($(health console))"
fi
check "the console's port is not published on the host" \
	test -z "$(docker port "$(compose ps -q console)" 2>/dev/null)"
console_ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' \
	"$(compose ps -q console)" 2>>"$log" | awk '{print $1}')
diag "console at $console_ip:8443 (bridge address)"
signin_page() {
	curl -sk --max-time 10 "https://$console_ip:8443/signin" | grep -qi 'type="\{0,1\}password'
}
console_answers() {
	local end=$(($(date +%s) + 30))
	while :; do
		signin_page && return 0
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 1
	done
}
if [ -n "$console_ip" ] && console_answers; then
	ok "the console answers its sign-in page over TLS inside the network"
else
	curl -skv --max-time 10 "https://$console_ip:8443/signin" >>"$log" 2>&1
	not_ok "the console answers its sign-in page over TLS inside the network"
fi
clog=$(compose logs --no-color console 2>&1)
enrol=/mosquitto/console/first-admin-totp.txt
if grep -q 'console: its password (shown once' <<<"$clog" && grep -qF "exec console cat $enrol" <<<"$clog"; then
	ok "the first admin's password is printed once, the log says where its TOTP enrolment is"
else
	echo "$clog" | tail -20 >>"$log"
	not_ok "the first admin's password is printed once, the log says where its TOTP enrolment is"
fi
if grep -q 'otpauth://' <<<"$clog"; then
	not_ok "the first admin's TOTP secret (otpauth URI) is not in the log"
else
	ok "the first admin's TOTP secret (otpauth URI) is not in the log"
fi
enrol_private() {
	case $(x console stat -c '%a %U' "$enrol") in
	600\ mosquitto) ;;
	*) return 1 ;;
	esac
	x console cat "$enrol" | grep -q '^otpauth://totp/'
}
check "the TOTP enrolment file is 0600, owned by mosquitto, holds the otpauth URI" enrol_private
console_db_private() {
	case $(x console stat -c '%a %U' /mosquitto/console/console.db) in
	6[04]0\ mosquitto) return 0 ;;
	esac
	return 1
}
check "the console's database is not world-readable, owned by mosquitto" console_db_private

## docker stop is clean; a restart keeps everything (no new gateway device)
# the gateway first, while it is connected: when the broker is away it may
# sit in a DNS lookup (libmosquitto resolves synchronously) for a while
stopped_cleanly() {
	local code
	compose stop -t 20 "$1" >>"$log" 2>&1
	code=$(docker inspect -f '{{.State.ExitCode}}' "$(compose ps -q "$1")" 2>>"$log")
	if [ "$code" = 0 ]; then
		ok "$1 stops cleanly on SIGTERM (exit 0)"
	else
		not_ok "$1 stops cleanly on SIGTERM (exit $code)"
	fi
}
stopped_cleanly console
stopped_cleanly gateway
sum_before=$(x broker sha256sum /mosquitto/gateway/gateway.json 2>>"$log")
rules_before=$(x broker mqttsec-acl acl show 2>>"$log" | grep -c gateway)
stopped_cleanly broker
compose start broker >>"$log" 2>&1
if wait_healthy 60 broker; then ok "broker healthy again after a restart"; else not_ok "broker healthy again after a restart"; fi
check "restart keeps the gateway's credentials" \
	test "$(x broker sha256sum /mosquitto/gateway/gateway.json 2>>"$log")" = "$sum_before"
check "restart adds no ACL rules" \
	test "$(x broker mqttsec-acl acl show 2>>"$log" | grep -c gateway)" = "$rules_before"

compose start console >>"$log" 2>&1
if wait_healthy "$UP_TIMEOUT" console; then ok "console healthy again after a restart"; else not_ok "console healthy again after a restart"; fi
enrol_reminded() {
	compose logs --no-color console 2>&1 | grep -q "console: $enrol still holds"
}
check "a restart reminds to delete the TOTP enrolment file" enrol_reminded

[ "$failed" -eq 0 ] || show_log 40
finish
