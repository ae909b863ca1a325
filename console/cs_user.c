/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_user.c - "mqttsec-console user ..." (docs/console.md "Users"): add,
 * list, rm, passwd, disable, enable, reset-totp. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cs_int.h"
#include "mqs_alloc.h"
#include "mqs_util.h"

static void user_usage(void)
{
	fprintf(stderr, "usage: mqttsec-console -c console.conf user add NAME --role "
	                "admin|operator|reviewer [--level LEVEL] [--password-file F]\n"
	                "       mqttsec-console -c console.conf user list | rm NAME | passwd NAME "
	                "[--password-file F] | disable NAME | enable NAME | reset-totp NAME\n");
}

/* Read a password: the first line of file, or of standard input (without
 * echo on a terminal, asked twice).  *out: mqs_secret_free_str. */
static int read_password(const char *file, char **out)
{
	char buf[CS_PASSWORD_MAX + 2], again[CS_PASSWORD_MAX + 2];
	int rc = EX_DATAERR, tty = file == NULL && isatty(STDIN_FILENO);
	struct termios old, noecho;
	FILE *f = NULL;
	size_t n;

	*out = NULL;
	buf[0] = again[0] = '\0';
	if (file != NULL) {
		uint8_t *data = NULL;
		size_t len = 0;

		if (mqs_file_read(file, CS_PASSWORD_MAX + 2, 0, &data, &len) != MQS_OK) {
			fprintf(stderr, "error: cannot read password file %s\n", file);
			rc = EX_NOINPUT;
			goto out;
		}
		snprintf(buf, sizeof(buf), "%s", (const char *)data);
		mqs_secret_free(data, len);
	} else {
		if (tty) {
			tcgetattr(STDIN_FILENO, &old);
			noecho = old;
			noecho.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
			fputs("password: ", stderr);
		}
		f = stdin;
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '\0';
		if (tty) {
			fputs("\nagain: ", stderr);
			if (fgets(again, sizeof(again), f) == NULL)
				again[0] = '\0';
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
			fputs("\n", stderr);
		}
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	again[strcspn(again, "\r\n")] = '\0';
	if (tty && strcmp(buf, again) != 0) {
		fprintf(stderr, "error: the passwords differ\n");
		goto out;
	}
	n = strlen(buf);
	if (n < CS_PASSWORD_MIN || n > CS_PASSWORD_MAX) {
		fprintf(stderr, "error: a password has %d to %d bytes\n", CS_PASSWORD_MIN,
		        CS_PASSWORD_MAX);
		goto out;
	}
	*out = mqs_strdup(buf);
	rc = *out != NULL ? EX_OK : EX_OSERR;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(again, sizeof(again));
	return rc;
}

static void print_uri(const char *name, const char *uri)
{
	printf("otpauth URI for %s (shown once; add it to the authenticator app):\n%s\n", name,
	       uri);
	if (isatty(STDOUT_FILENO))
		cs_qr_term(stdout, uri);
}

static int cmd_add(struct cs_console *cs, int argc, char **argv)
{
	static const struct option opts[] = {{"role", required_argument, NULL, 'r'},
	                                     {"level", required_argument, NULL, 'l'},
	                                     {"password-file", required_argument, NULL, 'p'},
	                                     {NULL, 0, NULL, 0}};
	const char *role_s = NULL, *level = NULL, *pwfile = NULL, *name;
	struct cs_user u;
	char *password = NULL, *uri = NULL;
	unsigned role;
	int opt, ex = EX_USAGE, rc;

	memset(&u, 0, sizeof(u));
	optind = 0; /* glibc: start over, argv[0] is "add" */
	for (;;) {
		opt = getopt_long(argc, argv, "r:l:p:", opts, NULL);
		if (opt == -1)
			break;
		if (opt == 'r')
			role_s = optarg;
		else if (opt == 'l')
			level = optarg;
		else if (opt == 'p')
			pwfile = optarg;
		else
			goto usage;
	}
	if (optind + 1 != argc || role_s == NULL)
		goto usage;
	name = argv[optind];
	role = cs_role_parse(role_s);
	if (!cs_name_ok(name)) {
		fprintf(stderr, "error: bad name %s: 1-64 of A-Z a-z 0-9 . _ -\n", name);
		return EX_DATAERR;
	}
	if (role == 0) {
		fprintf(stderr, "error: bad role %s: admin, operator or reviewer\n", role_s);
		return EX_USAGE;
	}
	if ((role == CS_ROLE_REVIEWER) != (level != NULL) ||
	    (level != NULL && !cs_level_ok(level))) {
		fprintf(stderr, "error: --level LEVEL goes with --role reviewer only (1-32 of "
		                "A-Z a-z 0-9 . _ -)\n");
		return EX_USAGE;
	}
	ex = read_password(pwfile, &password);
	if (ex != EX_OK)
		goto out;
	snprintf(u.name, sizeof(u.name), "%s", name);
	snprintf(u.level, sizeof(u.level), "%s", level != NULL ? level : "");
	u.role = role;
	ex = EX_SOFTWARE;
	if (cs_password_hash(password, cs->conf.argon2_t, cs->conf.argon2_m_kib, cs->conf.argon2_p,
	                     u.pw_hash) != MQS_OK) {
		fprintf(stderr, "error: cannot hash the password\n");
		goto out;
	}
	rc = cs_console_totp_new(cs, name, 1, &u, &uri);
	if (rc == MQS_OK)
		rc = cs_db_user_add(cs->db, &u, (long long)time(NULL));
	cs_db_audit(cs->db, (long long)time(NULL), "cli", "", "CLI", "user add", name,
	            rc == MQS_OK);
	if (rc == MQS_ERR_EXISTS) {
		fprintf(stderr, "error: user %s exists\n", name);
		ex = EX_DATAERR;
		goto out;
	}
	if (rc != MQS_OK) {
		fprintf(stderr, "error: cannot add user %s: %s\n", name, mqs_strerror(rc));
		goto out;
	}
	print_uri(name, uri);
	ex = EX_OK;
	goto out;
usage:
	user_usage();
out:
	mqs_secret_free_str(password);
	mqs_secret_free_str(uri);
	cs_user_release(&u);
	return ex;
}

static int list_one(const struct cs_user *u, void *arg)
{
	(void)arg;
	printf("%s\t%s\t%s\t%s\n", u->name, cs_role_name(u->role),
	       u->level[0] != '\0' ? u->level : "-", u->enabled ? "enabled" : "disabled");
	return MQS_OK;
}

static int cmd_simple(struct cs_console *cs, const char *verb, const char *name, const char *pwfile)
{
	struct cs_user u;
	char *password = NULL, *uri = NULL;
	char hash[CS_HASH_MAX] = "";
	int rc, ex = EX_SOFTWARE;

	memset(&u, 0, sizeof(u));
	rc = cs_db_user_get(cs->db, name, &u);
	if (rc == MQS_ERR_NOENT) {
		fprintf(stderr, "error: no user %s\n", name);
		ex = EX_DATAERR;
		goto out;
	}
	if (rc != MQS_OK)
		goto fail;
	if (strcmp(verb, "rm") == 0) {
		rc = cs_db_user_rm(cs->db, name);
	} else if (strcmp(verb, "disable") == 0 || strcmp(verb, "enable") == 0) {
		rc = cs_db_user_set_enabled(cs->db, name, verb[0] == 'e');
		if (rc == MQS_OK && verb[0] == 'd')
			cs_session_drop_user(cs->db, u.id);
	} else if (strcmp(verb, "passwd") == 0) {
		ex = read_password(pwfile, &password);
		if (ex != EX_OK)
			goto out;
		ex = EX_SOFTWARE;
		rc = cs_password_hash(password, cs->conf.argon2_t, cs->conf.argon2_m_kib,
		                      cs->conf.argon2_p, hash);
		if (rc == MQS_OK)
			rc = cs_db_user_set_password(cs->db, name, hash);
		if (rc == MQS_OK)
			cs_session_drop_user(cs->db, u.id);
	} else {
		rc = cs_console_totp_new(cs, name, 0, &u, &uri);
		if (rc == MQS_OK)
			cs_session_drop_user(cs->db, u.id);
	}
	cs_db_audit(cs->db, (long long)time(NULL), "cli", "", "CLI", verb, name, rc == MQS_OK);
	if (rc != MQS_OK)
		goto fail;
	if (uri != NULL)
		print_uri(name, uri);
	else
		printf("user %s: %s done\n", name, verb);
	ex = EX_OK;
	goto out;
fail:
	fprintf(stderr, "error: user %s %s: %s\n", verb, name, mqs_strerror(rc));
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	mqs_secret_free_str(password);
	mqs_secret_free_str(uri);
	cs_user_release(&u);
	return ex;
}

/* The "user" command group; argv[0] is "user". */
int cs_user_cmd(struct cs_console *cs, int argc, char **argv)
{
	const char *verb;

	if (argc < 2)
		goto usage;
	verb = argv[1];
	if (strcmp(verb, "add") == 0)
		return cmd_add(cs, argc - 1, argv + 1);
	if (strcmp(verb, "list") == 0 && argc == 2)
		return cs_db_user_each(cs->db, list_one, NULL) == MQS_OK ? EX_OK : EX_SOFTWARE;
	if (strcmp(verb, "passwd") == 0 && (argc == 3 || argc == 5)) {
		const char *pwfile = NULL;

		if (argc == 5) {
			if (strcmp(argv[3], "--password-file") != 0)
				goto usage;
			pwfile = argv[4];
		}
		return cmd_simple(cs, verb, argv[2], pwfile);
	}
	if ((strcmp(verb, "rm") == 0 || strcmp(verb, "disable") == 0 ||
	     strcmp(verb, "enable") == 0 || strcmp(verb, "reset-totp") == 0) &&
	    argc == 3)
		return cmd_simple(cs, verb, argv[2], NULL);
usage:
	user_usage();
	return EX_USAGE;
}
