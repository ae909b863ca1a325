#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 88-ops-install.sh - `make install DESTDIR=...` lays out the systemd units, the
# mosquitto.service drop-in, tmpfiles.d, the example configuration and the man
# pages (docs/install.md); systemd-analyze verify accepts the units; every man
# page renders without warnings (man --warnings, groff -ww).
. "$(dirname "$0")/lib.sh"

need_cmd make groff
[ -f "$top_builddir/Makefile" ] || skip_all "no configured build dir $top_builddir"

root=$TEST_TMP/root
# a make of its own (no jobserver of the make check that runs us); the build is
# done already, so this only copies
do_install() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make -s -C "$top_builddir" install DESTDIR="$root" >"$TEST_TMP/install.log" 2>&1
}
ok "make install DESTDIR" do_install || show_log install

# the installation directories, as make expanded them
dirs=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" --no-print-directory \
	-f Makefile -f - ops-print-dirs <<'MK'
ops-print-dirs:
	@echo "bindir=$(bindir)"; echo "sysconfdir=$(sysconfdir)"; echo "mandir=$(mandir)"
	@echo "unitdir=$(systemdsystemunitdir)"; echo "tmpfilesdir=$(tmpfilesdir)"
	@echo "pkglibdir=$(pkglibdir)"; echo "localstatedir=$(localstatedir)"
MK
)
eval "$dirs"
: "${unitdir:=}"
[ -n "$unitdir" ] || skip_all "configured with --with-systemdsystemunitdir=no: no units to check"
diag "units in $unitdir, examples in $sysconfdir/mqttsec"

units="mqttsec-gateway.service mqttsec-console.service mqttsec-backup.service
	mqttsec-backup.timer mqttsec-gateway-backup.service mqttsec-gateway-backup.timer"
for u in $units; do
	ok "unit $u installed" test -f "$root$unitdir/$u"
done
ok "mosquitto.service drop-in installed" test -f "$root$unitdir/mosquitto.service.d/mqttsec.conf"
ok "tmpfiles.d/mqttsec.conf installed" test -f "$root$tmpfilesdir/mqttsec.conf"
for e in mosquitto-mqttsec.conf.example gateway.conf.example console.conf.example; do
	ok "example $e installed" test -f "$root$sysconfdir/mqttsec/$e"
done
mans="man1/mqttsec-acl.1 man1/mqttsec-device.1 man1/mqttsec-gateway.1 man1/mqttsec-console.1
	man8/mqttsec_plugin.8"
for m in $mans; do
	ok "man page $m installed" test -f "$root$mandir/$m"
done

# every @name@ was substituted, with the configured directories
left=$(grep -rl '@[a-zA-Z_]*@' "$root$unitdir" "$root$tmpfilesdir" "$root$sysconfdir/mqttsec" \
	"$root$mandir/man8" 2>/dev/null || true)
is "$left" "" "no @name@ left in the installed files"
ok "gateway unit runs $bindir/mqttsec-gateway" \
	grep -q "^ExecStart=$bindir/mqttsec-gateway -c $sysconfdir/mqttsec/gateway.conf run\$" \
	"$root$unitdir/mqttsec-gateway.service"
ok "mosquitto example loads $pkglibdir/mqttsec_plugin.so" \
	grep -q "^plugin $pkglibdir/mqttsec_plugin.so\$" "$root$sysconfdir/mqttsec/mosquitto-mqttsec.conf.example"
for u in mqttsec-gateway.service mqttsec-console.service; do
	for k in 'User=mqttsec-' 'Group=mqttsec$' 'UMask=0007' 'StateDirectory=' 'NoNewPrivileges=yes' \
		'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' 'RestrictAddressFamilies=' \
		'CapabilityBoundingSet=$'; do
		ok "$u: $k" grep -q "^$k" "$root$unitdir/$u"
	done
done

# the example mosquitto.conf snippet is accepted by the plugin, pointed at a database
if [ -x "$MOSQUITTO_BIN" ] && [ -f "$PLUGIN_SO" ] && [ -x "$ACL_BIN" ]; then
	MQTTSEC_DB=$TEST_TMP/mqttsec.db MQTTSEC_MASTER_KEY_FILE=$TEST_TMP/master.key \
		"$ACL_BIN" init >/dev/null 2>&1
	port=$(free_port)
	sed -e "s|^listener 8883|listener $port 127.0.0.1|" \
		-e "s|^plugin .*|plugin $PLUGIN_SO|" \
		-e "s|^plugin_opt_db_file .*|plugin_opt_db_file $TEST_TMP/mqttsec.db|" \
		-e "s|^plugin_opt_master_key_file .*|plugin_opt_master_key_file $TEST_TMP/master.key|" \
		"$root$sysconfdir/mqttsec/mosquitto-mqttsec.conf.example" >"$TEST_TMP/mosq.conf"
	# as root, Mosquitto would drop to its user "mosquitto", who cannot read $TEST_TMP
	if [ "$(id -u)" -eq 0 ]; then
		echo "user root" >>"$TEST_TMP/mosq.conf"
	fi
	# a broker started here directly needs the sanitizer runtime the plugin links
	san_preload=$(_san_preload "$PLUGIN_SO")
	start_bg mosq env ${san_preload:+LD_PRELOAD="$san_preload"} "$MOSQUITTO_BIN" -c "$TEST_TMP/mosq.conf"
	if wait_port "$port" 30; then
		pass "mosquitto starts with the example snippet"
	else
		fail "mosquitto starts with the example snippet"
		show_log mosq
	fi
	stop_bg mosq
else
	skip "mosquitto with the example snippet" "no mosquitto, plugin or mqttsec-acl"
fi

# systemd-analyze verify: copies of the installed units whose ExecStart= points into
# the DESTDIR tree (so the binaries are checked to exist); unknown keys and bad values
# are warnings with exit 0, so any output line is a finding
if ! command -v systemd-analyze >/dev/null 2>&1; then
	skip "systemd-analyze verify" "no systemd-analyze"
else
	mkdir -p "$TEST_TMP/units"
	paths=
	for u in $units; do
		sed "s|$bindir/|$root$bindir/|g" "$root$unitdir/$u" >"$TEST_TMP/units/$u"
		paths="$paths $TEST_TMP/units/$u"
	done
	verify_rc=0
	# shellcheck disable=SC2086 # one path each
	SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no $paths \
		>"$TEST_TMP/verify.log" 2>&1 || verify_rc=$?
	if grep -q -e 'Failed to initialize manager' -e 'System has not been booted' \
		-e 'Failed to setup working directory' "$TEST_TMP/verify.log"; then
		skip "systemd-analyze verify" "cannot run in this container: $(head -n 1 "$TEST_TMP/verify.log")"
	else
		is "$verify_rc" 0 "systemd-analyze verify exits 0"
		is "$(cat "$TEST_TMP/verify.log")" "" "systemd-analyze verify: no finding"
	fi
fi

# man pages: no warning from man or groff (the installed ones and the sources)
for m in $mans; do
	f=$root$mandir/$m
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$f" 2>&1 >/dev/null)
	is "$out" "" "man --warnings -l $m"
	out=$(groff -ww -z -man "$f" 2>&1)
	is "$out" "" "groff -ww $m"
done

done_testing
