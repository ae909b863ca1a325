/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_account.c - one's own account (docs/console.md "Step-up", "Own
 * password"): the step-up form that sensitive actions demand (password and
 * a new TOTP code), and changing one's own password. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cs_int.h"
#include "mqs_util.h"

#define NEXT_MAX 128
#define STEPUP_FAILED                                                                              \
	"confirmation failed: wrong password or code, or too many attempts (try again later)"
#define PASSWORD_FAILED                                                                            \
	"password not changed: wrong current password or code, or too many attempts (try again "   \
	"later)"

/* A page of this console to return to: '/' then [A-Za-z0-9/._-], no "//"
 * and no "..", at most NEXT_MAX bytes; anything else is "/". */
static void next_clean(const char *next, char out[NEXT_MAX + 1])
{
	size_t n = next != NULL ? strlen(next) : 0;
	int ok = n > 0 && n <= NEXT_MAX && next[0] == '/' && strstr(next, "//") == NULL &&
	         strstr(next, "..") == NULL;

	for (size_t i = 0; ok && i < n; i++) {
		char c = next[i];

		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '/' || c == '.' || c == '_' || c == '-';
	}
	snprintf(out, NEXT_MAX + 1, "%s", ok ? next : "/");
}

/* The page of an action: its path without the last part ("/users/add":
 * "/users"). */
static void action_page(const char *path, char out[NEXT_MAX + 1])
{
	char tmp[NEXT_MAX + 1];
	char *slash;

	next_clean(path, tmp);
	slash = strrchr(tmp, '/');
	if (slash != NULL && slash != tmp)
		*slash = '\0';
	else
		snprintf(tmp, sizeof(tmp), "/");
	snprintf(out, NEXT_MAX + 1, "%s", tmp);
}

static void stepup_form(struct cs_resp *resp, struct cs_req *req, const char *next,
                        const char *error, int demanded)
{
	struct cs_console *cs = cs_req_console(req);

	cs_page_begin(resp, req, "Confirm it is you");
	cs_out_raw(resp, "<div class=\"signin\">");
	if (error != NULL) {
		cs_out_raw(resp, "<p class=\"flash err\" role=\"alert\" id=\"stepup-error\">");
		cs_out_text(resp, error);
		cs_out_raw(resp, "</p>");
	}
	if (demanded)
		cs_out_raw(resp,
		           "<p id=\"stepup-needed\">This action needs your password and a new "
		           "code from the authenticator app. It was not done.</p>");
	cs_out_fmt(resp,
	           "<p>For %lld minute(s) after confirming, the protected actions (console "
	           "users, adding, rekeying and removing devices, topic keys) need no new "
	           "code. You then return to the page to do the action again.</p>",
	           (cs->conf.step_up + 59) / 60);
	cs_out_raw(resp, "<form method=\"post\" action=\"/stepup\" autocomplete=\"off\" "
	                 "id=\"stepup-form\"><fieldset>");
	cs_out_csrf(resp, req);
	cs_out_raw(resp, "<input type=\"hidden\" name=\"next\" value=\"");
	cs_out_attr(resp, next);
	cs_out_raw(resp, "\"><label for=\"password\">Password</label><input id=\"password\" "
	                 "name=\"password\" type=\"password\" required maxlength=\"1024\" "
	                 "autocomplete=\"current-password\"><label for=\"code\">New code from "
	                 "the authenticator app</label><input id=\"code\" name=\"code\" required "
	                 "inputmode=\"numeric\" pattern=\"[0-9]{6,8}\" maxlength=\"8\" "
	                 "autocomplete=\"one-time-code\"><button type=\"submit\" id=\"stepup\">"
	                 "Confirm</button></fieldset></form></div>");
	cs_page_end(resp);
}

/* The core's answer to a sensitive POST without a fresh step-up. */
int cs_stepup_demand(struct cs_req *req, struct cs_resp *resp)
{
	char next[NEXT_MAX + 1];

	cs_req_audit(req, "refused: step-up needed", 0);
	action_page(cs_req_path(req), next);
	stepup_form(resp, req, next, NULL, 1);
	return 403;
}

static int get_stepup(struct cs_req *req, struct cs_resp *resp)
{
	char next[NEXT_MAX + 1];

	next_clean(cs_req_param(req, "next"), next);
	stepup_form(resp, req, next, NULL, 0);
	return 200;
}

/* Password and code of the signed-in user, for a step-up or a password
 * change: MQS_OK (the failures of the name and the address cleared), or an
 * error with *why set for the audit and *count 1 when it counts as a
 * failure (0: refused because already banned). */
static int reauth(struct cs_req *req, struct cs_user *u, const char *password, const char *code,
                  const char **why, int *count)
{
	struct cs_console *cs = cs_req_console(req);
	const struct cs_conf *cf = &cs->conf;
	const char *name = cs_req_user(req);
	int64_t now = cs_req_now(req);
	int rc;

	*count = 1;
	if (cs_db_banned(cs->db, "addr", cs_req_ban_addr(req), now) > 0 ||
	    cs_db_banned(cs->db, "user", name, now) > 0) {
		*why = "banned";
		*count = 0;
		return MQS_ERR_PERM;
	}
	if (password == NULL || password[0] == '\0' || strlen(password) > CS_PASSWORD_MAX) {
		*why = "malformed";
		cs_password_dummy(cf->argon2_t, cf->argon2_m_kib, cf->argon2_p);
		return MQS_ERR_INVAL;
	}
	rc = cs_db_user_get(cs->db, name, u);
	if (rc != MQS_OK) {
		*why = "no such user";
		return rc;
	}
	if (cs_password_verify(u->pw_hash, password) != MQS_OK) {
		*why = "wrong password";
		return MQS_ERR_PERM;
	}
	rc = cs_totp_check(cs, u, code, now);
	if (rc != MQS_OK) {
		*why = rc == MQS_ERR_TOTP_REPLAY ? "code already used" : "wrong code";
		return rc;
	}
	cs_db_fail_clear(cs->db, "user", name);
	cs_db_fail_clear(cs->db, "addr", cs_req_ban_addr(req));
	return MQS_OK;
}

/* After a failed re-authentication: audited, counted; when it banned the
 * user, this session ends too (1 returned, the answer made). */
static int reauth_failed(struct cs_req *req, struct cs_resp *resp, const char *verb,
                         const char *why, int count, int *status)
{
	char what[CS_WHAT_MAX];

	snprintf(what, sizeof(what), "%s failed (%s): %s", verb, cs_req_user(req), why);
	cs_req_audit(req, what, 0);
	if (!count || !cs_req_count_failure(req, cs_req_user(req)))
		return 0;
	cs_req_audit(req, "session ended: user banned", 0);
	cs_req_clear_session(req);
	*status = cs_resp_redirect(resp, "/signin", NULL, 1);
	return 1;
}

static int post_stepup(struct cs_req *req, struct cs_resp *resp)
{
	struct cs_console *cs = cs_req_console(req);
	const char *why = "";
	char next[NEXT_MAX + 1], what[CS_WHAT_MAX], msg[CS_FLASH_MAX];
	struct cs_user u;
	int status = 403, count = 1;

	memset(&u, 0, sizeof(u));
	next_clean(cs_req_param(req, "next"), next);
	if (reauth(req, &u, cs_req_param(req, "password"), cs_req_param(req, "code"), &why,
	           &count) != MQS_OK) {
		if (!reauth_failed(req, resp, "step-up", why, count, &status)) {
			stepup_form(resp, req, next, STEPUP_FAILED, 0);
			status = 403;
		}
		goto out;
	}
	if (cs_req_stepup_set(req) != MQS_OK) {
		status = 500;
		goto out;
	}
	snprintf(what, sizeof(what), "step-up %s", u.name);
	cs_req_audit(req, what, 1);
	snprintf(msg, sizeof(msg),
	         "confirmed: for %lld minute(s) the protected actions need no new code; do the "
	         "action again",
	         (cs->conf.step_up + 59) / 60);
	status = cs_resp_redirect(resp, next, msg, 1);
out:
	cs_user_release(&u);
	return status;
}

/* ---- one's own password ---- */

static void password_form(struct cs_resp *resp, struct cs_req *req, const char *error)
{
	cs_page_begin(resp, req, "Change your password");
	if (error != NULL) {
		cs_out_raw(resp, "<p class=\"flash err\" role=\"alert\" id=\"password-error\">");
		cs_out_text(resp, error);
		cs_out_raw(resp, "</p>");
	}
	cs_out_fmt(resp,
	           "<p>A new password has %d to %d bytes and is not the current one. Changing it "
	           "ends your other sessions (other browsers, other devices).</p>",
	           CS_PASSWORD_MIN, CS_PASSWORD_MAX);
	cs_out_raw(resp, "<form method=\"post\" action=\"/password\" autocomplete=\"off\" "
	                 "id=\"password-form\"><fieldset>");
	cs_out_csrf(resp, req);
	cs_out_fmt(resp,
	           "<label for=\"current\">Current password</label><input id=\"current\" "
	           "name=\"current\" type=\"password\" required maxlength=\"%d\" "
	           "autocomplete=\"current-password\"><label for=\"code\">Code from the "
	           "authenticator app</label><input id=\"code\" name=\"code\" required "
	           "inputmode=\"numeric\" pattern=\"[0-9]{6,8}\" maxlength=\"8\" "
	           "autocomplete=\"one-time-code\"><label for=\"new\">New password</label><input "
	           "id=\"new\" name=\"new\" type=\"password\" required minlength=\"%d\" "
	           "maxlength=\"%d\" autocomplete=\"new-password\"><label for=\"again\">New "
	           "password again</label><input id=\"again\" name=\"again\" type=\"password\" "
	           "required minlength=\"%d\" maxlength=\"%d\" autocomplete=\"new-password\">"
	           "<button type=\"submit\" id=\"change-password\">Change password</button>"
	           "</fieldset></form>",
	           CS_PASSWORD_MAX, CS_PASSWORD_MIN, CS_PASSWORD_MAX, CS_PASSWORD_MIN,
	           CS_PASSWORD_MAX);
	cs_page_end(resp);
}

static int get_password(struct cs_req *req, struct cs_resp *resp)
{
	password_form(resp, req, NULL);
	return 200;
}

/* The new password's own checks (no Argon2id work): NULL when fine, else
 * the reason shown. */
static const char *new_password_problem(const char *current, const char *pw, const char *again)
{
	size_t n = pw != NULL ? strlen(pw) : 0;

	if (pw == NULL || again == NULL || n != strlen(again) || CRYPTO_memcmp(pw, again, n) != 0)
		return "password not changed: the two new passwords differ";
	if (n < CS_PASSWORD_MIN || n > CS_PASSWORD_MAX)
		return "password not changed: a password has 12 to 1024 bytes";
	if (current != NULL && strlen(current) == n && CRYPTO_memcmp(current, pw, n) == 0)
		return "password not changed: the new password is the current one";
	return NULL;
}

static int post_password(struct cs_req *req, struct cs_resp *resp)
{
	struct cs_console *cs = cs_req_console(req);
	const struct cs_conf *cf = &cs->conf;
	const char *current = cs_req_param(req, "current");
	const char *pw = cs_req_param(req, "new");
	const char *problem, *why = "";
	char hash[CS_HASH_MAX] = "";
	char what[CS_WHAT_MAX];
	struct cs_user u;
	int status = 403, count = 1, ended;

	memset(&u, 0, sizeof(u));
	problem = new_password_problem(current, pw, cs_req_param(req, "again"));
	if (problem != NULL) {
		snprintf(what, sizeof(what), "password change refused (%s): %s", cs_req_user(req),
		         problem + strlen("password not changed: "));
		cs_req_audit(req, what, 0);
		password_form(resp, req, problem);
		status = 400;
		goto out;
	}
	if (reauth(req, &u, current, cs_req_param(req, "code"), &why, &count) != MQS_OK) {
		if (!reauth_failed(req, resp, "password change", why, count, &status)) {
			password_form(resp, req, PASSWORD_FAILED);
			status = 403;
		}
		goto out;
	}
	/* a new password: today's parameters, as `user passwd` */
	if (cs_password_hash(pw, cf->argon2_t, cf->argon2_m_kib, cf->argon2_p, hash) != MQS_OK ||
	    cs_db_user_set_password(cs->db, u.name, hash) != MQS_OK) {
		snprintf(what, sizeof(what), "password change of %s failed", u.name);
		cs_req_audit(req, what, 0);
		status = 500;
		goto out;
	}
	/* the password is changed either way; say so when the other
	 * sessions could not be ended rather than claim they were */
	ended = cs_req_end_other_sessions(req) == MQS_OK;
	if (cs_req_stepup_set(req) != MQS_OK)
		cs_req_audit(req, "step-up not recorded", 0);
	snprintf(what, sizeof(what), "password change %s (other sessions %s)", u.name,
	         ended ? "ended" : "not ended: database error");
	cs_req_audit(req, what, 1);
	status = cs_resp_redirect(resp, "/",
	                          ended ? "password changed; your other sessions were ended"
	                                : "password changed, but your other sessions could not be "
	                                  "ended: sign them out",
	                          ended);
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	cs_user_release(&u);
	return status;
}

/* The routes of one's own account. */
const struct cs_route cs_pg_account_routes[] = {
    {"GET", "/stepup", CS_ROLES_ALL, NULL, get_stepup},
    {"POST", "/stepup", CS_ROLES_ALL, NULL, post_stepup},
    {"GET", "/password", CS_ROLES_ALL, "Password", get_password},
    {"POST", "/password", CS_ROLES_ALL, NULL, post_password},
    {NULL, NULL, 0, NULL, NULL},
};
