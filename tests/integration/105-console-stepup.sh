#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 105-console-stepup.sh - the web console's step-up re-authentication,
# changing one's own password and the upgrade-only re-hash
# (docs/console.md "Step-up", "Own password", "Passwords"), with curl: a
# sensitive action without a fresh step-up answers the step-up form and is
# not done; a wrong password or code is refused, audited and counted (a
# lock-out ends the session); a code is accepted once; after the step-up
# the action works, until the step-up expires; the password change and its
# refusals, the other sessions ended; a lowered [console] argon2_* never
# re-hashes a stronger hash lower.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$CONSOLE_BIN"
need_cmd curl oathtool sqlite3

DB=$TEST_TMP/console/console.db
console_setup "[console]" "max_failures = 3" "failure_window = 600" "ban_seconds = 600" \
	"max_failures_per_address = 1000"
ok "admin alice added" console_user_add alice admin
ok "admin bob added" console_user_add bob admin
ok "admin carol added" console_user_add carol admin
ok "operator oscar added" console_user_add oscar operator
ok "operator olga added" console_user_add olga operator
console_start || bail_out "console did not start"

_not() {
	! "$@"
}
_sql() {
	sqlite3 "$DB" "$1"
}
_audit_last() {
	_sql "SELECT what FROM audit ORDER BY id DESC LIMIT 1"
}
_enabled() {
	_sql "SELECT enabled FROM users WHERE name = '$1'"
}
# _age NAME: make every step-up of NAME's sessions an hour old
_age() {
	_sql "UPDATE sessions SET stepup_at = stepup_at - 3600 WHERE user_id = (SELECT id FROM users WHERE name = '$1')"
}
# _stepup PASSWORD CODE: POST /stepup with the session (next=/users)
_stepup() {
	console_post /stepup next=/users "password=$1" "code=$2"
}
# _replayed STEP DESC: the last audit row says the code of time step STEP was refused as
# already used. The console accepts codes one step either side of now; on a run so slow that
# STEP has left that window since, the same code is refused as wrong instead (still refused).
_replayed() {
	local got now
	got=$(_audit_last)
	now=$(($(date +%s) / 30))
	if [ "$got" = "step-up failed (alice): wrong code" ] && [ $((now - $1)) -gt 1 ]; then
		skip "$2" "the code's step left the window on this slow run (refused as wrong)"
	else
		is "$got" "step-up failed (alice): code already used" "$2"
	fi
}

## signing in counts as a step-up
CODE_SIGNIN=$(console_code alice)
STEP_SIGNIN=$(cat "$TEST_TMP/console/step.alice")
ok "alice signs in" console_signin alice "" "$CODE_SIGNIN"
is "$(console_post /users/disable name=oscar)" 303 "right after sign-in a sensitive action works"
is "$(_enabled oscar)" 0 "oscar disabled"

## without a fresh step-up: the form, and nothing done
_age alice
is "$(console_post /users/enable name=oscar)" 403 "stale step-up: 403"
ok "the step-up form is shown" grep -q 'id="stepup-form"' "$CONSOLE_BODY"
ok "it says the action was not done" grep -q 'id="stepup-needed"' "$CONSOLE_BODY"
ok "it returns to the page of the action" grep -q 'name="next" value="/users"' "$CONSOLE_BODY"
ok "it carries the CSRF token" grep -q "name=\"csrf\" value=\"$CONSOLE_CSRF\"" "$CONSOLE_BODY"
is "$(_enabled oscar)" 0 "oscar still disabled"
is "$(_audit_last)" "refused: step-up needed" "the refusal is audited"
for p in /users/add /users/disable /users/rm /users/reset-totp /devices/add /devices/rekey \
	/devices/retotp /devices/remove /topics/rotate /topics/unprotect; do
	is "$(console_post "$p" name=olga)" 403 "POST $p needs a step-up"
done
is "$(_enabled olga)" 1 "olga untouched"
is "$(_sql "SELECT count(*) FROM users WHERE name = 'olga'")" 1 "olga not removed"
console_post /lists/add kind=deny match=username pattern=x >/dev/null
ok "a list entry needs no step-up" _not grep -q 'id="stepup-form"' "$CONSOLE_BODY"
is "$(console_get /stepup?next=/users)" 200 "the step-up page can be opened before an action"

## wrong password, wrong code, replay: refused, audited, counted
is "$(_stepup wrong-password-123 000000)" 403 "wrong password refused"
ok "with a generic message" grep -q 'confirmation failed: wrong password or code' "$CONSOLE_BODY"
is "$(_audit_last)" "step-up failed (alice): wrong password" "audited"
is "$(_sql "SELECT count(*) FROM failures WHERE kind = 'user' AND key = 'alice'")" 1 \
	"counted as a failure of alice"
is "$(_stepup "$(console_password alice)" 000000)" 403 "wrong code refused"
is "$(_audit_last)" "step-up failed (alice): wrong code" "audited"
is "$(_sql "SELECT count(*) FROM failures WHERE kind = 'user' AND key = 'alice'")" 2 \
	"counted: 2 failures of alice"
_sql "DELETE FROM failures"
is "$(_stepup "$(console_password alice)" "$CODE_SIGNIN")" 403 "the sign-in's code refused"
_replayed "$STEP_SIGNIN" "audited as a replay"
_sql "DELETE FROM failures"

## the step-up, then the action
CODE=$(console_code alice)
STEP_CODE=$(cat "$TEST_TMP/console/step.alice")
is "$(_stepup "$(console_password alice)" "$CODE")" 303 "step-up with password and a new code"
ok "back to the page of the action" grep -qi '^Location: /users' "$CONSOLE_HEADERS"
is "$(_audit_last)" "step-up alice" "the step-up is audited"
is "$(console_get /users)" 200 "the page"
ok "with the message to do the action again" grep -q 'do the action again' "$CONSOLE_BODY"
is "$(console_post /users/enable name=oscar)" 303 "after the step-up the action works"
is "$(_enabled oscar)" 1 "oscar enabled"
is "$(console_post /users/disable name=olga)" 303 "and another one"
is "$(console_post /users/enable name=olga)" 303 "and another one"
_age alice
is "$(_stepup "$(console_password alice)" "$CODE")" 403 "the same code again refused"
_replayed "$STEP_CODE" "audited as a replay"
is "$(console_post /users/disable name=olga)" 403 "the step-up expired: the form again"
is "$(_enabled olga)" 1 "olga not disabled"
_sql "DELETE FROM failures"

## lock-out: max_failures wrong step-ups ban the user and end the session
ok "carol signs in" console_signin carol
CAROL_SID=$CONSOLE_SID
_age carol
is "$(_stepup wrong-password-1 000000)" 403 "carol: failure 1"
is "$(_stepup wrong-password-2 000000)" 403 "carol: failure 2"
is "$(_stepup wrong-password-3 000000)" 303 "carol: failure 3 bans her"
ok "to the sign-in page" grep -qi '^Location: /signin' "$CONSOLE_HEADERS"
is "$(_sql "SELECT count(*) FROM audit WHERE what = 'ban: user carol after 3 failures'")" 1 \
	"the ban is audited"
CONSOLE_SID=$CAROL_SID
is "$(console_get /)" 303 "carol's session ended"
ok "carol cannot sign in (banned)" _not console_signin carol
_sql "DELETE FROM failures; DELETE FROM bans"

## changing one's own password
ok "bob signs in (session 1)" console_signin bob
BOB1_SID=$CONSOLE_SID BOB1_CSRF=$CONSOLE_CSRF
ok "bob signs in (session 2)" console_signin bob
BOB2_SID=$CONSOLE_SID
CONSOLE_SID=$BOB1_SID CONSOLE_CSRF=$BOB1_CSRF
is "$(console_get /password)" 200 "the password page"
ok "linked in the navigation" grep -q 'href="/password"' "$CONSOLE_BODY"
OLD=$(console_password bob)
NEW=new-pw-bob-0123456789
is "$(console_post /password "current=$OLD" code=000000 "new=$NEW" "again=${NEW}x")" 400 \
	"new passwords that differ: refused"
ok "saying so" grep -q 'the two new passwords differ' "$CONSOLE_BODY"
is "$(console_post /password "current=$OLD" code=000000 new=short1 again=short1)" 400 \
	"a password under 12 bytes: refused"
ok "saying so" grep -q '12 to 1024 bytes' "$CONSOLE_BODY"
is "$(console_post /password "current=$OLD" code=000000 "new=$OLD" "again=$OLD")" 400 \
	"the same password: refused"
ok "saying so" grep -q 'the new password is the current one' "$CONSOLE_BODY"
is "$(_sql "SELECT count(*) FROM failures")" 0 "mistakes in the new password count no failure"
is "$(console_post /password current=wrong-password-123 code=000000 "new=$NEW" "again=$NEW")" 403 \
	"a wrong current password: refused"
is "$(_audit_last)" "password change failed (bob): wrong password" "audited"
is "$(console_post /password "current=$OLD" code=000000 "new=$NEW" "again=$NEW")" 403 \
	"a wrong code: refused"
is "$(_sql "SELECT count(*) FROM failures WHERE kind = 'user' AND key = 'bob'")" 2 \
	"both counted as failures of bob"
_sql "DELETE FROM failures"
HASH_BEFORE=$(_sql "SELECT pw_hash FROM users WHERE name = 'bob'")
CODE=$(console_code bob)
is "$(console_post /password "current=$OLD" "code=$CODE" "new=$NEW" "again=$NEW")" 303 \
	"bob changes his password"
is "$(_audit_last)" "password change bob (other sessions ended)" "audited"
ok "hashed again" test "$(_sql "SELECT pw_hash FROM users WHERE name = 'bob'")" != "$HASH_BEFORE"
is "$(_sql "SELECT substr(pw_hash, 1, 30) FROM users WHERE name = 'bob'")" \
	'$argon2id$v=19$m=1024,t=1,p=1$' "with today's Argon2id parameters"
is "$(console_get /)" 200 "this session goes on"
ok "with the message" grep -q 'password changed; your other sessions were ended' "$CONSOLE_BODY"
CONSOLE_SID=$BOB2_SID
is "$(console_get /)" 303 "the other session ended"
CONSOLE_SID=$BOB1_SID
_age bob
is "$(console_post /password "current=$NEW" "code=$CODE" new=another-pw-bob-0123 again=another-pw-bob-0123)" 403 \
	"the code of the change cannot be used again"
_sql "DELETE FROM failures"
ok "the old password no longer signs in" _not console_signin bob "$OLD" 000000
ok "the new one does" console_signin bob "$NEW"
ok "an operator signs in" console_signin olga
is "$(console_post /password "current=$(console_password olga)" "code=$(console_code olga)" \
	new=olga-new-password-1 again=olga-new-password-1)" 303 "an operator changes their password"

## expiry with [console] step_up_seconds (a wait, never a timing assertion)
stop_bg console
echo "step_up_seconds = 1" >>"$CONSOLE_CONF" # the last section is [console]
console_start || bail_out "console did not restart"
ok "alice signs in" console_signin alice
sleep 2
is "$(console_post /users/disable name=olga)" 403 "a step-up of 1 s: expired 2 s later"
is "$(_enabled olga)" 1 "olga not disabled"

## the re-hash at sign-in only upgrades (X2-5)
stop_bg console
sed -i 's/^argon2_time = 1$/argon2_time = 2/' "$CONSOLE_CONF"
ok "dora added with t=2" console_user_add dora operator
sed -i 's/^argon2_time = 2$/argon2_time = 1/' "$CONSOLE_CONF"
console_start || bail_out "console did not restart"
ok "a warning for parameters below a stored hash" \
	wait_for 10 grep -q 'below the cost of 1 stored password hash' "$TEST_TMP/console.log"
ok "dora signs in" console_signin dora
is "$(_sql "SELECT substr(pw_hash, 1, 30) FROM users WHERE name = 'dora'")" \
	'$argon2id$v=19$m=1024,t=2,p=1$' "a lower argon2_time does not re-hash dora lower"
is "$(_sql "SELECT count(*) FROM audit WHERE what LIKE 'password of dora re-hashed%'")" 0 \
	"no re-hash"
stop_bg console
sed -i 's/^argon2_memory_kib = 1024$/argon2_memory_kib = 2048/' "$CONSOLE_CONF"
console_start || bail_out "console did not restart"
ok "dora signs in" console_signin dora
is "$(_sql "SELECT substr(pw_hash, 1, 30) FROM users WHERE name = 'dora'")" \
	'$argon2id$v=19$m=2048,t=2,p=1$' "more memory today: re-hashed with it, t=2 kept"
is "$(_sql "SELECT count(*) FROM audit WHERE what = 'password of dora re-hashed (m=2048 KiB, t=2, p=1)'")" 1 \
	"the re-hash is audited with its parameters"
done_testing
