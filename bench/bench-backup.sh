#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-backup.sh - time and size of the encrypted backup and restore
# (docs/backup.md) against SQLite's own online backup of the same database
# in the same run (sqlite3 .backup / .restore to a plain file: the
# reference, no encryption, no signature):
#   - a broker database with 10,000 devices and 100,000 ACL rules
#     (bench/bench-plugin-mkdb), mqttsec-acl backup / restore
#   - a gateway database with 100,000 messages and 100,000 outbox rows,
#     mqttsec-gateway backup / restore
# Run from a build dir after "make check TESTS=" (builds bench-plugin-mkdb):
#   ../bench/bench-backup.sh
# Knobs: BENCH_DEVICES (10000), BENCH_RULES (100000), BENCH_OUTBOX (100000),
# BENCH_TRIALS (3; the median is printed), BENCH_KEEP=1 keeps the work dir.
set -eu
export LC_ALL=C

BUILD=${top_builddir:-$PWD}
ACL=$BUILD/acl/mqttsec-acl
GW=$BUILD/gateway/mqttsec-gateway
MKDB=$BUILD/bench/bench-plugin-mkdb
NDEV=${BENCH_DEVICES:-10000}
NRULES=${BENCH_RULES:-100000}
NOUT=${BENCH_OUTBOX:-100000}
TRIALS=${BENCH_TRIALS:-3}

for f in "$ACL" "$GW" "$MKDB"; do
	[ -x "$f" ] || { echo "bench-backup: missing $f (run make check TESTS= first)" >&2; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "bench-backup: needs sqlite3" >&2; exit 1; }
W=$(mktemp -d /tmp/bench-backup.XXXXXX)
[ "${BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT
umask 077

now_ns() { date +%s%N; }
# median of the numbers on stdin
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
# ms CMD...: run CMD, print its wall time in ms
ms() {
	local t0
	t0=$(now_ns)
	"$@" >/dev/null
	echo $((($(now_ns) - t0) / 1000000))
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.2f", a / b }'; }

echo "# bench-backup: $NDEV devices, $NRULES rules; gateway $NOUT outbox rows; median of $TRIALS"
echo "# $(nproc) cpus, $(uname -sr), $(sqlite3 --version | cut -d' ' -f1)"

## broker
BDB=$W/broker.db
BKEY=$W/broker.key
"$MKDB" "$BDB" "$BKEY" "$W/creds.txt" "$NDEV" "$NRULES" 0 >/dev/null
"$ACL" -d "$BDB" -k "$BKEY" backup keygen --out "$W/broker-rk" >/dev/null
PUB=$(sed -n 's/^x25519-public //p' "$W/broker-rk")
bk=() ref=() rs=() rref=()
for _ in $(seq "$TRIALS"); do
	rm -f "$W/ref.db" "$W/b.mqsbak"
	ref+=("$(ms sqlite3 "$BDB" ".backup '$W/ref.db'")")
	bk+=("$(ms "$ACL" -d "$BDB" -k "$BKEY" backup --to "$W/b.mqsbak" --recipient "$PUB")")
	rm -rf "$W/r" && mkdir "$W/r" && cp "$BDB" "$W/r/live.db" && cp "$BKEY" "$W/r/live.key"
	rref+=("$(ms sqlite3 "$W/r/live.db" ".restore '$W/ref.db'")")
	rs+=("$(ms "$ACL" -d "$W/r/live.db" -k "$W/r/live.key" restore --from "$W/b.mqsbak" \
		--key "$W/broker-rk" --force)")
done
b=$(printf '%s\n' "${bk[@]}" | median)
r=$(printf '%s\n' "${ref[@]}" | median)
s=$(printf '%s\n' "${rs[@]}" | median)
sr=$(printf '%s\n' "${rref[@]}" | median)
dbsz=$(stat -c %s "$W/ref.db")
bksz=$(stat -c %s "$W/b.mqsbak")
echo "broker  db ${dbsz} B  backup ${bksz} B ($(ratio "$bksz" "$dbsz")x)"
echo "broker  backup  ${b} ms  sqlite3 .backup ${r} ms  ratio $(ratio "$b" "$r")x"
echo "broker  restore ${s} ms  sqlite3 .restore ${sr} ms  ratio $(ratio "$s" "$sr")x"

## gateway
GDB=$W/gw.db
GKEY=$W/gw.key
echo '{"username": "gateway", "keys": []}' >"$W/creds.json"
cat >"$W/gw.conf" <<CONF
[broker]
host = 127.0.0.1
port = 1
credentials = $W/creds.json

[store]
db = $GDB
master_key_file = $GKEY
spool_dir = $W/spool

[route alerts]
topic = alerts/#
kind = alert
CONF
"$GW" -q -c "$W/gw.conf" group add ops >/dev/null
sqlite3 "$GDB" "BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $NOUT)
INSERT INTO messages (msg_id, route, publisher, topic, kind, severity, grp, title, body, origin,
 received_at) SELECT 'm' || i, 'alerts', 'dev' || (i % 500), 'alerts/room' || (i % 50), 'alert',
 'warning', 'ops', 'Temperature in room ' || (i % 50), 'value ' || i || ' over the limit of 40 C',
 'dev' || (i % 500), 1700000000000 + i FROM n;
INSERT INTO outbox (message, recipient, channel, state, attempts, next_attempt_at, retry_key,
 created_at, updated_at) SELECT id, 'r' || (id % 1000), 'email', 'sent', 1, 0, 'k' || id,
 received_at, received_at FROM messages;
COMMIT;"
"$GW" -q -c "$W/gw.conf" backup keygen --out "$W/gw-rk" >/dev/null
GPUB=$(sed -n 's/^x25519-public //p' "$W/gw-rk")
sed "s|^db = .*|db = $W/g/live.db|; s|^master_key_file = .*|master_key_file = $W/g/live.key|" \
	"$W/gw.conf" >"$W/g.conf"
bk=() ref=() rs=() rref=()
for _ in $(seq "$TRIALS"); do
	rm -f "$W/gref.db" "$W/g.mqsbak"
	ref+=("$(ms sqlite3 "$GDB" ".backup '$W/gref.db'")")
	bk+=("$(ms "$GW" -q -c "$W/gw.conf" backup --to "$W/g.mqsbak" --recipient "$GPUB")")
	rm -rf "$W/g" && mkdir "$W/g" && cp "$GDB" "$W/g/live.db" && cp "$GKEY" "$W/g/live.key"
	rref+=("$(ms sqlite3 "$W/g/live.db" ".restore '$W/gref.db'")")
	rs+=("$(ms "$GW" -q -c "$W/g.conf" restore --from "$W/g.mqsbak" --key "$W/gw-rk" --force)")
done
b=$(printf '%s\n' "${bk[@]}" | median)
r=$(printf '%s\n' "${ref[@]}" | median)
s=$(printf '%s\n' "${rs[@]}" | median)
sr=$(printf '%s\n' "${rref[@]}" | median)
dbsz=$(stat -c %s "$W/gref.db")
bksz=$(stat -c %s "$W/g.mqsbak")
echo "gateway db ${dbsz} B  backup ${bksz} B ($(ratio "$bksz" "$dbsz")x)"
echo "gateway backup  ${b} ms  sqlite3 .backup ${r} ms  ratio $(ratio "$b" "$r")x"
echo "gateway restore ${s} ms  sqlite3 .restore ${sr} ms  ratio $(ratio "$s" "$sr")x"
