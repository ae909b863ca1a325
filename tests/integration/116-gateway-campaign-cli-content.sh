#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 116-gateway-campaign-cli-content.sh - a campaign submitted on the command
# line before the gateway starts reaches its reviewers (docs/marketing.md,
# "Review"): on a real Mosquitto broker with the mqttsec plugin, a reviewer
# device subscribed to <status_topic>/+/content receives the content, sealed
# by the gateway with its device key and re-sealed by the broker (origin
# gw), opens it, and finds the exact stored bytes (their SHA-256 is the one
# `campaign show` prints); the publish queue empties and the gateway logs no
# publish error.  Credentials without a device key cannot seal the content:
# with a marketing route the gateway then refuses to start and says why
# (docs/marketing.md, "Setting it up").
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/brokers-lib.sh"
need_file "$DEVICE_BIN" "$GATEWAY_BIN"
need_cmd sqlite3 oathtool sha256sum
WAIT=${CAMPAIGN_WAIT:-40}
ST=mqttsec/status

mb_init a
mb_device a gw --period 2
mb_device a ed1
mb_protect a 'marketing/#'
mb_protect a "$ST/+/content"
mb_protect a "$ST/+/review"
mb_allow a all gw "$ST/#"
mb_allow a sub gw 'marketing/#'
mb_allow a read gw 'marketing/#'
mb_allow a pub ed1 "$ST/+/review"
mb_allow a sub ed1 "$ST/+/content"
mb_allow a read ed1 "$ST/+/content"
for f in 'marketing/#' "$ST/+/review" "$ST/+/content"; do
	mb_key a "$f" gw || bail_out "key export failed: $(cat "$TEST_TMP/mb-acl.err")"
done
mb_key a "$ST/+/content" ed1 || bail_out "key export failed"
mb_start a || bail_out "broker did not start"

GW_DB=$TEST_TMP/gw.db
# gw_conf CREDENTIALS: the configuration, one marketing route.
gw_conf() {
	cat <<EOF
[broker]
host = 127.0.0.1
port = $(mb_port a)
credentials = $1
status_topic = $ST
reconnect_min = 200ms
reconnect_max = 1s

[store]
db = $GW_DB
master_key_file = $TEST_TMP/gw.key
spool_dir = $TEST_TMP/spool

[http]
listen = 127.0.0.1:0
public_url = http://127.0.0.1:8080

[route promo]
topic = marketing/#
kind = marketing
review_levels = legal
EOF
}
gw_conf "$(mb_creds a gw)" >"$TEST_TMP/gw.conf"
gwc() {
	"$GATEWAY_BIN" -q -c "$TEST_TMP/gw.conf" "$@"
}
sql() {
	sqlite3 -cmd ".timeout 5000" "$GW_DB" "$1"
}
secret_of() {
	sed -n '/TOTP secret/{n;p;q}' "$1"
}

## the campaign, submitted on the command line while no gateway runs
ok "group customers" gwc group add customers
ok "recipient ann" gwc recipient add ann --line U0123456789abcdef0123456789abcdef --group customers
gwc reviewer add mqtt:ed1 --level legal --person alice >/dev/null || fail "reviewer add"
gwc author add console:carol --person carol >"$TEST_TMP/carol.out" || fail "author add"
SECRET_CAROL=$(secret_of "$TEST_TMP/carol.out")
cat >"$TEST_TMP/c.json" <<'JSON'
{"id": "c-cli", "group": "customers", "channels": ["line"],
 "text": "Hello {{name}}, spring sale"}
JSON
SHA=$(sha256sum "$TEST_TMP/c.json" | cut -d' ' -f1)
ok "campaign c-cli submitted with carol's code" gwc campaign submit "$TEST_TMP/c.json" \
	--author console:carol --route promo --code "$(oathtool --totp -b "$SECRET_CAROL")"
ok "campaign show prints the sha256 of the file" \
	eval 'gwc campaign show c-cli | grep -q "^sha256: *$SHA"'

## credentials without a device key: refused at start
"$PYTHON" - "$(mb_creds a gw)" "$TEST_TMP/nodev.json" <<'PY'
import json, os, sys
c = json.load(open(sys.argv[1]))
c["keys"] = [k for k in c["keys"] if k.get("use") != "device"]
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(c).encode())
os.close(fd)
PY
gw_conf "$TEST_TMP/nodev.json" >"$TEST_TMP/nodev.conf"
rc=0
timeout 60 "$GATEWAY_BIN" -c "$TEST_TMP/nodev.conf" run >"$TEST_TMP/nodev.log" 2>&1 || rc=$?
is "$rc" 78 "credentials without a device key: the gateway refuses to start (EX_CONFIG)"
ok "and says why" grep -q "have no device key to seal content for reviewers" "$TEST_TMP/nodev.log"
is "$(sql "SELECT published_level FROM campaigns WHERE cid = 'c-cli'")" -1 \
	"nothing was queued for the reviewers"

## the reviewer's device reads content; then the gateway starts
mb_wait_step a ed1
start_bg content "$DEVICE_BIN" -c "$(mb_creds a ed1)" subscribe -h 127.0.0.1 \
	-p "$(mb_port a)" -t "$ST/+/content" -q 1 -v
_subscribed() {
	[ "$(grep -c 'Sending SUBACK to' "$(mb_log a)")" -ge 1 ]
}
wait_for "$WAIT" _subscribed || bail_out "the reader did not subscribe"
start_bg gw "$GATEWAY_BIN" -c "$TEST_TMP/gw.conf" run
_content() {
	grep -q "^$ST/c-cli/content " "$TEST_TMP/content.log"
}
ok "the reviewer device receives c-cli's content" wait_for "$WAIT" _content

# the reader prints "TOPIC ORIGIN PAYLOAD" once it opened the envelope
"$PYTHON" - "$TEST_TMP/content.log" "$ST/c-cli/content" >"$TEST_TMP/content.txt" <<'PY'
import hashlib, json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    topic, origin, payload = line.rstrip("\n").split(" ", 2)
    if topic != sys.argv[2]:
        continue
    m = json.loads(payload)
    print("origin", origin)
    for k in ("id", "level", "sha256", "author"):
        print(k, m[k])
    print("bytes", hashlib.sha256(m["campaign"].encode("utf-8")).hexdigest())
    break
PY
field() {
	sed -n "s/^$1 //p" "$TEST_TMP/content.txt"
}
is "$(field origin)" gw "opened: sealed by the gateway, origin gw stamped by the broker"
is "$(field id)/$(field level)/$(field author)" c-cli/legal/console:carol \
	"for level legal, author console:carol"
is "$(field sha256)" "$SHA" "its sha256 is the stored campaign's"
is "$(field bytes)" "$SHA" "and the campaign bytes in it hash to it"
ok "the publish queue empties (PUBACK)" \
	wait_for "$WAIT" eval '[ "$(sql "SELECT count(*) FROM pubq")" = 0 ]'
is "$(sql "SELECT published_level FROM campaigns WHERE cid = 'c-cli'")" 0 \
	"published_level records level 0"
ok "the gateway logged no publish error" \
	eval '! grep -q "cannot publish\|refused share" "$TEST_TMP/gw.log"'

stop_bg content
stop_bg gw
ok "no campaign text in the gateway's log" eval '! grep -q "spring sale" "$TEST_TMP/gw.log"'
done_testing
