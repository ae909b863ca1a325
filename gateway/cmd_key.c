/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_key.c - `key add|export|import|list|rm`: record keys of medical
 * senders (docs/medical.md, "Record keys"). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "gw_cmd.h"
#include "gw_reckey.h"
#include "mqs_alloc.h"
#include "mqs_creds.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define KEY_IMPORT_MAX 64 /* record keys in one import file */

/* Print the usage of a subcommand; EX_USAGE. */
static int usage_err(const char *what)
{
	fprintf(stderr, "usage: mqttsec-gateway key %s\n", what);
	return EX_USAGE;
}

/* key add NAME */
static int add(struct gw_store *s, const char *name)
{
	char err[256];
	int rc = gw_reckey_add(s, name, err, sizeof(err));

	if (rc != MQS_OK)
		fprintf(stderr, "mqttsec-gateway: cannot add record key: %s\n", err);
	return gw_cmd_exit_code(rc);
}

/* The export document of k: {"keys":[{"id","key","use","name"}]}, a new
 * string (free with mqs_secret_free_str), or NULL. */
static char *export_json(const struct mqs_join_key *k)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *arr = NULL, *o = NULL;
	char *b64 = NULL, *text = NULL, *copy = NULL;

	if (doc == NULL || mqs_base64_encode(k->key, sizeof(k->key), &b64) != MQS_OK)
		goto out;
	arr = cJSON_AddArrayToObject(doc, "keys");
	o = cJSON_CreateObject();
	if (arr == NULL || o == NULL)
		goto out;
	cJSON_AddItemToArray(arr, o);
	if (cJSON_AddNumberToObject(o, "id", (double)k->id) == NULL ||
	    cJSON_AddStringToObject(o, "key", b64) == NULL ||
	    cJSON_AddStringToObject(o, "use", "record") == NULL ||
	    cJSON_AddStringToObject(o, "name", k->name) == NULL)
		goto out;
	text = cJSON_Print(doc);
	if (text != NULL)
		copy = mqs_strdup(text);
out:
	if (text != NULL) {
		OPENSSL_cleanse(text, strlen(text));
		cJSON_free(text);
	}
	if (o != NULL) {
		cJSON *kv = cJSON_GetObjectItemCaseSensitive(o, "key");

		if (cJSON_IsString(kv) && kv->valuestring != NULL)
			OPENSSL_cleanse(kv->valuestring, strlen(kv->valuestring));
	}
	cJSON_Delete(doc);
	mqs_secret_free_str(b64);
	return copy;
}

/* Write text to path, mode 0600, atomically: a temporary file in the same
 * folder, fsync'd, then renamed over path (force) or linked to path (which
 * fails when path exists).  Returns MQS_OK, MQS_ERR_EXISTS or MQS_ERR_IO
 * (errno kept). */
static int write_secret_file(const char *path, const char *text, int force)
{
	char tmp[PATH_MAX];
	size_t len = strlen(text), off = 0;
	int fd = -1, rc = MQS_ERR_IO, saved = 0;
	int n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return MQS_ERR_IO;
	}
	if (!force && access(path, F_OK) == 0)
		return MQS_ERR_EXISTS;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return MQS_ERR_IO;
	if (fchmod(fd, 0600) != 0)
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += (size_t)w;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (force) {
		if (rename(tmp, path) != 0)
			goto fail;
	} else {
		if (link(tmp, path) != 0) {
			rc = errno == EEXIST ? MQS_ERR_EXISTS : MQS_ERR_IO;
			goto fail;
		}
		unlink(tmp);
	}
	return MQS_OK;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return rc;
}

/* key export NAME --out FILE [--force] */
static int export_key(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
	                                     {"force", no_argument, NULL, 'f'},
	                                     {NULL, 0, NULL, 0}};
	static const char use[] = "export NAME --out FILE [--force]";
	struct mqs_join_key k;
	const char *out = NULL;
	char *text = NULL;
	int force = 0, opt, rc;

	memset(&k, 0, sizeof(k));
	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt == 'o')
			out = optarg;
		else if (opt == 'f')
			force = 1;
		else
			return usage_err(use);
	}
	if (optind != argc - 1 || out == NULL || *out == '\0')
		return usage_err(use);
	rc = gw_reckey_get(s, argv[optind], &k);
	if (rc == MQS_ERR_NOENT) {
		fprintf(stderr, "mqttsec-gateway: no record key %s\n",
		        gw_reckey_name_ok(argv[optind]) ? argv[optind] : "by that name");
		goto out;
	}
	if (rc == MQS_ERR_UNWRAP) {
		fprintf(stderr,
		        "mqttsec-gateway: cannot unwrap record key %s: wrong master key or "
		        "corrupted row\n",
		        argv[optind]);
		goto out;
	}
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot read record key %s: %s\n", argv[optind],
		        mqs_strerror(rc));
		goto out;
	}
	text = export_json(&k);
	if (text == NULL) {
		rc = MQS_ERR_NOMEM;
		fprintf(stderr, "mqttsec-gateway: cannot build key file\n");
		goto out;
	}
	rc = write_secret_file(out, text, force);
	if (rc == MQS_ERR_EXISTS)
		fprintf(stderr, "mqttsec-gateway: cannot write %s: file exists (use --force)\n",
		        out);
	else if (rc != MQS_OK)
		fprintf(stderr, "mqttsec-gateway: cannot write %s: %s\n", out, strerror(errno));
out:
	mqs_secret_free_str(text);
	OPENSSL_cleanse(&k, sizeof(k));
	if (rc == MQS_ERR_EXISTS)
		return EX_CANTCREAT;
	if (rc == MQS_ERR_IO)
		return EX_CANTCREAT;
	return gw_cmd_exit_code(rc);
}

/* The checks of an import against the keys in the store. */
struct taken {
	const struct mqs_creds *c; /* the file's keys */
	char err[256];
};

/* Is one stored key in conflict with a key of the file? */
static int taken_row(const char *name, uint32_t id, int64_t created_ms, void *arg)
{
	struct taken *t = arg;

	(void)created_ms;
	for (size_t i = 0; i < t->c->nkeys; i++) {
		const struct mqs_creds_key *k = &t->c->keys[i];

		if (k->use != MQS_CREDS_USE_RECORD)
			continue;
		if (k->name != NULL && strcmp(k->name, name) == 0) {
			snprintf(t->err, sizeof(t->err), "record key %s is already in the store",
			         name);
			return MQS_ERR_EXISTS;
		}
		if (k->id == id) {
			snprintf(t->err, sizeof(t->err),
			         "record key id %u of %s is already in the store (as %s)",
			         (unsigned)id, k->name != NULL ? k->name : "?", name);
			return MQS_ERR_EXISTS;
		}
	}
	return MQS_OK;
}

/* key import FILE */
static int import_keys(struct gw_store *s, const char *path)
{
	struct mqs_creds c;
	struct taken t;
	char err[256];
	size_t nrec = 0;
	int rc;

	mqs_creds_init(&c);
	memset(&t, 0, sizeof(t));
	rc = mqs_creds_load_keys(path, &c, err, sizeof(err));
	if (rc == MQS_ERR_PERM) {
		fprintf(stderr,
		        "mqttsec-gateway: cannot import %s: group or others may read it "
		        "(chmod 600)\n",
		        path);
		goto out;
	}
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot import %s: %s\n", path,
		        rc == MQS_ERR_PARSE && err[0] != '\0' ? err
		        : rc == MQS_ERR_IO                    ? strerror(errno)
		                                              : mqs_strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < c.nkeys; i++)
		nrec += c.keys[i].use == MQS_CREDS_USE_RECORD;
	if (nrec == 0 || nrec > KEY_IMPORT_MAX) {
		fprintf(stderr, "mqttsec-gateway: cannot import %s: %s\n", path,
		        nrec == 0 ? "no record keys in the file" : "too many record keys");
		rc = MQS_ERR_INVAL;
		goto out;
	}
	t.c = &c;
	rc = gw_reckey_each(s, taken_row, &t);
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot import %s: %s\n", path,
		        t.err[0] != '\0' ? t.err : mqs_strerror(rc));
		goto out;
	}
	/* all or nothing: one transaction for every key of the file */
	rc = gw_store_begin(s);
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot import %s: database busy or unwritable\n",
		        path);
		goto out;
	}
	for (size_t i = 0; i < c.nkeys; i++) {
		const struct mqs_creds_key *k = &c.keys[i];

		if (k->use != MQS_CREDS_USE_RECORD)
			continue;
		rc = gw_reckey_put(s, k->name, k->id, k->key, err, sizeof(err));
		if (rc != MQS_OK) {
			gw_store_rollback(s);
			fprintf(stderr, "mqttsec-gateway: cannot import record key %s: %s\n",
			        gw_reckey_name_ok(k->name) ? k->name : "?", err);
			goto out;
		}
	}
	rc = gw_store_commit(s);
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot import %s: cannot commit\n", path);
		goto out;
	}
	for (size_t i = 0; i < c.nkeys; i++) {
		if (c.keys[i].use == MQS_CREDS_USE_RECORD)
			printf("imported record key %s (id %u)\n", c.keys[i].name,
			       (unsigned)c.keys[i].id);
	}
out:
	mqs_creds_release(&c);
	return gw_cmd_exit_code(rc);
}

/* What a listing accumulates: the JSON array, or nothing for a table. */
struct listing {
	FILE *out;
	cJSON *arr; /* NULL: a table */
};

/* One key: a table line or a JSON object (never the key bytes). */
static int list_row(const char *name, uint32_t id, int64_t created_ms, void *arg)
{
	struct listing *l = arg;
	char when[32] = "-";
	time_t t = (time_t)(created_ms / 1000);
	struct tm tm;
	cJSON *o;

	if (gmtime_r(&t, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (l->arr == NULL) {
		fprintf(l->out, "%-24s %-10u %s\n", name, (unsigned)id, when);
		return MQS_OK;
	}
	o = cJSON_CreateObject();
	if (o == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(l->arr, o);
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddStringToObject(o, "created", when);
	return MQS_OK;
}

/* key list [--json] */
static int list(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	struct listing l = {stdout, NULL};
	int json = 0, opt, rc = MQS_ERR_NOMEM;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt != 'j')
			return usage_err("list [--json]");
		json = 1;
	}
	if (optind != argc)
		return usage_err("list [--json]");
	if (json) {
		l.arr = cJSON_CreateArray();
		if (l.arr == NULL)
			goto out;
	} else {
		printf("%-24s %-10s %s\n", "NAME", "ID", "CREATED");
	}
	rc = gw_reckey_each(s, list_row, &l);
	if (rc == MQS_OK && json)
		rc = gw_cmd_json_print(stdout, l.arr);
out:
	cJSON_Delete(l.arr);
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot list record keys\n");
		return EX_IOERR;
	}
	return EX_OK;
}

/* key ...: check the arguments, open the store, run the subcommand. */
int gw_cmd_key(struct gw_config *conf, int argc, char **argv)
{
	struct gw_store s;
	const char *sub = argc > 1 ? argv[1] : "";
	char err[256];
	int rc, e;

	if (strcmp(sub, "add") != 0 && strcmp(sub, "export") != 0 && strcmp(sub, "import") != 0 &&
	    strcmp(sub, "list") != 0 && strcmp(sub, "rm") != 0)
		return usage_err("add|export|import|list|rm ...");
	if (strcmp(sub, "add") == 0 && argc != 3)
		return usage_err("add NAME");
	if (strcmp(sub, "rm") == 0 && argc != 3)
		return usage_err("rm NAME");
	if (strcmp(sub, "import") == 0 && argc != 3)
		return usage_err("import FILE");
	rc = gw_cmd_open_store(conf, &s);
	if (rc != EX_OK)
		return rc;
	if (strcmp(sub, "add") == 0) {
		rc = add(&s, argv[2]);
	} else if (strcmp(sub, "export") == 0) {
		rc = export_key(&s, argc - 1, argv + 1);
	} else if (strcmp(sub, "import") == 0) {
		rc = import_keys(&s, argv[2]);
	} else if (strcmp(sub, "list") == 0) {
		rc = list(&s, argc - 1, argv + 1);
	} else {
		e = gw_reckey_rm(&s, argv[2], err, sizeof(err));
		if (e != MQS_OK)
			fprintf(stderr, "mqttsec-gateway: %s\n", err);
		rc = gw_cmd_exit_code(e);
	}
	gw_store_close(&s);
	return rc;
}
