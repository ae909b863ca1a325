/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-listen.c - libFuzzer target for the request handling of the
 * gateway's HTTP listener (docs/marketing.md, "HTTP listener") without
 * sockets: gw_listen.c is compiled into this file so its routing, form
 * decoding and access-log helpers can be called directly (the gateway
 * core's own copy of gw_listen.o is then never linked).  What the routes
 * do with a request is fuzz-inbound's.
 *
 * Input: the first line is "METHOD URL", the rest a form body.
 *   - form_parse() agrees with a reference decoder of
 *     application/x-www-form-urlencoded ('&' separates, empty parts are
 *     skipped, the first '=' splits, '+' is a space, %XX a byte, %00 and a
 *     bad escape refuse the form, more than 64 parameters too);
 *   - route_find() gives the route the table names for the path, and
 *     method_in() agrees with a plain comparison;
 *   - log_path() and log_printable() write only printable ASCII within
 *     their buffer, an unsubscribe token cut to 4 characters. */
#include "../../gateway/gw_listen.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reference decoding of one component [s, s + n) into out: its length,
 * or -1. */
static long ref_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
			int lo = i + 2 < n ? hexval(s[i + 2]) : -1;

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return (long)o;
}

/* Check form_parse() on body (NUL-free, len bytes) against the reference. */
static void check_form(const char *body, size_t len)
{
	struct gw_param params[MAX_PARAMS];
	char *copy = malloc(len + 1), *tmp = malloc(len + 1);
	int n, want = 0;

	if (copy == NULL || tmp == NULL)
		goto out;
	memcpy(copy, body, len + 1);
	n = form_parse(copy, params);
	if (n < -1 || n > MAX_PARAMS)
		abort();
	for (size_t i = 0; i <= len && want >= 0;) {
		size_t l = strcspn(body + i, "&"), nl;
		const char *eq;

		if (l > 0) {
			if (want == MAX_PARAMS) {
				want = -1;
				break;
			}
			eq = memchr(body + i, '=', l);
			nl = eq != NULL ? (size_t)(eq - (body + i)) : l;
			if (ref_decode(body + i, nl, tmp) < 0) {
				want = -1;
				break;
			}
			if (n > want && strcmp(params[want].name, tmp) != 0)
				abort();
			if (eq != NULL && ref_decode(eq + 1, l - nl - 1, tmp) < 0) {
				want = -1;
				break;
			}
			if (eq == NULL)
				tmp[0] = '\0';
			if (n > want && strcmp(params[want].value, tmp) != 0)
				abort();
			want++;
		}
		i += l + 1;
	}
	if (n != want)
		abort();
out:
	free(copy);
	free(tmp);
}

/* out must be printable ASCII, shorter than cap. */
static void check_printable(const char *out, size_t cap)
{
	size_t n = strnlen(out, cap);

	if (n >= cap)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (out[i] <= 0x20 || out[i] >= 0x7f)
			abort();
	}
}

/* Routing and the access log's helpers. */
static void check_request(const char *method, const char *url)
{
	const struct route *rt = route_find(url);
	char path[64], meth[16];

	if (rt != NULL) {
		size_t pl = strlen(rt->path);

		if (rt->prefix ? strncmp(url, rt->path, pl) != 0 : strcmp(url, rt->path) != 0)
			abort();
		if (method_in(rt->methods, method) !=
		    (strcmp(method, "POST") == 0 ||
		     (rt->id == R_UNSUB && strcmp(method, "GET") == 0)))
			abort();
	} else if (strcmp(url, "/twilio/sms") == 0 || strcmp(url, "/line/webhook") == 0 ||
	           strncmp(url, "/u/", 3) == 0) {
		abort();
	}
	log_path(url, path, sizeof(path));
	check_printable(path, sizeof(path));
	if (strncmp(url, "/u/", 3) == 0 && strlen(path) > 10)
		abort(); /* "/u/" + 4 characters + "..." */
	log_printable(method, meth, sizeof(meth), 10);
	check_printable(meth, sizeof(meth));
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *sp, *body;

	if (size > BODY_CAP)
		return 0;
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (strlen(s) != size)
		goto out; /* the listener refuses bodies with a NUL byte */
	body = strchr(s, '\n');
	if (body != NULL)
		*body++ = '\0';
	else
		body = s + size;
	sp = strchr(s, ' ');
	if (sp != NULL) {
		*sp = '\0';
		check_request(s, sp + 1);
	}
	check_form(body, strlen(body));
out:
	free(s);
	return 0;
}
