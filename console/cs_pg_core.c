/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_core.c - the core's pages (docs/console.md "Sign-in", "Users"):
 * sign-in, sign-out, the dashboard and the admin's console users page. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cs_int.h"
#include "mqs_totp.h"
#include "mqs_util.h"

#define SIGNIN_FAILED                                                                              \
	"sign-in failed: wrong name, password or code, or too many attempts (try again later)"

static void signin_form(struct cs_resp *resp, struct cs_req *req, const char *name,
                        const char *error)
{
	cs_page_begin(resp, req, "Sign in");
	cs_out_raw(resp, "<div class=\"signin\">");
	if (error != NULL) {
		cs_out_raw(resp, "<p class=\"flash err\" role=\"alert\" id=\"signin-error\">");
		cs_out_text(resp, error);
		cs_out_raw(resp, "</p>");
	}
	cs_out_raw(resp,
	           "<form method=\"post\" action=\"/signin\" autocomplete=\"off\"><fieldset>");
	cs_out_csrf(resp, req);
	cs_out_raw(resp, "<label for=\"name\">Name</label><input id=\"name\" name=\"name\" "
	                 "required maxlength=\"64\" autocomplete=\"username\" value=\"");
	cs_out_attr(resp, name != NULL ? name : "");
	cs_out_raw(resp, "\"><label for=\"password\">Password</label><input id=\"password\" "
	                 "name=\"password\" type=\"password\" required maxlength=\"1024\" "
	                 "autocomplete=\"current-password\"><label for=\"code\">Code from the "
	                 "authenticator app</label><input id=\"code\" name=\"code\" required "
	                 "inputmode=\"numeric\" pattern=\"[0-9]{6,8}\" maxlength=\"8\" "
	                 "autocomplete=\"one-time-code\"><button type=\"submit\" id=\"signin\">"
	                 "Sign in</button></fieldset></form></div>");
	cs_page_end(resp);
}

static int get_signin(struct cs_req *req, struct cs_resp *resp)
{
	if (cs_req_user(req)[0] != '\0')
		return cs_resp_redirect(resp, "/", NULL, 1);
	signin_form(resp, req, NULL, NULL);
	return 200;
}

static int code_ok(const char *code)
{
	size_t n = code != NULL ? strlen(code) : 0;

	if (n < 6 || n > MQS_TOTP_CODE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (code[i] < '0' || code[i] > '9')
			return 0;
	}
	return 1;
}

/* Check the TOTP code of u: each code once. */
int cs_totp_check(struct cs_console *cs, struct cs_user *u, const char *code, int64_t now)
{
	uint8_t secret[MQS_TOTP_SECRET_MAX];
	struct mqs_totp_params p;
	uint64_t step = 0;
	size_t n = 0;
	int rc = MQS_ERR_INVAL;

	if (!code_ok(code))
		goto out;
	mqs_totp_params_default(&p);
	rc = cs_console_totp_open(cs, u->name, u->totp_wrapped, u->totp_wrapped_len, secret,
	                          sizeof(secret), &n);
	if (rc != MQS_OK)
		goto out;
	rc = mqs_totp_validate(secret, n, &p, (time_t)now, CS_TOTP_WINDOW, code, &step);
	if (rc != MQS_OK)
		goto out;
	if ((long long)step <= u->totp_last_step) {
		rc = MQS_ERR_TOTP_REPLAY;
		goto out;
	}
	rc = cs_db_user_use_step(cs->db, u->id, (long long)step);
	if (rc == MQS_OK)
		u->totp_last_step = (long long)step;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

/* Count a failure of name and of the address; audit the bans. */
int cs_req_count_failure(struct cs_req *req, const char *name)
{
	struct cs_console *cs = cs_req_console(req);
	const struct cs_conf *cf = &cs->conf;
	const char *addr = cs_req_ban_addr(req);
	int64_t now = cs_req_now(req);
	char what[CS_WHAT_MAX];
	int banned = 0;

	if (cs_db_fail(cs->db, "user", name, now, cf->max_failures, cf->failure_window,
	               cf->ban_seconds)) {
		snprintf(what, sizeof(what), "ban: user %s after %u failures", name,
		         cf->max_failures);
		cs_req_audit(req, what, 0);
		banned = 1;
	}
	if (cs_db_fail(cs->db, "addr", addr, now, cf->max_failures_ip, cf->failure_window,
	               cf->ban_seconds)) {
		snprintf(what, sizeof(what), "ban: address %s after %u failures", addr,
		         cf->max_failures_ip);
		cs_req_audit(req, what, 0);
	}
	return banned;
}

/* After a successful sign-in: a hash weaker than today's Argon2id
 * parameters (time or memory cost), or of another parallelism, is replaced,
 * so that every user converges to the cost an unknown name pays; a cost is
 * never lowered when [console] argon2_* were lowered (docs/console.md
 * "Passwords").  A failure keeps the old hash (it still verifies). */
static void rehash(struct cs_req *req, const struct cs_user *u, const char *password)
{
	struct cs_console *cs = cs_req_console(req);
	const struct cs_conf *cf = &cs->conf;
	unsigned t = cf->argon2_t, m = cf->argon2_m_kib, p = cf->argon2_p;
	char hash[CS_HASH_MAX];
	char what[CS_WHAT_MAX];

	if (!cs_password_upgrade(u->pw_hash, &t, &m, &p))
		return;
	if (cs_password_hash(password, t, m, p, hash) != MQS_OK ||
	    cs_db_user_set_password(cs->db, u->name, hash) != MQS_OK) {
		snprintf(what, sizeof(what), "password re-hash of %s failed", u->name);
		cs_req_audit(req, what, 0);
		goto out;
	}
	snprintf(what, sizeof(what), "password of %s re-hashed (m=%u KiB, t=%u, p=%u)", u->name, m,
	         t, p);
	cs_req_audit(req, what, 1);
out:
	OPENSSL_cleanse(hash, sizeof(hash));
}

static int post_signin(struct cs_req *req, struct cs_resp *resp)
{
	struct cs_console *cs = cs_req_console(req);
	const struct cs_conf *cf = &cs->conf;
	const char *name = cs_req_param(req, "name");
	const char *password = cs_req_param(req, "password");
	const char *code = cs_req_param(req, "code");
	const char *addr = cs_req_ban_addr(req);
	const char *why = "wrong password";
	char sid[CS_SID_TEXT + 1] = "";
	char what[CS_WHAT_MAX];
	struct cs_user u;
	int64_t now = cs_req_now(req);
	int have_user = 0, status = 403, rc;

	memset(&u, 0, sizeof(u));
	/* an empty password is malformed for every name: a known name would
	 * otherwise answer without the Argon2id work an unknown one costs
	 * (docs/console.md "Sign-in") */
	if (!cs_name_ok(name) || password == NULL || password[0] == '\0' ||
	    strlen(password) > CS_PASSWORD_MAX) {
		why = "malformed";
		name = cs_name_ok(name) ? name : "?";
		goto fail;
	}
	if (cs_db_banned(cs->db, "addr", addr, now) > 0 ||
	    cs_db_banned(cs->db, "user", name, now) > 0) {
		snprintf(what, sizeof(what), "sign-in refused: banned (%s)", name);
		cs_req_audit(req, what, 0);
		goto render;
	}
	rc = cs_db_user_get(cs->db, name, &u);
	if (rc != MQS_OK) {
		cs_password_dummy(cf->argon2_t, cf->argon2_m_kib, cf->argon2_p);
		why = "unknown user";
		goto fail;
	}
	have_user = 1;
	if (cs_password_verify(u.pw_hash, password) != MQS_OK)
		goto fail;
	if (!u.enabled) {
		why = "disabled user";
		goto fail;
	}
	rc = cs_totp_check(cs, &u, code, now);
	if (rc != MQS_OK) {
		why = rc == MQS_ERR_TOTP_REPLAY ? "code already used" : "wrong code";
		goto fail;
	}
	if (cs_session_create(cs->db, u.id, now, sid) != MQS_OK) {
		status = 500;
		goto out;
	}
	cs_db_fail_clear(cs->db, "user", name);
	cs_db_fail_clear(cs->db, "addr", addr);
	rehash(req, &u, password);
	cs_session_gc(cs->db, now, cf->session_idle, cf->session_max);
	cs_req_set_session(req, sid, u.id);
	snprintf(what, sizeof(what), "sign-in %s", u.name);
	cs_req_audit(req, what, 1);
	status = cs_resp_redirect(resp, "/", NULL, 1);
	goto out;
fail:
	snprintf(what, sizeof(what), "sign-in failed (%s): %s", name, why);
	cs_req_audit(req, what, 0);
	(void)cs_req_count_failure(req, name);
render:
	(void)have_user;
	signin_form(resp, req, NULL, SIGNIN_FAILED);
	status = 403;
out:
	cs_user_release(&u);
	OPENSSL_cleanse(sid, sizeof(sid));
	return status;
}

static int post_signout(struct cs_req *req, struct cs_resp *resp)
{
	cs_req_audit(req, "sign-out", 1);
	cs_req_clear_session(req);
	return cs_resp_redirect(resp, "/signin", NULL, 1);
}

static int get_dashboard(struct cs_req *req, struct cs_resp *resp)
{
	struct cs_console *cs = cs_req_console(req);
	unsigned role = cs_req_role(req);

	cs_page_begin(resp, req, "Dashboard");
	cs_out_raw(resp, "<div class=\"cards\"><div class=\"card\" id=\"whoami\"><div "
	                 "class=\"muted\">Signed in as</div><div class=\"n\">");
	cs_out_text(resp, cs_req_user(req));
	cs_out_raw(resp, "</div><div>");
	cs_out_text(resp, cs_role_name(role));
	if (role == CS_ROLE_REVIEWER) {
		cs_out_raw(resp, ", level ");
		cs_out_text(resp, cs_req_level(req));
	}
	cs_out_raw(resp, "</div></div>");
	cs_out_raw(resp, "<div class=\"card\"><div class=\"muted\">Broker</div><div>");
	cs_out_raw(resp, cs->conf.broker_db != NULL ? "configured" : "not configured");
	cs_out_raw(resp, "</div></div><div class=\"card\"><div class=\"muted\">Gateway</div><div>");
	cs_out_raw(resp, cs->conf.gateway_conf != NULL ? "configured" : "not configured");
	cs_out_raw(resp, "</div></div>");
	if (role == CS_ROLE_ADMIN)
		cs_out_fmt(resp,
		           "<div class=\"card\"><div class=\"muted\">Console users</div>"
		           "<div class=\"n\">%lld</div></div>",
		           cs_db_user_count(cs->db));
	cs_out_raw(resp, "</div>");
	cs_page_end(resp);
	return 200;
}

/* ---- console users (admin) ---- */

struct list_ctx {
	struct cs_resp *resp;
	struct cs_req *req;
};

static void user_button(struct cs_resp *resp, struct cs_req *req, const char *action,
                        const char *name, const char *label, int danger)
{
	cs_out_raw(resp, "<form class=\"inline\" method=\"post\" action=\"/users/");
	cs_out_raw(resp, action);
	cs_out_raw(resp, "\">");
	cs_out_csrf(resp, req);
	cs_out_raw(resp, "<input type=\"hidden\" name=\"name\" value=\"");
	cs_out_attr(resp, name);
	cs_out_raw(resp, danger ? "\"><button class=\"danger\" type=\"submit\">"
	                        : "\"><button class=\"plain\" type=\"submit\">");
	cs_out_text(resp, label);
	cs_out_raw(resp, "</button></form> ");
}

static int list_row(const struct cs_user *u, void *arg)
{
	struct list_ctx *l = arg;

	cs_out_raw(l->resp, "<tr><td>");
	cs_out_text(l->resp, u->name);
	cs_out_raw(l->resp, "</td><td>");
	cs_out_text(l->resp, cs_role_name(u->role));
	cs_out_raw(l->resp, "</td><td>");
	cs_out_text(l->resp, u->level);
	cs_out_raw(l->resp, "</td><td>");
	cs_out_raw(l->resp, u->enabled ? "enabled" : "disabled");
	cs_out_raw(l->resp, "</td><td>");
	user_button(l->resp, l->req, u->enabled ? "disable" : "enable", u->name,
	            u->enabled ? "Disable" : "Enable", 0);
	user_button(l->resp, l->req, "reset-totp", u->name, "Reset TOTP", 0);
	user_button(l->resp, l->req, "rm", u->name, "Remove", 1);
	cs_out_raw(l->resp, "</td></tr>\n");
	return MQS_OK;
}

static int get_users(struct cs_req *req, struct cs_resp *resp)
{
	struct cs_console *cs = cs_req_console(req);
	struct list_ctx l = {resp, req};

	cs_page_begin(resp, req, "Console users");
	cs_out_raw(resp, "<table id=\"users\"><thead><tr><th>Name</th><th>Role</th><th>Level</th>"
	                 "<th>State</th><th></th></tr></thead><tbody>");
	if (cs_db_user_each(cs->db, list_row, &l) != MQS_OK)
		return 500;
	cs_out_raw(resp, "</tbody></table><h2>Add a user</h2><form method=\"post\" "
	                 "action=\"/users/add\" autocomplete=\"off\"><fieldset>");
	cs_out_csrf(resp, req);
	cs_out_raw(resp,
	           "<label for=\"n\">Name</label><input id=\"n\" name=\"name\" required "
	           "maxlength=\"64\" pattern=\"[A-Za-z0-9._][A-Za-z0-9._\\-]*\">"
	           "<label for=\"r\">Role</label><select id=\"r\" name=\"role\">"
	           "<option>operator</option><option>reviewer</option><option>admin</option>"
	           "</select><label for=\"l\">Level (reviewers)</label><input id=\"l\" "
	           "name=\"level\" maxlength=\"32\"><label for=\"p\">Initial password (at least "
	           "12 characters)</label><input id=\"p\" name=\"password\" type=\"password\" "
	           "required minlength=\"12\" maxlength=\"1024\" autocomplete=\"new-password\">"
	           "<p><button type=\"submit\">Add</button></p></fieldset></form>");
	cs_page_end(resp);
	return 200;
}

/* The page that shows a new TOTP secret once. */
static int show_totp(struct cs_req *req, struct cs_resp *resp, const char *name, const char *uri)
{
	struct mqs_buf svg;
	int status = 200;

	mqs_buf_init(&svg, 256 * 1024, 1);
	if (cs_qr_svg(&svg, uri) != MQS_OK) {
		status = 500;
		goto out;
	}
	cs_page_begin(resp, req, "Authenticator for a console user");
	cs_out_raw(resp, "<p class=\"flash ok\" role=\"status\">User ");
	cs_out_text(resp, name);
	cs_out_raw(resp, ": scan this code with the authenticator app now. It is shown only "
	                 "once.</p><p>");
	cs_out_raw(resp, mqs_buf_str(&svg)); /* built from the QR matrix only */
	cs_out_raw(resp, "</p><p class=\"mono\" id=\"otpauth\">");
	cs_out_text(resp, uri);
	cs_out_raw(resp, "</p><p><a href=\"/users\">Back to the console users</a></p>");
	cs_page_end(resp);
out:
	mqs_buf_release(&svg);
	return status;
}

static int post_user_add(struct cs_req *req, struct cs_resp *resp)
{
	struct cs_console *cs = cs_req_console(req);
	const struct cs_conf *cf = &cs->conf;
	const char *name = cs_req_param(req, "name");
	const char *level = cs_req_param(req, "level");
	const char *password = cs_req_param(req, "password");
	unsigned role = cs_role_parse(cs_req_param(req, "role"));
	struct cs_user u;
	char *uri = NULL;
	char what[CS_WHAT_MAX];
	int status, rc;

	memset(&u, 0, sizeof(u));
	if (level != NULL && level[0] == '\0')
		level = NULL;
	if (!cs_name_ok(name)) {
		status = cs_resp_redirect(resp, "/users", "bad name: 1-64 of A-Z a-z 0-9 . _ -", 0);
		goto out;
	}
	if (role == 0 || (role == CS_ROLE_REVIEWER) != (level != NULL) ||
	    (level != NULL && !cs_level_ok(level))) {
		status = cs_resp_redirect(resp, "/users",
		                          "bad role or level (a level for reviewers only)", 0);
		goto out;
	}
	snprintf(u.name, sizeof(u.name), "%s", name);
	snprintf(u.level, sizeof(u.level), "%s", level != NULL ? level : "");
	u.role = role;
	if (cs_password_hash(password, cf->argon2_t, cf->argon2_m_kib, cf->argon2_p, u.pw_hash) !=
	    MQS_OK) {
		status = cs_resp_redirect(resp, "/users", "bad password: 12 to 1024 bytes", 0);
		goto out;
	}
	rc = cs_console_totp_new(cs, name, 1, &u, &uri);
	if (rc == MQS_OK)
		rc = cs_db_user_add(cs->db, &u, cs_req_now(req));
	snprintf(what, sizeof(what), "user add %s (%s)", name, cs_role_name(role));
	cs_req_audit(req, what, rc == MQS_OK);
	if (rc == MQS_ERR_EXISTS) {
		status = cs_resp_redirect(resp, "/users", "a user of that name exists", 0);
		goto out;
	}
	if (rc != MQS_OK) {
		status = 500;
		goto out;
	}
	status = show_totp(req, resp, name, uri);
out:
	mqs_secret_free_str(uri);
	cs_user_release(&u);
	return status;
}

/* The user named in the form, refusing the signed-in admin's own name for
 * the changes that would lock them out. */
static int target(struct cs_req *req, struct cs_resp *resp, const char **name, int self_ok)
{
	*name = cs_req_param(req, "name");
	if (!cs_name_ok(*name))
		return cs_resp_redirect(resp, "/users", "no such user", 0);
	if (!self_ok && strcmp(*name, cs_req_user(req)) == 0)
		return cs_resp_redirect(resp, "/users", "not on your own user", 0);
	return 0;
}

static int user_change(struct cs_req *req, struct cs_resp *resp, const char *verb)
{
	struct cs_console *cs = cs_req_console(req);
	const char *name;
	char what[CS_WHAT_MAX], msg[CS_FLASH_MAX];
	struct cs_user u;
	int status = target(req, resp, &name, 0), rc;

	if (status != 0)
		return status;
	memset(&u, 0, sizeof(u));
	rc = cs_db_user_get(cs->db, name, &u);
	if (rc == MQS_OK) {
		if (strcmp(verb, "disable") == 0)
			rc = cs_db_user_set_enabled(cs->db, name, 0);
		else if (strcmp(verb, "enable") == 0)
			rc = cs_db_user_set_enabled(cs->db, name, 1);
		else
			rc = cs_db_user_rm(cs->db, name);
		if (rc == MQS_OK && strcmp(verb, "enable") != 0)
			cs_session_drop_user(cs->db, u.id);
	}
	snprintf(what, sizeof(what), "user %s %s", verb, name);
	cs_req_audit(req, what, rc == MQS_OK);
	if (rc == MQS_OK)
		snprintf(msg, sizeof(msg), "user %s: %s done", name, verb);
	else
		snprintf(msg, sizeof(msg), "user %s: %s", name,
		         rc == MQS_ERR_NOENT ? "no such user" : "failed");
	cs_user_release(&u);
	return cs_resp_redirect(resp, "/users", msg, rc == MQS_OK);
}

static int post_user_disable(struct cs_req *req, struct cs_resp *resp)
{
	return user_change(req, resp, "disable");
}

static int post_user_enable(struct cs_req *req, struct cs_resp *resp)
{
	return user_change(req, resp, "enable");
}

static int post_user_rm(struct cs_req *req, struct cs_resp *resp)
{
	return user_change(req, resp, "rm");
}

static int post_user_reset_totp(struct cs_req *req, struct cs_resp *resp)
{
	struct cs_console *cs = cs_req_console(req);
	const char *name;
	char *uri = NULL;
	char what[CS_WHAT_MAX];
	struct cs_user u;
	int status = target(req, resp, &name, 1), rc;

	if (status != 0)
		return status;
	/* Never one's own from a session: whoever holds a stolen session could
	 * enrol a new second factor and shut the owner out.  Another admin, or
	 * `mqttsec-console user reset-totp` on the host, does it
	 * (docs/console.md, "Console users"). */
	if (strcmp(name, cs_req_user(req)) == 0) {
		cs_req_audit(req, "user reset-totp (own, refused)", 0);
		return cs_resp_redirect(resp, "/users",
		                        "cannot reset your own TOTP here: ask another admin or use "
		                        "mqttsec-console user reset-totp on the host",
		                        0);
	}
	memset(&u, 0, sizeof(u));
	rc = cs_db_user_get(cs->db, name, &u);
	if (rc == MQS_OK)
		rc = cs_console_totp_new(cs, name, 0, &u, &uri);
	if (rc == MQS_OK)
		cs_session_drop_user(cs->db, u.id);
	snprintf(what, sizeof(what), "user reset-totp %s", name);
	cs_req_audit(req, what, rc == MQS_OK);
	if (rc == MQS_OK)
		status = show_totp(req, resp, name, uri);
	else
		status = cs_resp_redirect(resp, "/users",
		                          rc == MQS_ERR_NOENT ? "no such user" : "reset failed", 0);
	mqs_secret_free_str(uri);
	cs_user_release(&u);
	return status;
}

/* The core's routes. */
const struct cs_route cs_pg_core_routes[] = {
    {"GET", "/signin", CS_ROLE_PUBLIC, NULL, get_signin},
    {"POST", "/signin", CS_ROLE_PUBLIC, NULL, post_signin},
    {"POST", "/signout", CS_ROLES_ALL, NULL, post_signout},
    {"GET", "/", CS_ROLES_ALL, "Dashboard", get_dashboard},
    {"GET", "/users", CS_ROLE_ADMIN, "Console users", get_users},
    {"POST", "/users/add", CS_ROLE_ADMIN | CS_STEP_UP, NULL, post_user_add},
    {"POST", "/users/disable", CS_ROLE_ADMIN | CS_STEP_UP, NULL, post_user_disable},
    {"POST", "/users/enable", CS_ROLE_ADMIN | CS_STEP_UP, NULL, post_user_enable},
    {"POST", "/users/reset-totp", CS_ROLE_ADMIN | CS_STEP_UP, NULL, post_user_reset_totp},
    {"POST", "/users/rm", CS_ROLE_ADMIN | CS_STEP_UP, NULL, post_user_rm},
    {NULL, NULL, 0, NULL, NULL},
};
