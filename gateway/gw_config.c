/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_config.c - gateway.conf with libinih: sections, keys, defaults, checks,
 * and the [channel NAME] sections turned into channels. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "gw_ack.h"
#include "gw_config.h"
#include "gw_http.h"
#include "gw_log.h"
#include "gw_store.h"
#include "gw_webhook.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define CONF_LINE_MAX 196 /* libinih's line buffer is 200 bytes */

/* Parser state shared by the line reader and the handler. */
struct parse {
	FILE *f;
	struct gw_config *c;
	struct gw_section **tail;
	struct gw_section *cur;
	int line;
	int too_long; /* line number of the first over-long line, or 0 */
	int nomem;
	char err[512]; /* first fatal error */
};

static const char *const broker_keys[] = {"host",          "port",   "credentials", "status_topic",
                                          "client_id",     "cafile", "keepalive",   "reconnect_min",
                                          "reconnect_max", NULL};
static const char *const store_keys[] = {"db",        "master_key_file", "spool_dir", "synchronous",
                                         "retention", "cache_size",      NULL};
static const char *const delivery_keys[] = {
    "max_attempts", "backoff_base", "backoff_max", "max_inflight",
    "ack_timeout",  "escalation",   NULL};
static const char *const named_broker_keys[] = {"host",          "port",          "credentials",
                                                "client_id",     "cafile",        "keepalive",
                                                "reconnect_min", "reconnect_max", NULL};
static const char *const marketing_keys[] = {"quiet_hours", "default_tz", "marketing_share",
                                             "fanout_batch", NULL};
static const char *const http_keys[] = {"listen",          "cert",   "key",     "public_url",
                                        "max_connections", "per_ip", "timeout", NULL};
/* keys every [channel NAME] accepts besides its own */
static const char *const chan_common_keys[] = {"max_inflight", "rate", "burst", NULL};
/* keys of every route; each kind adds its own (gw_kind.c) */
static const char *const route_keys[] = {"topic", "kind",       "group",    "field",
                                         "rule",  "hysteresis", "ack_from", NULL};

static void set_err(struct parse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keep the first fatal error as "file:line: reason". */
static void set_err(struct parse *p, int line, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	if (p->err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->err, sizeof(p->err), "%s:%d: %s", p->c->path, line, msg);
	else
		snprintf(p->err, sizeof(p->err), "%s: %s", p->c->path, msg);
}

/* s without leading and trailing white space (trailing space is cut in place). */
static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Record a section header seen by the reader: "[type name]". */
static void reader_section(struct parse *p, char *hdr)
{
	struct gw_section *s;
	char *close = strchr(hdr, ']');
	char *type, *name;

	if (close == NULL)
		return; /* libinih reports it */
	*close = '\0';
	type = trim(hdr + 1);
	name = type;
	while (*name != '\0' && !isspace((unsigned char)*name))
		name++;
	if (*name != '\0') {
		*name++ = '\0';
		name = trim(name);
	}
	s = mqs_calloc(1, sizeof(*s));
	if (s == NULL) {
		p->nomem = 1;
		return;
	}
	s->type = mqs_strdup(type);
	s->name = *name != '\0' ? mqs_strdup(name) : NULL;
	s->line = p->line;
	s->path = p->c->path;
	if (s->type == NULL || (*name != '\0' && s->name == NULL))
		p->nomem = 1;
	*p->tail = s;
	p->tail = &s->next;
	p->cur = s;
}

/* libinih line reader: counts lines, notes section headers, and catches
 * lines too long for libinih's 200-byte buffer. */
static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	char buf[1024];
	size_t len;

	if (p->nomem || fgets(buf, sizeof(buf), p->f) == NULL)
		return NULL; /* out of memory: stop reading */
	p->line++;
	len = strlen(buf);
	if (len > 0 && buf[len - 1] != '\n' && !feof(p->f)) {
		int ch = fgetc(p->f);

		/* swallow the rest of the line */
		while (ch != EOF && ch != '\n')
			ch = fgetc(p->f);
		len = sizeof(buf);
	}
	if (len > CONF_LINE_MAX || len >= (size_t)num) {
		if (p->too_long == 0)
			p->too_long = p->line;
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}
	memcpy(str, buf, len + 1);
	{
		char *t = trim(buf);

		if (*t == '[')
			reader_section(p, t);
	}
	return str;
}

/* libinih handler: store key = value under the current section. */
static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	struct gw_kv *kv, **tail;
	struct gw_kv *last = NULL;

	if (p->nomem)
		return 0;
	if (p->cur == NULL) {
		gw_log(GW_LOG_WARN, "%s:%d: key %s outside any section (ignored)", p->c->path,
		       p->line, name);
		return 1;
	}
	for (tail = &p->cur->kv; *tail != NULL; tail = &(*tail)->next) {
		if (strcmp((*tail)->key, name) == 0)
			last = *tail;
	}
	if (last != NULL && strcmp(name, "rule") != 0)
		gw_log(GW_LOG_WARN, "%s:%d: key %s repeated in [%s] (the last one wins)",
		       p->c->path, p->line, name, section);
	kv = mqs_calloc(1, sizeof(*kv));
	if (kv != NULL) {
		kv->key = mqs_strdup(name);
		kv->value = mqs_strdup(value);
	}
	if (kv == NULL || kv->key == NULL || kv->value == NULL) {
		/* out of memory: stop here (a half-made pair is never linked) */
		if (kv != NULL) {
			mqs_free(kv->key);
			mqs_secret_free_str(kv->value);
		}
		mqs_free(kv);
		p->nomem = 1;
		return 0;
	}
	kv->line = p->line;
	*tail = kv;
	return 1;
}

/* Last kv for key in s, marked used; NULL when absent. */
static struct gw_kv *sec_kv(const struct gw_section *s, const char *key)
{
	struct gw_kv *found = NULL;

	if (s == NULL)
		return NULL;
	for (struct gw_kv *kv = s->kv; kv != NULL; kv = kv->next) {
		if (strcmp(kv->key, key) == 0) {
			kv->used = 1;
			found = kv;
		}
	}
	return found;
}

/* Value for key with surrounding double quotes removed, or NULL. */
static const char *sec_get(const struct gw_section *s, const char *key)
{
	struct gw_kv *kv = sec_kv(s, key);
	size_t len;

	if (kv == NULL)
		return NULL;
	len = strlen(kv->value);
	if (len >= 2 && kv->value[0] == '"' && kv->value[len - 1] == '"') {
		memmove(kv->value, kv->value + 1, len - 2);
		kv->value[len - 2] = '\0';
	}
	return kv->value;
}

/* Line of the last key in s, else of the section header. */
static int sec_line(const struct gw_section *s, const char *key)
{
	struct gw_kv *kv = NULL;

	for (struct gw_kv *k = s->kv; k != NULL; k = k->next) {
		if (strcmp(k->key, key) == 0)
			kv = k;
	}
	return kv != NULL ? kv->line : s->line;
}

/* struct gw_chan_conf get() over a [channel NAME] section. */
static const char *chan_conf_get(const struct gw_chan_conf *cc, const char *key)
{
	return sec_get(cc->priv, key);
}

/* First section of type without a name, or NULL. */
static struct gw_section *find_section(struct gw_config *c, const char *type)
{
	for (struct gw_section *s = c->sections; s != NULL; s = s->next) {
		if (strcmp(s->type, type) == 0 && s->name == NULL)
			return s;
	}
	return NULL;
}

/* Required key of section s: MQS_OK with *out set, or MQS_ERR_INVAL. */
static int need(struct parse *p, struct gw_section *s, const char *type, const char *key,
                const char **out)
{
	if (s == NULL) {
		set_err(p, 0, "missing section [%s] (needs %s)", type, key);
		return MQS_ERR_INVAL;
	}
	*out = sec_get(s, key);
	if (*out == NULL || **out == '\0') {
		set_err(p, s->line, "[%s%s%s] missing required key %s", type, s->name ? " " : "",
		        s->name ? s->name : "", key);
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* Optional whole number in min..max: MQS_OK (*out kept when absent) or
 * MQS_ERR_INVAL. */
static int get_uint(struct parse *p, struct gw_section *s, const char *key, unsigned long min,
                    unsigned long max, unsigned long *out)
{
	const char *v = sec_get(s, key);
	char *end = NULL;
	unsigned long n;

	if (v == NULL)
		return MQS_OK;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n < min || n > max) {
		set_err(p, sec_line(s, key), "%s must be a whole number in %lu..%lu", key, min,
		        max);
		return MQS_ERR_INVAL;
	}
	*out = n;
	return MQS_OK;
}

/* Optional duration (gw_duration_parse): MQS_OK or MQS_ERR_INVAL. */
static int get_duration(struct parse *p, struct gw_section *s, const char *key, uint64_t *out)
{
	const char *v = sec_get(s, key);

	if (v == NULL)
		return MQS_OK;
	if (gw_duration_parse(v, out) != 0) {
		set_err(p, sec_line(s, key), "%s: bad duration %s (e.g. 500ms, 30s, 5m, 1h)", key,
		        v);
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* Optional byte count in min..max: digits with an optional suffix k/KiB
 * (1024) or M/MiB (1024 * 1024).  MQS_OK (*out kept when absent) or
 * MQS_ERR_INVAL. */
static int get_size(struct parse *p, struct gw_section *s, const char *key, size_t min, size_t max,
                    size_t *out)
{
	const char *v = sec_get(s, key);
	char *end = NULL;
	unsigned long long n, mult = 1;

	if (v == NULL)
		return MQS_OK;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno == 0 && end != v && v[0] != '-') {
		if (strcmp(end, "k") == 0 || strcmp(end, "K") == 0 || strcmp(end, "KiB") == 0)
			mult = 1024;
		else if (strcmp(end, "M") == 0 || strcmp(end, "MiB") == 0)
			mult = 1024 * 1024;
		else if (*end != '\0')
			mult = 0;
	} else {
		mult = 0;
	}
	if (mult == 0 || n > max / mult || n * mult < min) {
		set_err(p, sec_line(s, key), "%s must be a byte count in %zu..%zu (suffix k or M)",
		        key, min, max);
		return MQS_ERR_INVAL;
	}
	*out = (size_t)(n * mult);
	return MQS_OK;
}

/* 1 when t is a topic name (filter 0) or filter (filter 1), else 0. */
static int topic_ok(const char *t, int filter)
{
	size_t len = strlen(t);

	if (len == 0 || len > 1024)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (t[i] == '+' || t[i] == '#') {
			if (!filter)
				return 0;
			if ((i > 0 && t[i - 1] != '/') ||
			    (t[i] == '+' && i + 1 < len && t[i + 1] != '/') ||
			    (t[i] == '#' && i + 1 != len))
				return 0;
		}
	}
	return 1;
}

/* 1 when n is a section or group name: 1..64 of A-Z a-z 0-9 _ - . */
static int name_ok(const char *n)
{
	size_t len = 0;

	for (; n[len] != '\0'; len++) {
		unsigned char ch = (unsigned char)n[len];
		if (!isalnum(ch) && ch != '_' && ch != '-' && ch != '.')
			return 0;
	}
	return len > 0 && len <= 64;
}

/* The connection keys of a [broker] or [broker NAME] section s into b,
 * with their defaults. */
static int load_broker_keys(struct parse *p, struct gw_section *s, struct gw_broker_conf *b)
{
	unsigned long n;

	b->name = s != NULL && s->name != NULL ? s->name : "";
	b->line = s != NULL ? s->line : 0;
	b->host = "127.0.0.1";
	b->port = 1883;
	b->keepalive = 30;
	b->reconnect_min_ms = 1000;
	b->reconnect_max_ms = 30000;
	if (need(p, s, "broker", "credentials", &b->credentials) != 0)
		return MQS_ERR_INVAL;
	if (sec_get(s, "host") != NULL)
		b->host = sec_get(s, "host");
	n = (unsigned long)b->port;
	if (get_uint(p, s, "port", 1, 65535, &n) != 0)
		return MQS_ERR_INVAL;
	b->port = (int)n;
	n = (unsigned long)b->keepalive;
	if (get_uint(p, s, "keepalive", 5, 3600, &n) != 0)
		return MQS_ERR_INVAL;
	b->keepalive = (int)n;
	b->client_id = sec_get(s, "client_id");
	b->cafile = sec_get(s, "cafile");
	if (get_duration(p, s, "reconnect_min", &b->reconnect_min_ms) != 0 ||
	    get_duration(p, s, "reconnect_max", &b->reconnect_max_ms) != 0)
		return MQS_ERR_INVAL;
	if (b->reconnect_min_ms < 100)
		b->reconnect_min_ms = 100;
	if (b->reconnect_max_ms < b->reconnect_min_ms)
		b->reconnect_max_ms = b->reconnect_min_ms;
	return MQS_OK;
}

/* [broker] with its defaults (brokers[0] and the flat fields), then every
 * [broker NAME] (docs/medical.md) in file order. */
static int load_broker(struct parse *p)
{
	struct gw_config *c = p->c;
	struct gw_section *s = find_section(c, "broker");
	struct gw_broker_conf *b0 = &c->brokers[0];

	if (s == NULL && c->sections != NULL) {
		for (struct gw_section *t = c->sections; t != NULL; t = t->next) {
			if (strcmp(t->type, "broker") == 0) {
				set_err(p, t->line, "[broker %s] needs a [broker] section too",
				        t->name);
				return MQS_ERR_INVAL;
			}
		}
	}
	if (load_broker_keys(p, s, b0) != 0)
		return MQS_ERR_INVAL;
	c->nbrokers = 1;
	c->status_topic = "mqttsec/status";
	if (sec_get(s, "status_topic") != NULL)
		c->status_topic = sec_get(s, "status_topic");
	if (!topic_ok(c->status_topic, 0)) {
		set_err(p, sec_line(s, "status_topic"),
		        "status_topic must be a topic name without + or #");
		return MQS_ERR_INVAL;
	}
	for (struct gw_section *t = c->sections; t != NULL; t = t->next) {
		if (strcmp(t->type, "broker") != 0 || t->name == NULL)
			continue;
		if (c->nbrokers >= GW_BROKERS_MAX) {
			set_err(p, t->line, "too many [broker NAME] sections (at most %d)",
			        GW_BROKERS_MAX - 1);
			return MQS_ERR_INVAL;
		}
		if (load_broker_keys(p, t, &c->brokers[c->nbrokers]) != 0)
			return MQS_ERR_INVAL;
		c->nbrokers++;
	}
	return MQS_OK;
}

/* [store] with its defaults. */
static int load_store(struct parse *p)
{
	struct gw_config *c = p->c;
	struct gw_section *s = find_section(c, "store");
	const char *spool, *sync;

	if (need(p, s, "store", "db", &c->db) != 0 ||
	    need(p, s, "store", "master_key_file", &c->master_key_file) != 0)
		return MQS_ERR_INVAL;
	spool = sec_get(s, "spool_dir");
	if (spool != NULL && *spool != '\0') {
		c->spool_dir = mqs_strdup(spool);
	} else {
		const char *slash = strrchr(c->db, '/');
		size_t dlen = slash != NULL ? (size_t)(slash - c->db) : 0;
		size_t cap = dlen + 16;

		c->spool_dir = mqs_malloc(cap);
		if (c->spool_dir != NULL) {
			if (slash == NULL)
				snprintf(c->spool_dir, cap, "spool");
			else if (dlen == 0)
				snprintf(c->spool_dir, cap, "/spool");
			else
				snprintf(c->spool_dir, cap, "%.*s/spool", (int)dlen, c->db);
		}
	}
	if (c->spool_dir == NULL) {
		p->nomem = 1;
		return MQS_ERR_NOMEM;
	}
	c->sync_full = 1;
	sync = sec_get(s, "synchronous");
	if (sync != NULL) {
		if (strcmp(sync, "full") == 0)
			c->sync_full = 1;
		else if (strcmp(sync, "normal") == 0)
			c->sync_full = 0;
		else {
			set_err(p, sec_line(s, "synchronous"),
			        "synchronous must be full or normal");
			return MQS_ERR_INVAL;
		}
	}
	c->cache_size = GW_STORE_CACHE_DEFAULT;
	if (get_size(p, s, "cache_size", GW_STORE_CACHE_MIN, GW_STORE_CACHE_MAX, &c->cache_size) !=
	    MQS_OK)
		return MQS_ERR_INVAL;
	c->retention_ms = 30ull * 86400000ull;
	return get_duration(p, s, "retention", &c->retention_ms);
}

/* [delivery] with its defaults. */
static int load_delivery(struct parse *p)
{
	struct gw_config *c = p->c;
	struct gw_section *s = find_section(c, "delivery");
	const char *esc;
	unsigned long n;
	char why[128];

	c->max_attempts = 8;
	c->backoff_base_ms = 2000;
	c->backoff_max_ms = 600000;
	c->timeout_ms = 60000;
	c->max_inflight = 4;
	c->ack_timeout_ms = 300000;
	c->escalation[0] = GW_CH_EMAIL;
	c->escalation[1] = GW_CH_SMS;
	c->escalation[2] = GW_CH_PHONE;
	c->nescalation = 3;
	if (s == NULL)
		return MQS_OK;
	n = c->max_attempts;
	if (get_uint(p, s, "max_attempts", 1, 1000, &n) != 0)
		return MQS_ERR_INVAL;
	c->max_attempts = (unsigned)n;
	n = c->max_inflight;
	if (get_uint(p, s, "max_inflight", 1, 1000, &n) != 0)
		return MQS_ERR_INVAL;
	c->max_inflight = (unsigned)n;
	c->max_inflight_set = sec_get(s, "max_inflight") != NULL;
	if (get_duration(p, s, "backoff_base", &c->backoff_base_ms) != 0 ||
	    get_duration(p, s, "backoff_max", &c->backoff_max_ms) != 0 ||
	    get_duration(p, s, "ack_timeout", &c->ack_timeout_ms) != 0)
		return MQS_ERR_INVAL;
	if (c->backoff_base_ms < 10)
		c->backoff_base_ms = 10;
	if (c->backoff_max_ms < c->backoff_base_ms)
		c->backoff_max_ms = c->backoff_base_ms;
	esc = sec_get(s, "escalation");
	if (esc != NULL) {
		unsigned mask;

		if (gw_chan_list_parse(esc, &mask, c->escalation, &c->nescalation, why,
		                       sizeof(why)) != 0) {
			set_err(p, sec_line(s, "escalation"), "escalation: %s", why);
			return MQS_ERR_INVAL;
		}
	}
	return MQS_OK;
}

/* The channels key of a medical or medical-join route: TOPIC[@BROKER], ...
 * into r->chans (docs/medical.md, "Sending"). */
static int load_channels(struct parse *p, struct gw_section *s, struct gw_route *r)
{
	struct gw_config *c = p->c;
	const char *v;
	int line = sec_line(s, "channels");
	char *cur;

	if (need(p, s, "route", "channels", &v) != 0)
		return MQS_ERR_INVAL;
	r->chans_text = mqs_strdup(v);
	if (r->chans_text == NULL) {
		p->nomem = 1;
		return MQS_ERR_NOMEM;
	}
	cur = r->chans_text;
	for (;;) {
		char *comma = strchr(cur, ',');
		char *item, *at, *topic;
		size_t broker = 0;

		if (comma != NULL)
			*comma = '\0';
		item = trim(cur);
		if (*item == '\0') {
			set_err(p, line, "[route %s] channels: empty entry", s->name);
			return MQS_ERR_INVAL;
		}
		if (r->nchans >= GW_MED_CHAN_MAX) {
			set_err(p, line, "[route %s] channels: at most %d channels", s->name,
			        GW_MED_CHAN_MAX);
			return MQS_ERR_INVAL;
		}
		at = strrchr(item, '@');
		if (at != NULL) {
			const char *bname;

			*at = '\0';
			bname = trim(at + 1);
			for (broker = 1; broker < c->nbrokers; broker++) {
				if (strcmp(c->brokers[broker].name, bname) == 0)
					break;
			}
			if (broker >= c->nbrokers) {
				set_err(p, line,
				        "[route %s] channels: unknown broker %s (no [broker %s] "
				        "section)",
				        s->name, bname, bname);
				return MQS_ERR_INVAL;
			}
		}
		topic = trim(item);
		if (!topic_ok(topic, 0)) {
			set_err(p, line, "[route %s] channels: %s is not a topic name (no + or #)",
			        s->name, topic);
			return MQS_ERR_INVAL;
		}
		for (size_t i = 0; i < r->nchans; i++) {
			if (r->chans[i].broker == broker && strcmp(r->chans[i].topic, topic) == 0) {
				set_err(p, line, "[route %s] channels: %s%s%s listed twice",
				        s->name, topic, broker ? "@" : "", c->brokers[broker].name);
				return MQS_ERR_INVAL;
			}
		}
		r->chans[r->nchans].topic = topic;
		r->chans[r->nchans].broker = broker;
		r->nchans++;
		if (comma == NULL)
			break;
		cur = comma + 1;
	}
	if (r->nchans < 2) {
		set_err(p, line, "[route %s] channels: at least 2 channels", s->name);
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* 1 when list is a comma list of record key names, else 0. */
static int name_list_ok(const char *list)
{
	char buf[1024];
	char *cur = buf;

	if (strlen(list) >= sizeof(buf))
		return 0;
	memcpy(buf, list, strlen(list) + 1);
	for (;;) {
		char *comma = strchr(cur, ',');

		if (comma != NULL)
			*comma = '\0';
		if (!name_ok(trim(cur)))
			return 0;
		if (comma == NULL)
			return 1;
		cur = comma + 1;
	}
}

/* 1 when the configuration has a [channel name] section, else 0. */
static int has_channel_section(const struct gw_config *c, const char *name)
{
	for (const struct gw_section *s = c->sections; s != NULL; s = s->next) {
		if (strcmp(s->type, "channel") == 0 && s->name != NULL &&
		    strcmp(s->name, name) == 0)
			return 1;
	}
	return 0;
}

/* The keys of kind = medical and medical-join (docs/medical.md). */
static int load_medical(struct parse *p, struct gw_section *s, struct gw_route *r)
{
	unsigned long k = 0;
	const char *v;

	if (load_channels(p, s, r) != 0)
		return MQS_ERR_INVAL;
	if (need(p, s, "route", "threshold", &v) != 0 ||
	    get_uint(p, s, "threshold", 2, r->nchans, &k) != 0)
		return MQS_ERR_INVAL;
	r->threshold = (unsigned)k;
	r->record_key = sec_get(s, "record_key");
	if (r->record_key != NULL && *r->record_key == '\0') {
		/* an empty value must not quietly mean "every key in the store" */
		set_err(p, sec_line(s, "record_key"),
		        "[route %s] record_key: empty (leave the key out to accept every record "
		        "key in the store)",
		        s->name);
		return MQS_ERR_INVAL;
	}
	if (r->kind == GW_KIND_MEDICAL) {
		if (need(p, s, "route", "record_key", &r->record_key) != 0)
			return MQS_ERR_INVAL;
		if (!name_ok(r->record_key)) {
			set_err(p, sec_line(s, "record_key"),
			        "[route %s] record_key: one record key name (1..64 of A-Z a-z "
			        "0-9 _ - .)",
			        s->name);
			return MQS_ERR_INVAL;
		}
		/* docs/medical.md, "Sending": a broker down for days cannot fill
		 * the disk */
		k = 100000;
		r->max_queued_bytes = (size_t)1 << 30;
		if (get_uint(p, s, "max_queued", 1, 100000000, &k) != 0 ||
		    get_size(p, s, "max_queued_bytes", 1, (size_t)1 << 40, &r->max_queued_bytes) !=
		        0)
			return MQS_ERR_INVAL;
		r->max_queued = (size_t)k;
		return MQS_OK;
	}
	if (r->record_key != NULL && !name_list_ok(r->record_key)) {
		set_err(p, sec_line(s, "record_key"),
		        "[route %s] record_key: a comma list of record key names", s->name);
		return MQS_ERR_INVAL;
	}
	r->deliver = sec_get(s, "deliver");
	if (r->deliver == NULL)
		r->deliver = "spool";
	if (strcmp(r->deliver, "webhook") != 0 && strcmp(r->deliver, "spool") != 0) {
		set_err(p, sec_line(s, "deliver"), "[route %s] deliver must be webhook or spool",
		        s->name);
		return MQS_ERR_INVAL;
	}
	if (strcmp(r->deliver, "webhook") == 0 && !has_channel_section(p->c, "webhook")) {
		set_err(p, sec_line(s, "deliver"),
		        "[route %s] deliver = webhook needs a [channel webhook] section", s->name);
		return MQS_ERR_INVAL;
	}
	r->join_timeout_ms = 60000;
	r->max_pending = 10000;
	r->max_record = 1024 * 1024;
	r->max_pending_bytes = 64u * 1024 * 1024;
	k = r->max_pending;
	if (get_duration(p, s, "join_timeout", &r->join_timeout_ms) != 0 ||
	    get_uint(p, s, "max_pending", 1, 1000000, &k) != 0 ||
	    get_size(p, s, "max_record", 1, 1024 * 1024, &r->max_record) != 0 ||
	    get_size(p, s, "max_pending_bytes", 1, (size_t)1 << 40, &r->max_pending_bytes) != 0)
		return MQS_ERR_INVAL;
	r->max_pending = k;
	if (r->join_timeout_ms < 100) {
		set_err(p, sec_line(s, "join_timeout"), "[route %s] join_timeout: at least 100ms",
		        s->name);
		return MQS_ERR_INVAL;
	}
	/* each channel may hold max_pending_bytes / n (docs/medical.md,
	 * "Receiving"): a record of max_record bytes must fit in that part */
	if (r->max_pending_bytes / r->nchans < r->max_record) {
		set_err(p, sec_line(s, "max_pending_bytes"),
		        "[route %s] max_pending_bytes must be at least %zu x max_record (one part "
		        "per channel)",
		        s->name, r->nchans);
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* The keys of a kind = marketing route (docs/marketing.md, "Review"):
 * review_levels (required, ordered, distinct names) and review_timeout. */
static int load_marketing_route(struct parse *p, struct gw_section *s, struct gw_route *r)
{
	const char *v;
	char *save = NULL, *tok;

	if (need(p, s, "route", "review_levels", &v) != 0)
		return MQS_ERR_INVAL;
	r->levels_text = mqs_strdup(v);
	if (r->levels_text == NULL) {
		p->nomem = 1;
		return MQS_ERR_NOMEM;
	}
	for (tok = strtok_r(r->levels_text, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		tok = trim(tok);
		if (!name_ok(tok)) {
			set_err(
			    p, sec_line(s, "review_levels"),
			    "[route %s] review_levels: bad level name (1..64 of A-Z a-z 0-9 _ - .)",
			    s->name);
			return MQS_ERR_INVAL;
		}
		for (size_t i = 0; i < r->nlevels; i++) {
			if (strcmp(r->levels[i], tok) == 0) {
				set_err(p, sec_line(s, "review_levels"),
				        "[route %s] review_levels: level %s repeated", s->name,
				        tok);
				return MQS_ERR_INVAL;
			}
		}
		if (r->nlevels == GW_LEVELS_MAX) {
			set_err(p, sec_line(s, "review_levels"),
			        "[route %s] review_levels: at most %d levels", s->name,
			        GW_LEVELS_MAX);
			return MQS_ERR_INVAL;
		}
		r->levels[r->nlevels++] = tok;
	}
	if (r->nlevels == 0) {
		set_err(p, sec_line(s, "review_levels"), "[route %s] review_levels: no level",
		        s->name);
		return MQS_ERR_INVAL;
	}
	r->review_timeout_ms = 72ull * 3600000ull;
	if (get_duration(p, s, "review_timeout", &r->review_timeout_ms) != 0)
		return MQS_ERR_INVAL;
	if (r->review_timeout_ms < 1000 || r->review_timeout_ms > 365ull * 86400000ull) {
		set_err(p, sec_line(s, "review_timeout"),
		        "[route %s] review_timeout must be 1s..365d", s->name);
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* One [route NAME] section into r (sensor rules: gw_rule.h). */
static int load_route(struct parse *p, struct gw_section *s, struct gw_route *r)
{
	const struct gw_kind_info *ki;
	const char *kind, *v;
	char why[256];

	r->name = s->name;
	r->line = s->line;
	r->enabled = 1;
	if (s->name == NULL || !name_ok(s->name)) {
		set_err(p, s->line, "[route NAME]: NAME must be 1..64 of A-Z a-z 0-9 _ - .");
		return MQS_ERR_INVAL;
	}
	if (need(p, s, "route", "kind", &kind) != 0)
		return MQS_ERR_INVAL;
	ki = gw_kind_find(kind); /* the kind registry (gw_kind.h) */
	if (ki == NULL) {
		set_err(p, sec_line(s, "kind"),
		        "[route %s] kind must be alert, sensor, marketing, medical or "
		        "medical-join",
		        s->name);
		return MQS_ERR_INVAL;
	}
	r->kind = ki->kind;
	if (r->kind == GW_KIND_MEDICAL_JOIN) {
		/* its subscriptions are its channels */
		if (sec_kv(s, "topic") != NULL)
			gw_log(GW_LOG_WARN,
			       "%s:%d: [route %s] topic does not apply to kind = medical-join "
			       "(its channels are its subscriptions; ignored)",
			       p->c->path, sec_line(s, "topic"), s->name);
		return load_medical(p, s, r);
	}
	if (need(p, s, "route", "topic", &r->topic) != 0)
		return MQS_ERR_INVAL;
	if (!topic_ok(r->topic, 1)) {
		set_err(p, sec_line(s, "topic"), "[route %s] topic: not a valid topic filter",
		        s->name);
		return MQS_ERR_INVAL;
	}
	if (r->kind == GW_KIND_MEDICAL)
		return load_medical(p, s, r);
	r->group = sec_get(s, "group");
	r->ack_from = sec_get(s, "ack_from");
	if (r->ack_from != NULL && gw_ack_list_check(r->ack_from, why, sizeof(why)) != 0) {
		set_err(p, sec_line(s, "ack_from"), "[route %s] ack_from: %s", s->name, why);
		return MQS_ERR_INVAL;
	}
	if (r->kind == GW_KIND_MARKETING)
		return load_marketing_route(p, s, r);
	if (!ki->served) {
		/* keys of later kinds are accepted; the route is not served yet */
		for (size_t i = 0; ki->keys[i] != NULL; i++)
			sec_kv(s, ki->keys[i]);
		r->enabled = 0;
		gw_log(GW_LOG_WARN,
		       "%s:%d: [route %s] kind %s is not handled by this version "
		       "(route ignored)",
		       p->c->path, s->line, s->name, kind);
		return MQS_OK;
	}
	if (r->kind == GW_KIND_SENSOR) {
		size_t n = 0;

		r->field = sec_get(s, "field");
		v = sec_get(s, "hysteresis");
		if (v != NULL) {
			char *end = NULL;
			r->hysteresis = strtod(v, &end);
			if (end == v || *end != '\0' || !isfinite(r->hysteresis) ||
			    r->hysteresis < 0) {
				set_err(p, sec_line(s, "hysteresis"),
				        "[route %s] hysteresis must be a number >= 0", s->name);
				return MQS_ERR_INVAL;
			}
		}
		for (struct gw_kv *kv = s->kv; kv != NULL; kv = kv->next) {
			if (strcmp(kv->key, "rule") == 0)
				n++;
		}
		if (n == 0) {
			set_err(p, s->line, "[route %s] kind = sensor needs at least one rule",
			        s->name);
			return MQS_ERR_INVAL;
		}
		r->rules = mqs_calloc(n, sizeof(*r->rules));
		if (r->rules == NULL) {
			p->nomem = 1;
			return MQS_ERR_NOMEM;
		}
		for (struct gw_kv *kv = s->kv; kv != NULL; kv = kv->next) {
			if (strcmp(kv->key, "rule") != 0)
				continue;
			kv->used = 1;
			if (gw_rule_parse(kv->value, &r->rules[r->nrules], why, sizeof(why)) != 0) {
				set_err(p, kv->line, "[route %s] rule: %s", s->name, why);
				return MQS_ERR_INVAL;
			}
			if (r->rules[r->nrules].group == NULL && r->group == NULL) {
				r->nrules++;
				set_err(p, kv->line,
				        "[route %s] rule: no group= and no group key in the route",
				        s->name);
				return MQS_ERR_INVAL;
			}
			r->nrules++;
		}
	} else {
		for (struct gw_kv *kv = s->kv; kv != NULL; kv = kv->next) {
			if (strcmp(kv->key, "rule") == 0 || strcmp(kv->key, "field") == 0 ||
			    strcmp(kv->key, "hysteresis") == 0) {
				kv->used = 1;
				gw_log(GW_LOG_WARN,
				       "%s:%d: [route %s] %s applies to kind = sensor only "
				       "(ignored)",
				       p->c->path, kv->line, s->name, kv->key);
			}
		}
	}
	if (r->group != NULL && !name_ok(r->group)) {
		set_err(p, sec_line(s, "group"), "[route %s] group: bad group name", s->name);
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* "HH:MM" into minutes after midnight: MQS_OK or MQS_ERR_INVAL. */
static int parse_hhmm(const char *v, size_t len, int *out)
{
	if (len != 5 || !isdigit((unsigned char)v[0]) || !isdigit((unsigned char)v[1]) ||
	    v[2] != ':' || !isdigit((unsigned char)v[3]) || !isdigit((unsigned char)v[4]))
		return MQS_ERR_INVAL;
	int h = (v[0] - '0') * 10 + (v[1] - '0'), m = (v[3] - '0') * 10 + (v[4] - '0');
	if (h > 23 || m > 59)
		return MQS_ERR_INVAL;
	*out = h * 60 + m;
	return MQS_OK;
}

/* [marketing] with its defaults (docs/marketing.md, "Delivery rules"). */
static int load_marketing(struct parse *p)
{
	struct gw_config *c = p->c;
	struct gw_section *s = find_section(c, "marketing");
	const char *v, *dash;
	unsigned long n;

	c->quiet_start_min = 21 * 60;
	c->quiet_end_min = 8 * 60;
	c->default_tz = "UTC";
	c->marketing_share = 75;
	c->fanout_batch = 2000;
	if (s == NULL)
		return MQS_OK;
	v = sec_get(s, "quiet_hours");
	if (v != NULL) {
		dash = strchr(v, '-');
		if (strcmp(v, "none") == 0) {
			c->quiet_start_min = c->quiet_end_min = 0;
		} else if (dash == NULL ||
		           parse_hhmm(v, (size_t)(dash - v), &c->quiet_start_min) != MQS_OK ||
		           parse_hhmm(dash + 1, strlen(dash + 1), &c->quiet_end_min) != MQS_OK) {
			set_err(p, sec_line(s, "quiet_hours"),
			        "[marketing] quiet_hours must be HH:MM-HH:MM (e.g. 21:00-08:00) or "
			        "none");
			return MQS_ERR_INVAL;
		}
	}
	v = sec_get(s, "default_tz");
	if (v != NULL) {
		if (!gw_tz_valid(v)) {
			set_err(
			    p, sec_line(s, "default_tz"),
			    "[marketing] default_tz: unknown time zone %s (an IANA name such as "
			    "Europe/Paris)",
			    v);
			return MQS_ERR_INVAL;
		}
		c->default_tz = v;
	}
	n = c->marketing_share;
	if (get_uint(p, s, "marketing_share", 1, 100, &n) != 0)
		return MQS_ERR_INVAL;
	c->marketing_share = (unsigned)n;
	n = c->fanout_batch;
	if (get_uint(p, s, "fanout_batch", 1, 100000, &n) != 0)
		return MQS_ERR_INVAL;
	c->fanout_batch = (size_t)n;
	return MQS_OK;
}

/* 1 when host (without brackets) is a loopback address or name. */
static int host_loopback(const char *host)
{
	return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
	       strcmp(host, "::1") == 0;
}

/* [http] (docs/marketing.md, "HTTP listener"). */
static int load_http(struct parse *p)
{
	struct gw_config *c = p->c;
	struct gw_section *s = find_section(c, "http");
	struct gw_http_conf *h = &c->http;
	const char *v, *colon;
	unsigned long n;
	size_t hl;

	snprintf(h->listen_host, sizeof(h->listen_host), "127.0.0.1");
	h->listen_port = 8080;
	h->max_connections = 64;
	h->per_ip = 8;
	h->timeout_ms = 10000;
	h->max_body = 64 * 1024;
	if (s == NULL)
		return MQS_OK;
	h->enabled = 1;
	h->line = s->line;
	v = sec_get(s, "listen");
	if (v != NULL) {
		char *end = NULL;

		if (v[0] == '[') {
			const char *rb = strchr(v, ']');
			colon = rb != NULL && rb[1] == ':' ? rb + 1 : NULL;
			hl = rb != NULL ? (size_t)(rb - v - 1) : 0;
			v++;
		} else {
			colon = strrchr(v, ':');
			hl = colon != NULL ? (size_t)(colon - v) : 0;
		}
		errno = 0;
		n = colon != NULL ? strtoul(colon + 1, &end, 10) : 0;
		if (colon == NULL || hl == 0 || hl >= sizeof(h->listen_host) || errno != 0 ||
		    end == colon + 1 || *end != '\0' || n > 65535) {
			set_err(
			    p, sec_line(s, "listen"),
			    "[http] listen must be HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)");
			return MQS_ERR_INVAL;
		}
		memcpy(h->listen_host, v, hl);
		h->listen_host[hl] = '\0';
		h->listen_port = (int)n;
	}
	h->cert = sec_get(s, "cert");
	h->key = sec_get(s, "key");
	if ((h->cert == NULL) != (h->key == NULL)) {
		set_err(p, s->line, "[http] cert and key go together (TLS), or neither");
		return MQS_ERR_INVAL;
	}
	if (h->cert == NULL && !host_loopback(h->listen_host)) {
		set_err(
		    p, sec_line(s, "listen"),
		    "[http] plain HTTP only on loopback: listen on 127.0.0.1 behind a TLS proxy, "
		    "or set cert and key");
		return MQS_ERR_INVAL;
	}
	v = sec_get(s, "public_url");
	if (v != NULL) {
		size_t len = strlen(v);

		if (len > 512 || (strncmp(v, "https://", 8) != 0 &&
		                  !(strncmp(v, "http://", 7) == 0 && gw_url_is_loopback(v)))) {
			set_err(p, sec_line(s, "public_url"),
			        "[http] public_url must be an https:// URL (http:// only for "
			        "loopback), at most 512 characters");
			return MQS_ERR_INVAL;
		}
		h->public_url = v;
		/* no trailing '/' (links append "/u/TOKEN") */
		while (len > 0 && v[len - 1] == '/')
			((char *)v)[--len] = '\0';
	}
	n = h->max_connections;
	if (get_uint(p, s, "max_connections", 1, 10000, &n) != 0)
		return MQS_ERR_INVAL;
	h->max_connections = (unsigned)n;
	n = h->per_ip;
	if (get_uint(p, s, "per_ip", 1, 10000, &n) != 0)
		return MQS_ERR_INVAL;
	h->per_ip = (unsigned)n;
	if (get_duration(p, s, "timeout", &h->timeout_ms) != 0)
		return MQS_ERR_INVAL;
	if (h->timeout_ms < 1000 || h->timeout_ms > 3600000) {
		set_err(p, sec_line(s, "timeout"), "[http] timeout must be 1s..1h");
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* [channel NAME] rate and burst of every channel section. */
static int load_rates(struct parse *p)
{
	struct gw_config *c = p->c;

	for (struct gw_section *s = c->sections; s != NULL; s = s->next) {
		const struct gw_channel_type *type;
		const char *v;
		char *end = NULL;
		double per = 0, n;
		unsigned long burst;

		if (strcmp(s->type, "channel") != 0)
			continue;
		type = gw_channel_type_find(s->name);
		v = sec_get(s, "rate");
		if (v != NULL && type != NULL && type->chan < 0) {
			set_err(p, sec_line(s, "rate"),
			        "[channel %s] takes no rate (it writes files; rates apply to the "
			        "provider channels)",
			        s->name);
			return MQS_ERR_INVAL;
		}
		if (v == NULL || type == NULL)
			continue;
		n = strtod(v, &end);
		if (end != v && isfinite(n) && n > 0) {
			if (*end == '\0' || strcmp(end, "/s") == 0)
				per = n;
			else if (strcmp(end, "/m") == 0)
				per = n / 60.0;
			else if (strcmp(end, "/h") == 0)
				per = n / 3600.0;
		}
		if (per <= 0 || per > 1e6) {
			set_err(p, sec_line(s, "rate"),
			        "[channel %s] rate must be N/s, N/m or N/h with N > 0 (e.g. 10/s)",
			        s->name);
			return MQS_ERR_INVAL;
		}
		burst = per < 1 ? 1 : (unsigned long)ceil(per);
		if (get_uint(p, s, "burst", 1, 1000000, &burst) != 0)
			return MQS_ERR_INVAL;
		c->rate[type->chan].per_s = per;
		c->rate[type->chan].burst = (unsigned)burst;
	}
	return MQS_OK;
}

/* Checks across sections: a marketing route needs [http] public_url (its
 * emails carry unsubscribe links). */
static int check_marketing(struct parse *p)
{
	struct gw_config *c = p->c;

	for (size_t i = 0; i < c->nroutes; i++) {
		if (c->routes[i].kind != GW_KIND_MARKETING)
			continue;
		if (c->http.public_url == NULL) {
			set_err(p, c->routes[i].line,
			        "[route %s] kind = marketing needs [http] public_url (unsubscribe "
			        "links in every marketing email)",
			        c->routes[i].name);
			return MQS_ERR_INVAL;
		}
	}
	return MQS_OK;
}

/* Value of key in [channel name]. */
const char *gw_config_chan_get(const struct gw_config *c, const char *name, const char *key)
{
	for (struct gw_section *s = c->sections; s != NULL; s = s->next) {
		if (strcmp(s->type, "channel") == 0 && s->name != NULL &&
		    strcmp(s->name, name) == 0)
			return sec_get(s, key);
	}
	return NULL;
}

/* 1 when key is in the NULL-terminated keys, else 0. */
static int in_list(const char *const *keys, const char *key)
{
	for (size_t i = 0; keys != NULL && keys[i] != NULL; i++) {
		if (strcmp(keys[i], key) == 0)
			return 1;
	}
	return 0;
}

/* Check section names, build the routes, warn about unknown keys. */
static int load_sections(struct parse *p)
{
	struct gw_config *c = p->c;
	size_t nroutes = 0, i = 0;

	for (struct gw_section *s = c->sections; s != NULL; s = s->next) {
		int single = strcmp(s->type, "broker") == 0 || strcmp(s->type, "store") == 0 ||
		             strcmp(s->type, "delivery") == 0 ||
		             strcmp(s->type, "marketing") == 0 || strcmp(s->type, "http") == 0;

		for (struct gw_section *t = c->sections; t != s; t = t->next) {
			if (strcmp(t->type, s->type) == 0 &&
			    ((t->name == NULL && s->name == NULL) ||
			     (t->name != NULL && s->name != NULL &&
			      strcmp(t->name, s->name) == 0))) {
				set_err(p, s->line, "section [%s%s%s] repeated (first at line %d)",
				        s->type, s->name ? " " : "", s->name ? s->name : "",
				        t->line);
				return MQS_ERR_INVAL;
			}
		}
		if (single && s->name != NULL && strcmp(s->type, "broker") != 0) {
			set_err(p, s->line, "[%s] takes no name", s->type);
			return MQS_ERR_INVAL;
		}
		if (strcmp(s->type, "broker") == 0 && s->name != NULL && !name_ok(s->name)) {
			set_err(p, s->line,
			        "[broker NAME]: NAME must be 1..64 of A-Z a-z 0-9 _ - .");
			return MQS_ERR_INVAL;
		}
		if (strcmp(s->type, "route") == 0) {
			nroutes++;
		} else if (strcmp(s->type, "channel") == 0) {
			if (gw_channel_type_find(s->name) == NULL) {
				set_err(p, s->line,
				        "[channel NAME]: NAME must be email, sms, phone, line or "
				        "spool");
				return MQS_ERR_INVAL;
			}
			s->cc.get = chan_conf_get;
			s->cc.priv = s;
			c->nchannel_sections++;
		} else if (!single) {
			gw_log(GW_LOG_WARN, "%s:%d: unknown section [%s] (ignored)", c->path,
			       s->line, s->type);
		}
	}
	if (load_broker(p) != 0 || load_store(p) != 0 || load_delivery(p) != 0 ||
	    load_marketing(p) != 0 || load_http(p) != 0 || load_rates(p) != 0)
		return MQS_ERR_INVAL;
	if (nroutes > 0) {
		c->routes = mqs_calloc(nroutes, sizeof(*c->routes));
		if (c->routes == NULL) {
			p->nomem = 1;
			return MQS_ERR_NOMEM;
		}
	}
	for (struct gw_section *s = c->sections; s != NULL; s = s->next) {
		if (strcmp(s->type, "route") != 0)
			continue;
		c->nroutes = i + 1;
		if (load_route(p, s, &c->routes[i]) != 0)
			return MQS_ERR_INVAL;
		i++;
	}
	if (c->nroutes == 0)
		gw_log(GW_LOG_WARN, "%s: no [route NAME] section: nothing will be delivered",
		       c->path);
	if (check_marketing(p) != 0)
		return MQS_ERR_INVAL;
	/* unknown keys (channel sections: the channel's own list) */
	for (struct gw_section *s = c->sections; s != NULL; s = s->next) {
		const char *const *keys = NULL;

		const struct gw_kind_info *ki = NULL;

		if (strcmp(s->type, "broker") == 0)
			keys = s->name != NULL ? named_broker_keys : broker_keys;
		else if (strcmp(s->type, "store") == 0)
			keys = store_keys;
		else if (strcmp(s->type, "delivery") == 0)
			keys = delivery_keys;
		else if (strcmp(s->type, "marketing") == 0)
			keys = marketing_keys;
		else if (strcmp(s->type, "http") == 0)
			keys = http_keys;
		else if (strcmp(s->type, "route") == 0) {
			keys = route_keys;
			ki = gw_kind_find(sec_get(s, "kind"));
		} else if (strcmp(s->type, "channel") == 0)
			keys = gw_channel_type_find(s->name)->keys;
		else
			continue;
		for (struct gw_kv *kv = s->kv; kv != NULL; kv = kv->next) {
			if (in_list(keys, kv->key) || (ki != NULL && in_list(ki->keys, kv->key)) ||
			    (strcmp(s->type, "channel") == 0 && in_list(chan_common_keys, kv->key)))
				continue;
			gw_log(GW_LOG_WARN, "%s:%d: unknown key %s in [%s%s%s] (ignored)", c->path,
			       kv->line, kv->key, s->type, s->name ? " " : "",
			       s->name ? s->name : "");
		}
	}
	return MQS_OK;
}

/* Tell every marketing route whether the SMS channel seals ([channel sms]
 * envelope = on or required; with on, recipients with a key get the sealed
 * form, whose limit is the stricter one): submission then checks a
 * campaign's SMS text against what a sealed SMS carries. */
static void mark_sms_sealed(struct gw_config *c)
{
	const char *env = gw_config_chan_get(c, "sms", "envelope");
	int sealed = env != NULL && (strcmp(env, "on") == 0 || strcmp(env, "required") == 0);

	for (size_t i = 0; i < c->nroutes; i++)
		c->routes[i].sms_sealed = sealed;
}

/* Parse the configuration file. */
int gw_config_load(const char *path, struct gw_config *c, char *err, size_t errlen)
{
	struct parse p;
	int rc = MQS_ERR_NOMEM, ini;

	memset(c, 0, sizeof(*c));
	memset(&p, 0, sizeof(p));
	p.c = c;
	p.tail = &c->sections;
	c->path = mqs_strdup(path);
	if (c->path == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	p.f = fopen(path, "r");
	if (p.f == NULL) {
		snprintf(err, errlen, "cannot open config %s: %s", path, strerror(errno));
		rc = MQS_ERR_IO;
		goto out;
	}
	/* indented lines are ordinary keys, not continuations */
	ini_allow_multiline = false;
	ini = ini_parse_stream(reader, &p, handler, &p);
	fclose(p.f);
	if (p.nomem) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = MQS_ERR_PARSE;
	if (p.too_long > 0) {
		snprintf(err, errlen, "%s:%d: line longer than %d characters", path, p.too_long,
		         CONF_LINE_MAX);
		goto out;
	}
	if (ini != 0) {
		snprintf(err, errlen, "%s:%d: syntax error (expected [section] or key = value)",
		         path, ini);
		goto out;
	}
	if (load_sections(&p) != MQS_OK) {
		if (p.nomem) {
			snprintf(err, errlen, "out of memory");
			rc = MQS_ERR_NOMEM;
		} else {
			snprintf(err, errlen, "%s", p.err);
		}
		goto out;
	}
	mark_sms_sealed(c);
	rc = MQS_OK;
out:
	if (rc != MQS_OK)
		gw_config_release(c);
	return rc;
}

/* Free the config. */
void gw_config_release(struct gw_config *c)
{
	struct gw_section *s, *snext;

	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nroutes; i++) {
		for (size_t j = 0; j < c->routes[i].nrules; j++)
			gw_rule_release(&c->routes[i].rules[j]);
		mqs_free(c->routes[i].rules);
		mqs_free(c->routes[i].chans_text);
		mqs_free(c->routes[i].levels_text);
	}
	mqs_free(c->routes);
	for (s = c->sections; s != NULL; s = snext) {
		struct gw_kv *kv, *knext;

		snext = s->next;
		for (kv = s->kv; kv != NULL; kv = knext) {
			knext = kv->next;
			mqs_free(kv->key);
			/* values may hold provider tokens */
			mqs_secret_free_str(kv->value);
			mqs_free(kv);
		}
		mqs_free(s->type);
		mqs_free(s->name);
		mqs_free(s);
	}
	mqs_free(c->spool_dir);
	mqs_free(c->path);
	memset(c, 0, sizeof(*c));
}

/* No key is set: the [channel spool] the gateway adds by itself. */
static const char *chan_conf_none(const struct gw_chan_conf *cc, const char *key)
{
	(void)cc;
	(void)key;
	return NULL;
}

/* Apply [channel NAME] max_inflight (or the [delivery] default) to ch.
 * MQS_OK, or MQS_ERR_INVAL with "file:line: reason" in err. */
static int channel_inflight(const struct gw_config *c, const struct gw_section *s,
                            struct gw_channel *ch, char *err, size_t errlen)
{
	unsigned long inflight = c->max_inflight;
	const char *v = sec_get(s, "max_inflight");
	char *end = NULL;

	if (v == NULL) {
		if (c->max_inflight_set || ch->max_inflight == 0)
			ch->max_inflight = (unsigned)inflight;
		return MQS_OK;
	}
	inflight = strtoul(v, &end, 10);
	if (end == v || *end != '\0' || inflight < 1 || inflight > 1000) {
		snprintf(err, errlen, "%s:%d: max_inflight must be 1..1000", c->path,
		         sec_line(s, "max_inflight"));
		return MQS_ERR_INVAL;
	}
	ch->max_inflight = (unsigned)inflight;
	return MQS_OK;
}

/* Build the configured channels from the channel table. */
int gw_config_channels(const struct gw_config *c, struct gw_channel *by_chan[GW_CH__COUNT],
                       struct gw_channel *owned[GW_CH__COUNT + 1], size_t *nowned, char *err,
                       size_t errlen)
{
	const struct gw_channel_type *spool_type = gw_channel_type_find("spool");
	struct gw_channel *spool = NULL;
	struct gw_section *spool_sec = NULL;
	struct gw_chan_conf cc;
	size_t n = 0;
	int rc = MQS_ERR_INVAL;
	char why[256];

	for (int i = 0; i < GW_CH__COUNT; i++)
		by_chan[i] = NULL;
	for (struct gw_section *s = c->sections; s != NULL; s = s->next) {
		const struct gw_channel_type *type;
		struct gw_channel *ch;

		if (strcmp(s->type, "channel") != 0)
			continue;
		why[0] = '\0';
		type = gw_channel_type_find(s->name);
		if (type->chan < 0) {
			spool_sec = s; /* the fallback is built last */
			continue;
		}
		cc = s->cc;
		cc.spool_dir = c->spool_dir;
		ch = type->create(&cc, why, sizeof(why));
		if (ch == NULL) {
			snprintf(err, errlen, "%s:%d: %s", c->path, s->line,
			         why[0] ? why : "cannot set up channel");
			goto fail;
		}
		owned[n++] = ch;
		by_chan[type->chan] = ch;
		if (channel_inflight(c, s, ch, err, errlen) != MQS_OK)
			goto fail;
		if (type->chan == GW_CH_WEBHOOK && gw_webhook_url_cleartext(sec_get(s, "url")))
			gw_log(GW_LOG_WARN,
			       "%s:%d: [channel webhook] url is http:// to a host that is not "
			       "loopback: deliveries cross the network unencrypted (use https://)",
			       c->path, sec_line(s, "url"));
	}
	if (c->nchannel_sections == 0 || spool_sec != NULL) {
		if (spool_sec != NULL) {
			cc = spool_sec->cc;
		} else {
			cc.get = chan_conf_none;
			cc.priv = NULL;
		}
		cc.spool_dir = c->spool_dir;
		why[0] = '\0';
		spool = spool_type->create(&cc, why, sizeof(why));
		if (spool == NULL) {
			snprintf(err, errlen, "%s%s%s", spool_sec ? c->path : "",
			         spool_sec ? ": " : "", why[0] ? why : "cannot set up the spool");
			goto fail;
		}
		if (spool->max_inflight == 0)
			spool->max_inflight = c->max_inflight;
		owned[n++] = spool;
		for (int i = 0; i < GW_CH__COUNT; i++) {
			if (by_chan[i] == NULL)
				by_chan[i] = spool;
		}
	}
	*nowned = n;
	rc = MQS_OK;
	goto out;
fail:
	for (size_t i = 0; i < n; i++)
		owned[i]->ops->free(owned[i]);
	for (int i = 0; i < GW_CH__COUNT; i++)
		by_chan[i] = NULL;
	*nowned = 0;
out:
	return rc;
}
