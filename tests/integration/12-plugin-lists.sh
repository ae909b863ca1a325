#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 12-plugin-lists.sh - deny list (client id, username, IP/CIDR, IPv4-mapped
# input), timed entries that stop applying on time, and allow-list mode.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh" # the shared plugin helpers

# entry_id MATCH PATTERN: the id of the list entry (newest first).
entry_id() {
	acl --json list show | python3 -c 'import json, sys
ids = [e["id"] for e in json.load(sys.stdin)
       if e.get("match") == sys.argv[1] and e.get("pattern") == sys.argv[2]]
print(max(ids) if ids else "")' "$1" "$2"
}

for d in d1 d2 d3 d4 d5 d6 d7 d8; do
	device "$d" --period 2
done
start_plugin_broker "plugin_opt_max_ip_failures 0" "plugin_opt_max_auth_failures 0"

# client id
ok "deny clientid added" change list add deny clientid evil-1 --reason test
C=$(fresh d1)
nok "denied client id refused" connects d1 "$C" -i evil-1
ok "refusal says deny list" logged "refused d1 (client id evil-1) .*on the deny list"
ok "same device with another client id accepted" connects d1 "$C" -i good-1

# username
ok "deny username added" change list add deny username d2
nok "denied username refused" connects d2 "$(fresh d2)"
ok "other usernames accepted" connects d3 "$(fresh d3)"

# CIDR
ok "deny 10.0.0.0/8 added" change list add deny ip 10.0.0.0/8
ok "a network the client is not in changes nothing" connects d3 "$(fresh d3)"
ok "deny 127.0.0.0/8 added" change list add deny ip 127.0.0.0/8
C=$(fresh d4)
nok "client in a denied network refused" connects d4 "$C"
ok "deny entry removed" change list rm "$(entry_id ip 127.0.0.0/8)"
ok "accepted again after list rm" connects d4 "$(fresh d4)"
ok "deny ::ffff:127.0.0.1 (IPv4-mapped input) added" change list add deny ip ::ffff:127.0.0.1
C=$(fresh d4)
nok "IPv4 client refused by the mapped entry" connects d4 "$C"
ok "entry was stored as 127.0.0.1" test -n "$(entry_id ip 127.0.0.1)"
ok "mapped entry removed" change list rm "$(entry_id ip 127.0.0.1)"
ok "accepted again" connects d4 "$(fresh d4)"

# a timed entry stops applying on time (no reload needed); 15 s so that a
# loaded machine still connects while it lives (the code takes up to a step)
ok "deny username d5 for 15 s" change list add deny username d5 --ttl 15
C=$(fresh d5)
nok "refused while the entry lives" connects d5 "$C"
T0=$(date +%s%N)
_accepted_d5() {
	connects d5 "$C" || connects d5 "$(fresh d5)"
}
ok "accepted once the entry expired" wait_for 40 _accepted_d5
diag "timed deny entry stopped applying $((($(date +%s%N) - T0) / 1000000)) ms after the first refusal"

# allow-list mode
stop_bg mosquitto
start_plugin_broker "plugin_opt_allowlist on" "plugin_opt_max_ip_failures 0" \
	"plugin_opt_max_auth_failures 0"
C=$(fresh d6)
nok "allow list on: device not listed is refused" connects d6 "$C"
ok "refusal says allow list" logged "refused d6 .*not on the allow list"
ok "allow username d6" change list add allow username d6
ok "listed username accepted" connects d6 "$C"
C=$(fresh d7)
ok "allow clientid ok-7" change list add allow clientid ok-7
nok "unlisted client id refused" connects d7 "$C" -i other-7
ok "listed client id accepted" connects d7 "$C" -i ok-7
ok "allow ip 127.0.0.1/32" change list add allow ip 127.0.0.1/32
ok "any device from the listed address accepted" connects d8 "$(fresh d8)"
ok "deny still beats allow: deny username d8" change list add deny username d8
nok "denied although allowed by address" connects d8 "$(fresh d8)"

done_testing
