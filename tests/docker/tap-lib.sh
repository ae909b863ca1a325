# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# tests/docker/tap-lib.sh - what the container tests (run.sh, deb-smoke.sh)
# share: TAP lines, the summary line, and finding a container engine
# (docs/docker.md, Testing).  Sourced, not run.  The caller sets before
# sourcing: TAP_NAME (the summary's name, e.g. "docker test"), t_start,
# n=0, failed=0, tmp (its scratch folder, removed by skip_all) and log
# (where check() writes the command's output).

ok() {
	n=$((n + 1))
	echo "ok $n - $*"
}
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $*"
}
# check DESCRIPTION COMMAND...: one test line for one command
check() {
	local d=$1
	shift
	if "$@" >>"$log" 2>&1; then ok "$d"; else not_ok "$d"; fi
}
diag() {
	printf '# %s\n' "$@"
}
show_log() {
	[ -s "$log" ] && tail -n "${1:-30}" "$log" | sed 's/^/#   /'
}
# finish: the plan, the counts and the PASS/FAIL line; exits 0 or 1
finish() {
	echo "1..$n"
	echo "$((n - failed)) passed, $failed failed"
	if [ "$failed" -eq 0 ] && [ "$n" -gt 0 ]; then
		echo "$TAP_NAME: PASS ($n tests, $(($(date +%s) - t_start)) s)"
		exit 0
	fi
	echo "$TAP_NAME: FAIL ($failed of $n failed, $(($(date +%s) - t_start)) s)"
	exit 1
}
# bail REASON: one failed line, the end of the log, finish
bail() {
	not_ok "$*"
	show_log 40
	finish
}
# skip_all REASON: the whole test is skipped (exit 77)
skip_all() {
	echo "1..0 # SKIP $*"
	echo "$TAP_NAME: SKIPPED ($*)"
	rm -rf "$tmp"
	exit 77
}

# container_engine: a running Docker, else the MQS_CONTAINER_ENV helper
# (its exports are evaluated here); sets engine to a description of it, or
# skips the whole test with the reason.
container_engine() {
	local helper envs
	engine="docker"
	docker info >/dev/null 2>&1 && return 0
	helper=${MQS_CONTAINER_ENV:-}
	[ -n "$helper" ] || skip_all "no container engine: 'docker info' fails and MQS_CONTAINER_ENV is not set"
	[ -f "$helper" ] || skip_all "no container engine: 'docker info' fails and $helper is missing"
	[ "$(id -u)" -eq 0 ] || skip_all "no container engine: 'docker info' fails and $helper needs root"
	if ! envs=$(bash "$helper" 2>"$tmp/helper.log"); then
		tail -n 5 "$tmp/helper.log" | sed 's/^/# /'
		skip_all "no container engine: $helper failed"
	fi
	eval "$envs"
	docker info >/dev/null 2>&1 || skip_all "no container engine: 'docker info' fails after $helper"
	engine="MQS_CONTAINER_ENV helper ($helper)"
}
