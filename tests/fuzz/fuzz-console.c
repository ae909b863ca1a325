/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-console.c - libFuzzer target for the request parsing of the web
 * console (docs/console.md) without sockets: cs_http.c is compiled into
 * this file so its form parser and route lookup can be called directly
 * (the console library's own copy of cs_http.o is then never linked).
 *
 * Input: the first line is "METHOD PATH", the rest a form body.
 *   - form_parse() agrees with a reference decoder of
 *     application/x-www-form-urlencoded ('&' separates, empty parts and
 *     empty names are skipped, the first '=' splits, '+' is a space, %XX a
 *     byte; a bad escape, a %00, a name or value that is not UTF-8 and more
 *     than CS_PARAMS_MAX parameters refuse the form);
 *   - route_find() returns only a route of that method whose path is the
 *     request's, or a prefix of it ending in '/', with the tail after it. */
#include "../../console/cs_http.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reference decoding of [s, s + n) into out: its length, or -1. */
static long ref_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			int hi = i + 1 < n ? mqs_hex_digit((unsigned char)s[i + 1]) : -1;
			int lo = i + 2 < n ? mqs_hex_digit((unsigned char)s[i + 2]) : -1;

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

/* The reference parse of body: the count of parameters, or -1; names and
 * values are compared with req's. */
static long ref_form(const char *body, const struct cs_req *req, int got)
{
	size_t len = strlen(body), n = 0;
	char *name = malloc(len + 1), *value = malloc(len + 1);
	long ret = -1;

	if (name == NULL || value == NULL)
		abort();
	for (size_t i = 0; i <= len;) {
		size_t l = strcspn(body + i, "&");
		const char *eq = memchr(body + i, '=', l);
		size_t nl = eq != NULL ? (size_t)(eq - (body + i)) : l;
		long a, b;

		if (l > 0) {
			a = ref_decode(body + i, nl, name);
			b = eq != NULL ? ref_decode(eq + 1, l - nl - 1, value) : 0;
			if (eq == NULL)
				value[0] = '\0';
			if (a < 0 || b < 0)
				goto out;
			if (a > 0) {
				if (!mqs_utf8_valid((const uint8_t *)name, (size_t)a, 0) ||
				    !mqs_utf8_valid((const uint8_t *)value, (size_t)b, 0) ||
				    n == CS_PARAMS_MAX)
					goto out;
				if (got && (strcmp(req->params[n].name, name) != 0 ||
				            strcmp(req->params[n].value, value) != 0))
					abort();
				n++;
			}
		}
		i += l + 1;
	}
	ret = (long)n;
out:
	free(name);
	free(value);
	return ret;
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_req *req = NULL;
	const struct cs_route *r;
	const char *tail;
	char *s = NULL, *body, *copy = NULL, *sp;
	long want;
	int got, known;

	if (size > 65536)
		return 0;
	s = malloc(size + 1);
	req = calloc(1, sizeof(*req));
	if (s == NULL || req == NULL)
		goto out;
	memcpy(s, data, size);
	s[size] = '\0';
	if (strlen(s) != size)
		goto out;
	body = strchr(s, '\n');
	if (body != NULL)
		*body++ = '\0';
	else
		body = s + size;
	sp = strchr(s, ' ');
	if (sp != NULL) {
		*sp = '\0';
		r = route_find(s, sp + 1, &tail, &known);
		if (r != NULL) {
			size_t n = strlen(r->path);

			if (!known || strcmp(r->method, s) != 0 ||
			    !(strcmp(sp + 1, r->path) == 0 || (n > 1 && r->path[n - 1] == '/' &&
			                                       strncmp(sp + 1, r->path, n) == 0)) ||
			    tail < sp + 1 || tail > sp + 1 + strlen(sp + 1))
				abort();
		}
	}
	copy = strdup(body);
	if (copy == NULL)
		goto out;
	got = form_parse(req, copy) == MQS_OK;
	if (req->nparams > CS_PARAMS_MAX)
		abort();
	want = ref_form(body, req, got);
	if (got ? want != (long)req->nparams : want >= 0)
		abort();
	params_free(req);
out:
	free(copy);
	free(req);
	free(s);
	return 0;
}
