#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-revoke.sh - the cost of "revoking rotates" on a large fleet
# (docs/payload-encryption.md, "Revoking rotates"; figures in
# docs/PERFORMANCE.md, issue 14): every mqttsec-acl change recomputes, for
# each holder of a protected filter's current key, whether it may still
# read the filter.  NDEV devices (group fleet, one own rule each), NFILT
# protected filters readable by @fleet, NHOLD holders of NPER filters each.
# Times one change that takes nothing away ("acl add" of an unrelated
# rule) with the holders in key_grants, and the same change on a copy
# without any grant (the check has nothing to look at), RUNS times each,
# interleaved; then one change that revokes a holder (one rotation).
#
#   cd _build && make bench-plugin && ../bench/bench-revoke.sh
#   (NDEV=10000 NFILT=100 NHOLD=1000 NPER=10 RUNS=7)
set -eu
NDEV=${NDEV:-10000}
NFILT=${NFILT:-100}
NHOLD=${NHOLD:-1000}
NPER=${NPER:-10}
RUNS=${RUNS:-7}
ACL=${ACL:-./acl/mqttsec-acl}
T=$(mktemp -d "${TMPDIR:-/tmp}/bench-revoke.XXXXXX")
trap 'rm -rf "$T"' EXIT
export MQTTSEC_DB=$T/db MQTTSEC_MASTER_KEY_FILE=$T/master.key
"$ACL" init >/dev/null
for i in $(seq 0 $((NFILT - 1))); do
	printf -v f 'f%03d/#' "$i"
	"$ACL" topic protect "$f" >/dev/null
done
python3 - "$T/db" "$NDEV" "$NFILT" "$NHOLD" "$NPER" <<'PY'
import sqlite3, sys
db, ndev, nfilt, nhold, nper = sys.argv[1], *map(int, sys.argv[2:])
c = sqlite3.connect(db)
c.execute("INSERT INTO groups (name) VALUES ('fleet')")
c.executemany("INSERT INTO devices (name, enabled, totp_wrapped, created_at, generation) "
              "VALUES (?, 1, x'00', 0, 1)", [("d%05d" % i,) for i in range(ndev)])
c.executemany("INSERT INTO group_members (grp, member) VALUES ('fleet', ?)",
              [("d%05d" % i,) for i in range(ndev)])
c.executemany("INSERT INTO acl_rules (effect, access, subject, filter, priority, created_at) "
              "VALUES ('allow', 'all', ?, ?, 0, 0)",
              [("d%05d" % i, "dev/d%05d/#" % i) for i in range(ndev)])
c.executemany("INSERT INTO acl_rules (effect, access, subject, filter, priority, created_at) "
              "VALUES ('allow', 'read', '@fleet', ?, 0, 0)",
              [("f%03d/#" % i,) for i in range(nfilt)])
rows = []
for h in range(nhold):
    for j in range(nper):
        f = "f%03d/#" % ((h * nper + j) % nfilt)
        rows.append(("d%05d" % h, f))
c.executemany("INSERT OR IGNORE INTO key_grants (username, key_id, filter, via, at) "
              "SELECT ?, id, owner, 'online', 0 FROM keys WHERE purpose = 'topic' "
              "AND owner = ?2 AND state = 'active'", rows)
c.commit()
print("# %d devices, %d filters, %d holders, %d grants" % (ndev, nfilt, nhold,
      c.execute("SELECT count(*) FROM key_grants").fetchone()[0]))
PY
cp "$T/db" "$T/nogrants.db"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("DELETE FROM key_grants"); c.commit()' "$T/nogrants.db"
# ms RUN: wall time of one mqttsec-acl run, milliseconds
ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
median() {
	sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'
}
: >"$T/with" && : >"$T/without"
for r in $(seq "$RUNS"); do
	MQTTSEC_DB=$T/db ms "$ACL" acl add allow pub d00001 "bench/$r/#" >>"$T/with"
	MQTTSEC_DB=$T/nogrants.db ms "$ACL" acl add allow pub d00001 "bench/$r/#" >>"$T/without"
done
W=$(median <"$T/with")
WO=$(median <"$T/without")
echo "one change (acl add), holders present:   median $W ms of $RUNS ($(tr '\n' ' ' <"$T/with"))"
echo "same change, no holder (check is empty):  median $WO ms of $RUNS ($(tr '\n' ' ' <"$T/without"))"
awk -v w="$W" -v wo="$WO" 'BEGIN { if (wo > 0) printf "ratio with/without: %.2fx\n", w / wo }'
# the plugin's pass after an allow entry expired: the whole rule on one
# tick (before) against slices of 16 holders (the plugin runs slices for
# about 5 ms a tick)
SLICE=${SLICE_BIN:-./bench/bench-revoke-slice}
if [ -x "$SLICE" ]; then
	"$SLICE" "$T/db" 16 3 | sed 's/^/plugin pass (broker thread): /'
fi
R=$(MQTTSEC_DB=$T/db ms "$ACL" device disable d00000)
echo "a change that revokes holder d00000 ($NPER filters rotated): $R ms"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("# rotations audited:", c.execute("SELECT count(*) FROM audit WHERE action = '"'"'key rotate'"'"'").fetchone()[0])' "$T/db"
