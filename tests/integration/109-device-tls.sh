#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 109-device-tls.sh - mqttsec-device over TLS (docs/broker-plugin.md, "TLS"):
# a CA and certificates made with openssl at test time; mosquitto with the
# plugin and three TLS listeners (a certificate for 127.0.0.1/localhost, one
# for another name, one that requires a client certificate).  publish and
# subscribe with --cafile carry a sealed message that arrives opened; a
# wrong CA and a host name mismatch are refused with a clear error (the
# mismatch is accepted with --insecure, which warns); --cert/--key work
# against require_certificate; bad option combinations are usage errors.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh" # the shared plugin helpers
need_file "$DEVICE_BIN"
need_cmd openssl

D=$DEVICE_BIN
T=$TEST_TMP/tls
mkdir -p "$T"

# mkcert NAME CA SUBJECT [SAN]: a P-256 key and a certificate signed by CA
# (CA itself when CA = NAME: self-signed, a CA certificate).
mkcert() {
	local name=$1 ca=$2 subj=$3 san=${4:-}
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subj" \
		-keyout "$T/$name.key" -out "$T/$name.csr" >/dev/null 2>&1 || return 1
	if [ "$ca" = "$name" ]; then
		printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n' >"$T/$name.ext"
		openssl x509 -req -in "$T/$name.csr" -signkey "$T/$name.key" -days 2 \
			-extfile "$T/$name.ext" -out "$T/$name.crt" >/dev/null 2>&1 || return 1
	else
		{
			echo "basicConstraints=CA:FALSE"
			[ -n "$san" ] && echo "subjectAltName=$san"
		} >"$T/$name.ext"
		openssl x509 -req -in "$T/$name.csr" -CA "$T/$ca.crt" -CAkey "$T/$ca.key" \
			-CAcreateserial -days 2 -extfile "$T/$name.ext" -out "$T/$name.crt" \
			>/dev/null 2>&1 || return 1
	fi
	chmod 600 "$T/$name.key"
}
mkcert ca ca /CN=mqttsec-test-ca || bail_out "openssl cannot make the CA"
mkcert other-ca other-ca /CN=another-ca || bail_out "openssl cannot make the other CA"
mkcert server ca /CN=127.0.0.1 "IP:127.0.0.1,DNS:localhost" ||
	bail_out "openssl cannot make the server certificate"
mkcert elsewhere ca /CN=mqtt.example "DNS:mqtt.example" ||
	bail_out "openssl cannot make the second server certificate"
mkcert client ca /CN=sensor || bail_out "openssl cannot make the client certificate"

L1=$(free_port) # the right certificate
L2=$(free_port) # a certificate for another name
L3=$(free_port) # the right certificate, a client certificate required
start_plugin_broker "plugin_opt_clientid_policy prefix" \
	"listener $L1 127.0.0.1" "cafile $T/ca.crt" "certfile $T/server.crt" \
	"keyfile $T/server.key" \
	"listener $L2 127.0.0.1" "cafile $T/ca.crt" "certfile $T/elsewhere.crt" \
	"keyfile $T/elsewhere.key" \
	"listener $L3 127.0.0.1" "cafile $T/ca.crt" "certfile $T/server.crt" \
	"keyfile $T/server.key" "require_certificate true"
for p in "$L1" "$L2" "$L3"; do
	wait_port "$p" || bail_out "the tls listener on $p did not start"
done
# enrolled once the plugin runs: the credentials say connect_tokens, so
# every run connects at once (no wait for a TOTP step)
change topic protect 'sec/#' || bail_out "cannot protect sec/#"
device sensor
device reader
change acl add allow all sensor 'sec/#' || bail_out "cannot add a rule"
change acl add allow all reader 'sec/#' || bail_out "cannot add a rule"
acl key export 'sec/#' --for reader --out "$TEST_TMP/reader.json" >/dev/null ||
	bail_out "cannot export the topic key to the reader"
S=$TEST_TMP/sensor.json
R=$TEST_TMP/reader.json
CA=$T/ca.crt

## publish and subscribe over TLS with --cafile
_subacks_ge() {
	[ "$(grep -c 'Sending SUBACK to' "$MOSQ_LOG")" -ge "$1" ]
}
start_bg sub "$D" -c "$R" subscribe -h 127.0.0.1 -p "$L1" --cafile "$CA" -t 'sec/#' -C 1 \
	-v -W 120
wait_for 20 _subacks_ge 1 || bail_out "the subscriber did not subscribe over tls"
ok "publish over tls with --cafile" "$D" -c "$S" publish -h 127.0.0.1 -p "$L1" --cafile "$CA" \
	-t sec/a -m 'hello over tls' -q 1
ok "the subscriber got it and ended" wait_for 20 eval '! bg_alive sub'
is "$(grep -v '^mqttsec-device' "$TEST_TMP/sub.log")" "sec/a sensor hello over tls" \
	"the message arrived sealed and was opened (topic, origin, payload)"
ok "the broker saw the connections on the tls listener" \
	grep -q "New connection from 127.0.0.1:[0-9]* on port $L1" "$MOSQ_LOG"
ok "localhost matches the certificate too, --tls-version tlsv1.3" \
	"$D" -c "$S" publish -h localhost -p "$L1" --cafile "$CA" --tls-version tlsv1.3 -t sec/b -m x
ok "--capath: a folder of CA certificates" sh -c "mkdir -p '$T/capath' &&
	cp '$CA' '$T/capath/' && openssl rehash '$T/capath' >/dev/null 2>&1 &&
	'$D' -c '$S' publish -h 127.0.0.1 -p '$L1' --capath '$T/capath' -t sec/c -m x"

## a wrong CA: refused, clear error
rc=0
"$D" -c "$S" publish -h 127.0.0.1 -p "$L1" --cafile "$T/other-ca.crt" -t sec/a -m x \
	>/dev/null 2>"$TEST_TMP/wrongca.err" || rc=$?
is "$rc" 69 "a broker certificate from another CA: EX_UNAVAILABLE"
ok "... with a clear error" grep -q "tls handshake failed: certificate verify failed (the broker's certificate is not signed" \
	"$TEST_TMP/wrongca.err"
diag "wrong CA: $(cat "$TEST_TMP/wrongca.err")"

## a host name mismatch: refused; accepted with --insecure, which warns
rc=0
"$D" -c "$S" publish -h 127.0.0.1 -p "$L2" --cafile "$CA" -t sec/a -m x \
	>/dev/null 2>"$TEST_TMP/mismatch.err" || rc=$?
is "$rc" 69 "a certificate for another host name: EX_UNAVAILABLE"
ok "... with a clear error" grep -q "tls handshake failed: host name verification failed (the broker's certificate is not for host 127.0.0.1" \
	"$TEST_TMP/mismatch.err"
diag "host name mismatch: $(cat "$TEST_TMP/mismatch.err")"
ok "--insecure accepts it" sh -c "'$D' -c '$S' publish -h 127.0.0.1 -p '$L2' --cafile '$CA' \
	--insecure -t sec/a -m x 2>'$TEST_TMP/insecure.err'"
ok "... and warns on stderr" grep -q "warning: --insecure" "$TEST_TMP/insecure.err"

## client certificates (require_certificate true)
ok "--cert and --key against require_certificate" "$D" -c "$S" publish -h 127.0.0.1 \
	-p "$L3" --cafile "$CA" --cert "$T/client.crt" --key "$T/client.key" -t sec/a -m x
rc=0
"$D" -c "$S" publish -h 127.0.0.1 -p "$L3" --cafile "$CA" -t sec/a -m x \
	>/dev/null 2>"$TEST_TMP/nocert.err" || rc=$?
is "$rc" 69 "no client certificate where one is required: EX_UNAVAILABLE"
diag "no client certificate: $(cat "$TEST_TMP/nocert.err")"
ok "... with a hint" grep -q "tls handshake failed: .*client certificate.*--cert and --key" \
	"$TEST_TMP/nocert.err"

## keys fetch connects over tls too (conn.c is shared)
ok "keys fetch over tls" "$D" -c "$R" keys fetch -h 127.0.0.1 -p "$L1" --cafile "$CA" -W 60 \
	'sec/#'

## usage errors and defaults
usage_rc() {
	local rc=0
	"$D" -c "$S" publish -t sec/a -m x "$@" >/dev/null 2>"$TEST_TMP/usage.err" || rc=$?
	echo "$rc"
}
is "$(usage_rc -p "$L3" --cafile "$CA" --cert "$T/client.crt")" 64 "--cert without --key: usage error"
is "$(usage_rc -p "$L3" --cafile "$CA" --key "$T/client.key")" 64 "--key without --cert: usage error"
is "$(usage_rc -p "$L1" --insecure)" 64 "--insecure without a CA: usage error"
rc=0
"$D" -c "$S" publish --split sec/c1,sec/c2 --threshold 2 -t sec/r -m x -p "$L3" --cafile "$CA" \
	--cert "$T/client.crt" >/dev/null 2>&1 || rc=$?
is "$rc" 64 "publish --split: --cert without --key is a usage error too"
rc=0
"$D" -c "$R" join --channels sec/c1,sec/c2 --threshold 2 -p "$L3" --cafile "$CA" \
	--cert "$T/client.crt" >/dev/null 2>&1 || rc=$?
is "$rc" 64 "join takes the tls options: --cert without --key is a usage error"
rc=0
"$D" -c "$R" keys fetch -p "$L1" --insecure 'sec/#' >/dev/null 2>&1 || rc=$?
is "$rc" 64 "keys fetch takes the tls options: --insecure without a CA is a usage error"
is "$(usage_rc -p "$L1" --cafile "$CA" --tls-version tlsv1.0)" 64 "--tls-version tlsv1.0: usage error"
is "$(usage_rc -p "$L1" --cafile "$T/nonexistent.crt")" 66 "an unreadable --cafile: EX_NOINPUT"
ok "... named in the error" grep -q "cannot read --cafile .*nonexistent.crt" "$TEST_TMP/usage.err"
"$D" -c "$S" publish --cafile "$CA" -t sec/a -m x >/dev/null 2>"$TEST_TMP/port.err"
ok "with a CA and no -p the port is 8883" grep -q "127.0.0.1:8883" "$TEST_TMP/port.err"
ok "the plain listener still works without tls options" \
	"$D" -c "$S" publish -h 127.0.0.1 -p "$MOSQ_PORT" -t sec/a -m x
stop_bg mosquitto
done_testing
