#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# docker-entrypoint.sh - start the broker or the gateway of the mqttsec image.
#
#   mosquitto ...        (the default command) the broker: on first start
#                        create the database and the master key (0600) with
#                        `mqttsec-acl init`; if MQTTSEC_GATEWAY_CREDS is set,
#                        enrol the gateway's own device and its ACL rules and
#                        write its credentials there (once: later starts keep
#                        them); then exec mosquitto.
#   mqttsec-gateway ...  the gateway: wait (bounded) for its credentials file,
#                        check its key file, then exec the gateway.
#   mqttsec-console ...  the web console: on first start make a self-signed
#                        TLS certificate when [http] cert/key are absent and
#                        create the admin MQTTSEC_CONSOLE_ADMIN, its password
#                        from MQTTSEC_CONSOLE_ADMIN_PASSWORD_FILE (not
#                        logged) or made up and printed once, its TOTP
#                        enrolment (otpauth:// URI) never logged but written
#                        to first-admin-totp.txt (0600) next to the console's
#                        db; then exec the console.
#   anything else        exec'd as given.
#
# Refuses to start when a master key is readable by group or others.  Runs as
# user mosquitto; started as root it fixes the owner of the volumes and drops
# to mosquitto.  The program is exec'd, so it is PID 1 and gets the SIGTERM of
# `docker stop` itself.
#
# Environment: MQTTSEC_DB, MQTTSEC_MASTER_KEY_FILE (set in the image),
# MQTTSEC_GATEWAY_CREDS (credentials file of the gateway device, unset = no
# gateway device), MQTTSEC_GATEWAY_NAME (gateway), MQTTSEC_GATEWAY_TOPICS
# (space-separated filters the gateway may subscribe to and receive, alerts/#),
# MQTTSEC_GATEWAY_STATUS_TOPIC (mqttsec/status), MQTTSEC_GATEWAY_CONF,
# MQTTSEC_WAIT_SECONDS (how long the gateway waits for its credentials, 120),
# MQTTSEC_CONSOLE_CONF (/mosquitto/config/console.conf), MQTTSEC_CONSOLE_ADMIN
# (admin), MQTTSEC_CONSOLE_ADMIN_PASSWORD_FILE (unset: a random password).
set -eu
umask 077
set -f # topic filters are not globs

say() {
	printf 'docker-entrypoint: %s\n' "$*" >&2
}
die() {
	say "$*"
	exit 78 # EX_CONFIG
}

# A key file must not be readable by group or others: refuse to start.
check_key() {
	[ -e "$1" ] || return 0
	[ -f "$1" ] || die "master key $1 is not a regular file; refusing to start"
	mode=$(stat -c %a "$1")
	case $mode in
	*00) ;;
	*) die "master key $1 is readable by group or others (mode $mode): chmod 600 it; refusing to start" ;;
	esac
	[ -r "$1" ] || die "master key $1 is not readable by $(id -un) (uid $(id -u)); refusing to start"
}

# Value of "KEY VALUE" in mosquitto.conf, or nothing.
conf_opt() {
	awk -v k="$2" '$1 == k { v = $2 } END { if (v != "") print v }' "$1" 2>/dev/null || true
}

# Value of KEY in [SECTION] of an INI file, or nothing.
ini_get() {
	awk -v s="[$2]" -v k="$3" '
		/^[ \t]*\[/ { cur = $0; gsub(/[ \t]/, "", cur); next }
		cur == s {
			line = $0; sub(/[ \t]*[;#].*$/, "", line)
			n = index(line, "="); if (n == 0) next
			key = substr(line, 1, n - 1); val = substr(line, n + 1)
			gsub(/^[ \t]+|[ \t]+$/, "", key); gsub(/^[ \t]+|[ \t]+$/, "", val)
			if (key == k) v = val
		}
		END { if (v != "") print v }' "$1" 2>/dev/null || true
}

# Enrol the gateway's device once; the credentials file marks it done.
provision_gateway() {
	creds=${MQTTSEC_GATEWAY_CREDS:-}
	name=${MQTTSEC_GATEWAY_NAME:-gateway}
	[ -n "$creds" ] || return 0
	if [ -s "$creds" ]; then
		say "gateway device $name: credentials $creds exist"
		return 0
	fi
	say "gateway device $name: enrolling, credentials to $creds"
	mkdir -p "$(dirname "$creds")"
	rm -f "$creds.new"
	# a device without its credentials file (lost volume, interrupted first
	# start) is of no use: issue new credentials
	mqttsec-acl device rm "$name" >/dev/null 2>&1 || true
	mqttsec-acl device add "$name" --out "$creds.new" >/dev/null ||
		die "cannot enrol the gateway device $name"
	for f in ${MQTTSEC_GATEWAY_TOPICS:-alerts/#}; do
		if ! mqttsec-acl acl add allow sub "$name" "$f" >/dev/null ||
			! mqttsec-acl acl add allow read "$name" "$f" >/dev/null; then
			die "cannot add the ACL rules of $name for $f"
		fi
	done
	mqttsec-acl acl add allow pub "$name" "${MQTTSEC_GATEWAY_STATUS_TOPIC:-mqttsec/status}/#" \
		>/dev/null || die "cannot add the ACL rule of $name for its status topic"
	mv -f "$creds.new" "$creds"
}

start_broker() {
	conf=
	prev=
	for a in "$@"; do
		[ "$prev" = "-c" ] && conf=$a
		prev=$a
	done
	if [ -n "$conf" ]; then
		db=$(conf_opt "$conf" plugin_opt_db_file)
		[ -n "$db" ] || db=$(conf_opt "$conf" plugin_opt_db)
		key=$(conf_opt "$conf" plugin_opt_master_key_file)
		if [ -n "$db" ] && [ "$db" != "$MQTTSEC_DB" ]; then
			say "warning: $conf uses db $db, MQTTSEC_DB is $MQTTSEC_DB (mqttsec-acl uses the latter)"
			MQTTSEC_DB=$db
		fi
		if [ -n "$key" ] && [ "$key" != "$MQTTSEC_MASTER_KEY_FILE" ]; then
			say "warning: $conf uses master key $key, MQTTSEC_MASTER_KEY_FILE is $MQTTSEC_MASTER_KEY_FILE"
			MQTTSEC_MASTER_KEY_FILE=$key
		fi
	fi
	export MQTTSEC_DB MQTTSEC_MASTER_KEY_FILE
	check_key "$MQTTSEC_MASTER_KEY_FILE"
	[ -e "$MQTTSEC_MASTER_KEY_FILE" ] || say "first start: creating $MQTTSEC_DB and $MQTTSEC_MASTER_KEY_FILE"
	# idempotent: creates what is absent, checks what exists
	mqttsec-acl init >/dev/null || die "mqttsec-acl init failed"
	check_key "$MQTTSEC_MASTER_KEY_FILE"
	provision_gateway
}

start_gateway() {
	conf=${MQTTSEC_GATEWAY_CONF:-/mosquitto/config/gateway.conf}
	prev=
	for a in "$@"; do
		[ "$prev" = "-c" ] && conf=$a
		prev=$a
	done
	creds=$(ini_get "$conf" broker credentials)
	key=$(ini_get "$conf" store master_key_file)
	[ -n "$key" ] && check_key "$key"
	if [ -n "$creds" ] && [ ! -r "$creds" ]; then
		wait=${MQTTSEC_WAIT_SECONDS:-120}
		say "waiting up to ${wait}s for the gateway credentials $creds"
		while [ ! -r "$creds" ] && [ "$wait" -gt 0 ]; do
			sleep 1
			wait=$((wait - 1))
		done
		[ -r "$creds" ] || die "no gateway credentials $creds (the broker container writes them on its first start)"
	fi
}

# The console's first start: a TLS certificate if none, the first admin.
start_console() {
	conf=${MQTTSEC_CONSOLE_CONF:-/mosquitto/config/console.conf}
	prev=
	for a in "$@"; do
		[ "$prev" = "-c" ] && conf=$a
		prev=$a
	done
	db=$(ini_get "$conf" console db)
	cert=$(ini_get "$conf" http cert)
	tlskey=$(ini_get "$conf" http key)
	if [ -n "$cert" ] && [ -n "$tlskey" ] && [ ! -e "$cert" ] && [ ! -e "$tlskey" ]; then
		say "console: no certificate: making a self-signed one ($cert)"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
			-subj "/CN=${MQTTSEC_CONSOLE_HOSTNAME:-mqttsec-console}" \
			-addext "subjectAltName=DNS:${MQTTSEC_CONSOLE_HOSTNAME:-mqttsec-console},DNS:localhost,IP:127.0.0.1" \
			-keyout "$tlskey" -out "$cert" 2>/dev/null || die "cannot make a TLS certificate"
	fi
	[ -n "$tlskey" ] && check_key "$tlskey"
	[ -n "$db" ] || return 0
	# the admin's TOTP enrolment: never in the log, in a 0600 file next to the db
	enrol=${db%/*}/first-admin-totp.txt
	if [ -e "$db" ]; then
		[ ! -e "$enrol" ] ||
			say "console: $enrol still holds the first admin's TOTP secret: delete it once enrolled"
		return 0
	fi
	admin=${MQTTSEC_CONSOLE_ADMIN:-admin}
	pwfile=${MQTTSEC_CONSOLE_ADMIN_PASSWORD_FILE:-}
	made=
	if [ -z "$pwfile" ] || [ ! -r "$pwfile" ]; then
		pwfile=$(mktemp) || die "cannot make a temporary file"
		head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$pwfile"
		made=1
	fi
	out=$(mqttsec-console -c "$conf" user add "$admin" --role admin --password-file "$pwfile") || {
		[ -z "$made" ] || rm -f "$pwfile"
		die "cannot create the console admin $admin"
	}
	say "console: first start: admin user $admin created"
	if [ -n "$made" ]; then
		say "console: its password (shown once, change it): $(cat "$pwfile")"
		rm -f "$pwfile"
	else
		say "console: its password is the one of $pwfile"
	fi
	if (rm -f "$enrol.tmp" && printf '%s\n' "$out" >"$enrol.tmp" && chmod 600 "$enrol.tmp" &&
		mv -f "$enrol.tmp" "$enrol"); then
		say "console: its TOTP enrolment (the otpauth URI) is in $enrol (mode 0600):"
		say "console:   docker compose exec console cat $enrol"
		say "console: add it to an authenticator app, then delete it:"
		say "console:   docker compose exec console rm $enrol"
	else
		rm -f "$enrol.tmp" 2>/dev/null || true
		say "console: cannot write $enrol: give the admin a new TOTP secret with"
		say "console:   docker compose exec console mqttsec-console -c $conf user reset-totp $admin"
	fi
}

# Started as root: give the volumes to mosquitto and drop privileges.
if [ "$(id -u)" = 0 ]; then
	for d in /mosquitto/data /mosquitto/log /mosquitto/gateway /mosquitto/console /mosquitto/broker; do
		if [ -d "$d" ]; then chown -R mosquitto:mosquitto "$d"; fi
	done
	exec setpriv --reuid=mosquitto --regid=mosquitto --init-groups -- "$0" "$@"
fi

case ${1:-} in
mosquitto | */mosquitto) start_broker "$@" ;;
mqttsec-gateway | */mqttsec-gateway) start_gateway "$@" ;;
mqttsec-console | */mqttsec-console) start_console "$@" ;;
esac
exec "$@"
