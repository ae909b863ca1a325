/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_int.h - the console core's internals (docs/console.md): configuration,
 * console database (users, sessions, audit, failures, bans), passwords,
 * sessions, CSRF, roles, HTML output and the HTTP daemon.  Page modules
 * include cs_page.h only.
 *
 * Ownership: struct cs_console is created by cs_console_open() and freed
 * by cs_console_close() (NULL is fine), which closes the console database,
 * the broker context and the gateway store and wipes the console key.
 * struct cs_conf strings are owned by the conf (cs_conf_release()).
 * struct cs_resp is initialised by cs_resp_init() and released by
 * cs_resp_release(); struct cs_req belongs to the HTTP core for one request.
 * struct cs_user strings are copies owned by the struct (cs_user_release()).
 * Secrets (passwords, TOTP secrets, session ids) are wiped when dropped.
 */
#ifndef CS_INT_H
#define CS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "cs_page.h"
#include "mqs_buf.h"
#include "mqs_master_key.h"

#define CS_NAME_MAX     64 /* console user names */
#define CS_LEVEL_MAX    32 /* reviewer levels */
#define CS_PASSWORD_MIN 12 /* bytes */
#define CS_PASSWORD_MAX 1024
#define CS_SID_LEN      32 /* session id bytes (256 bits) */
#define CS_SID_TEXT     43 /* its base64url */
#define CS_CSRF_TEXT    43 /* a CSRF token's base64url */
#define CS_PARAMS_MAX   256
#define CS_FLASH_MAX    200
#define CS_WHAT_MAX     200
#define CS_HASH_MAX     256 /* an encoded Argon2id hash */
#define CS_COOKIE_SID   "__Host-mqs_session"
#define CS_COOKIE_LOGIN "__Host-mqs_login"
#define CS_TOTP_ISSUER  "mqttsec-console"
#define CS_TOTP_WINDOW  1

/* ---- cs_config.c ---- */
struct cs_conf {
	char *path;
	char *db;       /* [console] db */
	char *key_file; /* [console] key_file */
	unsigned argon2_t, argon2_m_kib, argon2_p;
	unsigned max_failures;    /* per user within failure_window before a ban */
	unsigned max_failures_ip; /* per address */
	long long failure_window; /* seconds */
	long long ban_seconds;    /* first ban; doubles per ban, at most a day */
	long long session_idle;   /* seconds (15 min) */
	long long session_max;    /* seconds (12 h) */
	long long step_up;        /* step_up_seconds: a step-up lasts (300) */
	char *listen_host;        /* [http] listen */
	int listen_port;
	char *cert, *key;             /* [http] cert, key */
	char *host;                   /* [http] host: the only Host accepted, NULL any */
	unsigned max_connections;     /* [http] */
	unsigned per_ip;              /* [http] max_connections_per_ip */
	unsigned request_timeout;     /* [http] seconds for a whole request */
	unsigned idle_timeout;        /* [http] seconds a kept-alive connection waits */
	char *broker_db, *broker_key; /* [broker] db, master_key_file */
	char *gateway_conf;           /* [gateway] conf */
};

/* Parse path.  MQS_OK, or MQS_ERR_PARSE/IO with "file:line: reason" in err
 * and c released. */
MQS_MUST_CHECK int cs_conf_load(const char *path, struct cs_conf *c, char *err, size_t errlen);
/* Free what c holds; NULL is fine. */
void cs_conf_release(struct cs_conf *c);
/* 1 when host is a loopback address (127.0.0.0/8, ::1, localhost). */
int cs_conf_loopback(const char *host);
/* 1 when a request whose Host header is h (NULL: none) may be handled
 * (docs/console.md "Security", DNS rebinding): with [http] host set, h is
 * that name, with or without a port, case-insensitive; unset and listening
 * on loopback, h is 127.0.0.1, localhost, [::1] or the listen address, with
 * or without a port; unset beyond loopback, any h. */
int cs_host_allowed(const struct cs_conf *c, const char *h);

/* ---- cs_role.c ---- */
/* Parse "admin", "operator", "reviewer": the enum cs_role bit, 0 otherwise. */
unsigned cs_role_parse(const char *name);
/* The name of a role bit ("?" for others). */
const char *cs_role_name(unsigned role);
/* 1 when a user of role (one bit) may call a route of mask roles
 * (CS_ROLE_PUBLIC routes: everyone). */
int cs_role_allows(unsigned roles, unsigned role);
/* A user name: 1..CS_NAME_MAX of [A-Za-z0-9._-] not starting with '-'. */
int cs_name_ok(const char *name);
/* A reviewer level: 1..CS_LEVEL_MAX of [A-Za-z0-9._-]. */
int cs_level_ok(const char *level);

/* ---- cs_password.c (Argon2id) ---- */
/* Hash password into out (CS_HASH_MAX): the encoded Argon2id string with
 * a random 16-byte salt.  MQS_OK, MQS_ERR_INVAL (length outside
 * CS_PASSWORD_MIN..MAX), MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int cs_password_hash(const char *password, unsigned t, unsigned m_kib, unsigned p,
                                    char out[CS_HASH_MAX]);
/* MQS_OK when password matches the encoded hash, MQS_ERR_PERM when not. */
MQS_MUST_CHECK int cs_password_verify(const char *encoded, const char *password);
/* Spend the time of one verification (against a fixed hash) so that an
 * unknown user costs the same as a wrong password. */
void cs_password_dummy(unsigned t, unsigned m_kib, unsigned p);
/* Parse the parameters of an encoded Argon2id (version 19) hash: MQS_OK,
 * or MQS_ERR_PARSE (another variant, version or form). */
MQS_MUST_CHECK int cs_password_params(const char *encoded, unsigned *t, unsigned *m_kib,
                                      unsigned *p);
/* The re-hash at sign-in (docs/console.md "Passwords"): on entry *t, *m_kib,
 * *p are today's parameters.  1 when encoded must be re-hashed (not Argon2id
 * v19, its time or memory cost below today's, or another parallelism),
 * with *t and *m_kib raised to the stored ones where those are higher
 * (never lowered; *p stays today's); 0 when it is kept (time and memory
 * at least today's, same parallelism). */
int cs_password_upgrade(const char *encoded, unsigned *t, unsigned *m_kib, unsigned *p);

/* ---- cs_db.c: the console database ---- */
struct cs_user {
	long long id;
	char name[CS_NAME_MAX + 1];
	unsigned role;
	char level[CS_LEVEL_MAX + 1];
	int enabled;
	char pw_hash[CS_HASH_MAX];
	uint8_t *totp_wrapped;
	size_t totp_wrapped_len;
	long long totp_last_step;
	long long created_at;
};
/* Open (creating, 0600) the console database and apply migrations. */
MQS_MUST_CHECK int cs_db_open(const char *path, sqlite3 **db, char *err, size_t errlen);
/* Look a user up by name: MQS_OK, MQS_ERR_NOENT, MQS_ERR_DB. */
MQS_MUST_CHECK int cs_db_user_get(sqlite3 *db, const char *name, struct cs_user *u);
MQS_MUST_CHECK int cs_db_user_get_id(sqlite3 *db, long long id, struct cs_user *u);
/* Wipe the secrets u holds. */
void cs_user_release(struct cs_user *u);
/* Insert u (id set on success): MQS_ERR_EXISTS when the name is taken. */
MQS_MUST_CHECK int cs_db_user_add(sqlite3 *db, struct cs_user *u, long long now);
/* Update enabled / password / TOTP secret (resets last step) / last step. */
MQS_MUST_CHECK int cs_db_user_set_enabled(sqlite3 *db, const char *name, int enabled);
MQS_MUST_CHECK int cs_db_user_set_password(sqlite3 *db, const char *name, const char *hash);
MQS_MUST_CHECK int cs_db_user_set_totp(sqlite3 *db, const char *name, const uint8_t *w,
                                       size_t wlen);
/* Record step as the last accepted code when it is later than the stored
 * one: MQS_OK, or MQS_ERR_TOTP_REPLAY when not later (another sign-in won). */
MQS_MUST_CHECK int cs_db_user_use_step(sqlite3 *db, long long id, long long step);
/* Remove a user and its sessions: MQS_ERR_NOENT when absent. */
MQS_MUST_CHECK int cs_db_user_rm(sqlite3 *db, const char *name);
/* Call fn for every user by name. */
MQS_MUST_CHECK int cs_db_user_each(sqlite3 *db, int (*fn)(const struct cs_user *u, void *arg),
                                   void *arg);
/* Count users. */
long long cs_db_user_count(sqlite3 *db);
/* Append one audit row (who "" for nobody). */
void cs_db_audit(sqlite3 *db, long long now, const char *who, const char *addr, const char *method,
                 const char *path, const char *what, int ok);
/* Failures and bans: kind "user" or "addr".  cs_db_banned gives the end of
 * an active ban (0 none). */
long long cs_db_banned(sqlite3 *db, const char *kind, const char *key, long long now);
/* Record a failure; when it makes max failures within window, ban key for
 * ban_base doubled per earlier ban (at most a day) and return 1. */
int cs_db_fail(sqlite3 *db, const char *kind, const char *key, long long now, unsigned max,
               long long window, long long ban_base);
/* Forget the failures of key (a successful sign-in). */
void cs_db_fail_clear(sqlite3 *db, const char *kind, const char *key);
/* The key under which failures and bans of a client address are counted
 * (docs/console.md "Sign-in"): an IPv4 address as it is, an IPv4-mapped IPv6
 * address as its IPv4, any other IPv6 address as its /64 ("2001:db8::/64"),
 * anything else as it is.  Written to out (cap bytes, truncated). */
void cs_addr_ban_key(const char *addr, char *out, size_t cap);

/* ---- cs_session.c ---- */
struct cs_session {
	long long user_id;
	long long created_at;
	long long last_seen;
	long long stepup_at; /* last password + code: sign-in, step-up */
	char csrf[CS_CSRF_TEXT + 1];
	char flash[CS_FLASH_MAX + 1];
	int flash_ok;
	uint8_t id_hash[32];
};
/* Create a session for user_id: a new 256-bit id into sid_text
 * (CS_SID_TEXT + 1, a secret), its SHA-256 stored with a new CSRF token;
 * the sign-in counts as a step-up at now. */
MQS_MUST_CHECK int cs_session_create(sqlite3 *db, long long user_id, long long now,
                                     char sid_text[CS_SID_TEXT + 1]);
/* Find the session of cookie value sid_text, valid at now (idle and
 * absolute limits): MQS_OK (last_seen updated), MQS_ERR_NOENT (none or
 * expired: an expired one is deleted). */
MQS_MUST_CHECK int cs_session_find(sqlite3 *db, const char *sid_text, long long now, long long idle,
                                   long long max, struct cs_session *s);
/* Delete one session (sign-out), all of a user's, or all of a user's but
 * the one of keep_hash (MQS_OK, or MQS_ERR_DB when they may remain). */
void cs_session_drop(sqlite3 *db, const uint8_t id_hash[32]);
void cs_session_drop_user(sqlite3 *db, long long user_id);
MQS_MUST_CHECK int cs_session_drop_others(sqlite3 *db, long long user_id,
                                          const uint8_t keep_hash[32]);
/* Record a step-up (password and code entered again) at now. */
MQS_MUST_CHECK int cs_session_stepup(sqlite3 *db, const uint8_t id_hash[32], long long now);
/* 1 when a step-up at stepup_at is still valid at now for window seconds
 * (docs/console.md "Step-up"): 0 < stepup_at <= now < stepup_at + window. */
MQS_MUST_CHECK int cs_stepup_fresh(long long stepup_at, long long now, long long window);
/* Store / take (read and clear) the session's flash message. */
void cs_session_flash_set(sqlite3 *db, const uint8_t id_hash[32], const char *msg, int ok);
void cs_session_flash_clear(sqlite3 *db, const uint8_t id_hash[32]);
/* Delete every expired session. */
void cs_session_gc(sqlite3 *db, long long now, long long idle, long long max);

/* ---- cs_csrf.c ---- */
/* MQS_OK when given equals want (both CS_CSRF_TEXT characters; constant
 * time), MQS_ERR_PERM otherwise (NULL or wrong length included). */
MQS_MUST_CHECK int cs_csrf_check(const char *want, const char *given);
/* The login-form token for a pre-session cookie value: base64url of
 * HMAC-SHA256(key, "login:" cookie) into out (CS_CSRF_TEXT + 1). */
MQS_MUST_CHECK int cs_csrf_login(const uint8_t key[MQS_MASTER_KEY_LEN], const char *cookie,
                                 char out[CS_CSRF_TEXT + 1]);
/* A random token (32 bytes, base64url) into out (CS_CSRF_TEXT + 1). */
MQS_MUST_CHECK int cs_csrf_random(char out[CS_CSRF_TEXT + 1]);

/* ---- cs_html.c: the response ---- */
struct cs_resp {
	struct mqs_buf body;
	int failed; /* an append did not fit: answered 500 */
	char content_type[64];
	char location[512];
	char csp[256];
	char *disposition; /* Content-Disposition, or NULL */
	char flash[CS_FLASH_MAX + 1];
	int flash_ok;
	int set_flash;
	char set_cookie[2][160];
	const char *csrf; /* the request's token (borrowed) */
	unsigned nav_role;
	const char *user;
};
void cs_resp_init(struct cs_resp *resp);
void cs_resp_release(struct cs_resp *resp);
/* Append text escaped for HTML (element content and attribute values) to
 * b: & < > " ' escaped.  MQS_OK or the mqs_buf error. */
MQS_MUST_CHECK int cs_html_escape(struct mqs_buf *b, const char *text);
/* The core's error page for status into resp (when its body is empty). */
void cs_html_error_page(struct cs_resp *resp, int status);

/* ---- cs_routes.c ---- */
/* The route tables, NULL-terminated. */
extern const struct cs_route *const cs_route_tables[];
/* The core's own pages (cs_pg_core.c). */
extern const struct cs_route cs_pg_core_routes[];
/* The navigation entries for role into resp (used by cs_page_begin). */
void cs_routes_nav(struct cs_resp *resp, unsigned role, const char *path);

/* ---- cs_assets.c ---- */
struct cs_asset {
	const char *path; /* "/assets/console.css" */
	const char *type;
	const char *data;
};
/* The embedded asset for path, or NULL (no filesystem access). */
const struct cs_asset *cs_asset_find(const char *path);

/* ---- cs_console.c: the process ---- */
struct cs_console {
	struct cs_conf conf;
	sqlite3 *db;
	uint8_t key[MQS_MASTER_KEY_LEN];
	struct mqsa_ctx *broker;
	struct gw_store *gw_store;
	struct gw_config *gw_conf;
};
/* Load conf (already parsed), open the console database and the console
 * key (created 0600 when absent, create_key set).  MQS_OK or an error with
 * err filled. */
MQS_MUST_CHECK int cs_console_open(struct cs_console *cs, int create_key, char *err, size_t errlen);
void cs_console_close(struct cs_console *cs);
/* Seal / open a user's TOTP secret under the console key (AAD names the
 * user). */
MQS_MUST_CHECK int cs_console_totp_seal(struct cs_console *cs, const char *name,
                                        const uint8_t *secret, size_t len, uint8_t **out,
                                        size_t *outlen);
MQS_MUST_CHECK int cs_console_totp_open(struct cs_console *cs, const char *name, const uint8_t *w,
                                        size_t wlen, uint8_t *out, size_t cap, size_t *outlen);
/* Make a new TOTP secret for name, store it sealed and return the
 * otpauth URI (*uri: mqs_secret_free_str). */
MQS_MUST_CHECK int cs_console_totp_new(struct cs_console *cs, const char *name, int adding,
                                       struct cs_user *u, char **uri);
/* An SVG QR code of text (escaped), appended to b. */
MQS_MUST_CHECK int cs_qr_svg(struct mqs_buf *b, const char *text);
/* A QR code of text printed on a terminal (UTF-8 half blocks) to f. */
void cs_qr_term(void *f, const char *text);

/* ---- cs_http.c ---- */
/* Serve until SIGINT/SIGTERM.  Returns a sysexits code. */
int cs_http_run(struct cs_console *cs);

/* ---- cs_user.c: the "user" commands ---- */
int cs_user_cmd(struct cs_console *cs, int argc, char **argv);

/* ---- cs_pg_core.c helpers used by the HTTP core ---- */
struct cs_console *cs_req_console(struct cs_req *req);
/* Sign-in outcome for the page: the new session cookie value. */
void cs_req_set_session(struct cs_req *req, const char *sid_text, long long user_id);
void cs_req_clear_session(struct cs_req *req);
/* The client address as counted by failures and bans (cs_addr_ban_key). */
const char *cs_req_ban_addr(const struct cs_req *req);
/* Step-up of the request's session (docs/console.md "Step-up"): whether it
 * is fresh; record one now (MQS_OK or MQS_ERR_DB); end the user's other
 * sessions; end this one. */
MQS_MUST_CHECK int cs_req_stepup_fresh(const struct cs_req *req);
MQS_MUST_CHECK int cs_req_stepup_set(struct cs_req *req);
MQS_MUST_CHECK int cs_req_end_other_sessions(struct cs_req *req);
/* Check a TOTP code (6 to 8 digits) of u at now against its secret, each
 * code once (the same rule for sign-in, step-up and password change):
 * MQS_OK with the step recorded, MQS_ERR_TOTP_REPLAY for a used code, or
 * another error. */
MQS_MUST_CHECK int cs_totp_check(struct cs_console *cs, struct cs_user *u, const char *code,
                                 int64_t now);
/* Count one failed sign-in, step-up or password change of name and of the
 * request's address (bans audited).  Returns 1 when name got banned. */
int cs_req_count_failure(struct cs_req *req, const char *name);

/* ---- cs_pg_account.c: step-up and one's own password ---- */
/* The routes /stepup and /password. */
extern const struct cs_route cs_pg_account_routes[];
/* The core's answer to a CS_STEP_UP route without a fresh step-up: 403
 * with the step-up form (returning to the page of the action), audited. */
int cs_stepup_demand(struct cs_req *req, struct cs_resp *resp);

#endif
