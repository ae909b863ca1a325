# SPDX-License-Identifier: BSD-3-Clause
# alert-attack-lib.sh - the broker and gateway set-up shared by the alert
# attack tests (51-attack-alert-suppression.sh, 61-attack-ack-namespace.sh),
# sourced after lib.sh and gateway-lib.sh.
#
# Sourcing it creates the broker database with devices gateway, devA, devB
# (alert publishers) and alicephone (the recipient's device), all with 2 s
# TOTP steps, protects alerts/#, and gives devA and alicephone the right to
# publish acknowledgements.  Then:
#
#   alert_attack_start      export the gateway's keys for alerts/#, start the
#                           broker with the plugin and the gateway (a sensor
#                           route with a critical rule, group ops, recipient
#                           alice bound to device alicephone, escalation
#                           email then sms after 120 s without an ack)
#   delivered TITLE         deliveries spooled for messages titled TITLE
#   esc ID PUBLISHER        escalation state of message ID from PUBLISHER
#   _esc_is ID PUBLISHER STATE, _delivered TITLE, _gwlog NAME TEXT
#                           predicates for wait_for

export MQTTSEC_DB=$TEST_TMP/mqttsec.db
export MQTTSEC_MASTER_KEY_FILE=$TEST_TMP/master.key
acl() {
	"$ACL_BIN" "$@" >/dev/null
}
acl init || bail_out "mqttsec-acl init failed"
acl device add gateway --period 2 --out "$GW_CREDS"
for d in devA devB alicephone; do
	acl device add "$d" --period 2 --out "$TEST_TMP/$d.json"
done
acl topic protect 'alerts/#'
acl acl add allow sub gateway 'alerts/#'
acl acl add allow read gateway 'alerts/#'
acl acl add allow sub gateway 'sensors/#'
acl acl add allow read gateway 'sensors/#'
acl acl add allow all gateway 'mqttsec/status/#'
acl acl add allow pub devA 'alerts/#'
acl acl add allow pub devB 'alerts/#'
acl acl add allow pub devB 'sensors/#'
# the attacker may publish acknowledgements (a console device would)
acl acl add allow pub devA 'mqttsec/status/+/ack'
acl acl add allow pub alicephone 'mqttsec/status/+/ack'

# alert_attack_start: keys, broker, gateway (see the header).
alert_attack_start() {
	acl key export 'alerts/#' --for gateway --out "$GW_CREDS" || bail_out "key export failed"

	start_mosquitto "plugin $PLUGIN_SO" "plugin_opt_db_file $MQTTSEC_DB" \
		"plugin_opt_master_key_file $MQTTSEC_MASTER_KEY_FILE" || bail_out "no broker"
	GW_DELIVERY="ack_timeout = 120s
escalation = email, sms"
	gw_config '[route room]
topic = sensors/+/temp
kind = sensor
group = ops
rule = value > 40 => alert severity=critical title="Room hot"'
	gw group add ops >/dev/null
	gw recipient add alice --email alice@example.com --phone +15550001234 --group ops \
		--device alicephone >/dev/null 2>&1 ||
		gw recipient add alice --email alice@example.com --phone +15550001234 --group ops \
			>/dev/null
	gw_start || bail_out "gateway did not start"
}

# delivered TITLE: deliveries written to the spool for messages titled TITLE
# (titles are sealed in the database)
delivered() {
	grep -lxF -- "Subject: $1" "$TEST_TMP"/spool/*.txt 2>/dev/null | wc -l
}
_delivered() {
	[ "$(delivered "$1")" -ge 1 ]
}
# esc ID PUBLISHER: escalation state of message ID from PUBLISHER
esc() {
	sql "SELECT e.state FROM escalations e JOIN messages m ON m.id = e.message
	     WHERE m.msg_id = '$1' AND m.origin = '$2'"
}
_esc_is() {
	[ "$(esc "$1" "$2")" = "$3" ]
}
_gwlog() {
	grep -q -- "$2" "$TEST_TMP/$1.log"
}
