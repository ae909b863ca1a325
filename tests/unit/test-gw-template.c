/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-template.c - campaign templates: placeholders, refusals with
 * byte offsets, HTML escaping, exact worst-case lengths, caps. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gw_template.h"
#include "mqs_error.h"
#include "tap.h"

static struct gw_tpl_vars test_vars = {
    .n = 3,
    .key = {"offer", "until", "html"},
    .value = {"20% off", "24 Dec", "<b>\"A&B\" 'q'</b>"},
};

/* Compile src (NUL-terminated) against test_vars. */
static int compile(const char *src, struct gw_template **t, char *err, size_t errlen)
{
	return gw_template_compile("text", src, strlen(src), &test_vars, t, err, errlen);
}

/* Render src for name with esc; returns the rendering (free()) or NULL. */
static char *render(const char *src, const char *name, enum gw_tpl_escape esc)
{
	struct gw_template *t = NULL;
	char err[256], *out = NULL;

	if (compile(src, &t, err, sizeof(err)) != MQS_OK) {
		tap_diag("compile %s: %s", src, err);
		return NULL;
	}
	if (gw_template_render(t, name, esc, &out, NULL) != MQS_OK)
		out = NULL;
	gw_template_free(t);
	return out;
}

/* Expect src refused with code want and a reason containing needle. */
static void refused(const char *src, int want, const char *needle, const char *what)
{
	struct gw_template *t = NULL;
	char err[256] = "";
	int rc = compile(src, &t, err, sizeof(err));

	tap_ok(rc == want && t == NULL && strstr(err, needle) != NULL, "%s refused (%s)", what,
	       err);
	gw_template_free(t);
}

static void test_placeholders(void)
{
	char *s;
	struct gw_template *t = NULL;
	char err[256];

	s = render("Hello {{name}}, {{vars.offer}} until {{ vars.until }}.", "Ann", GW_TPL_PLAIN);
	tap_ok(s != NULL && strcmp(s, "Hello Ann, 20% off until 24 Dec.") == 0, "substitution");
	free(s);
	s = render("{ {x} } {single} }", "Ann", GW_TPL_PLAIN);
	tap_ok(s != NULL && strcmp(s, "{ {x} } {single} }") == 0, "single braces are literal");
	free(s);
	s = render("", "Ann", GW_TPL_PLAIN);
	tap_ok(s != NULL && strcmp(s, "") == 0, "empty template renders empty");
	free(s);
	s = render("{{name}}{{name}}", NULL, GW_TPL_PLAIN);
	tap_ok(s != NULL && strcmp(s, "") == 0, "NULL name renders as empty");
	free(s);
	tap_ok(compile("Hi {{name}}", &t, err, sizeof(err)) == MQS_OK && gw_template_uses_name(t),
	       "uses_name 1");
	gw_template_free(t);
	t = NULL;
	tap_ok(compile("Hi {{vars.offer}}", &t, err, sizeof(err)) == MQS_OK &&
	           !gw_template_uses_name(t),
	       "uses_name 0");
	gw_template_free(t);
	gw_template_free(NULL);
	tap_ok(gw_template_compile("text", "{{vars.offer}}", 14, NULL, &t, err, sizeof(err)) ==
	           MQS_ERR_PARSE,
	       "no vars: a variable is unknown");
	/* the template keeps its own copy of the values */
	{
		char key[] = "k", val[] = "value";
		struct gw_tpl_vars v = {.n = 1, .key = {key}, .value = {val}};
		char *out = NULL;

		t = NULL;
		tap_ok(gw_template_compile("text", "<{{vars.k}}>", 12, &v, &t, err, sizeof(err)) ==
		           MQS_OK,
		       "compile with a local variable");
		memset(val, 'x', sizeof(val) - 1);
		tap_ok(gw_template_render(t, "n", GW_TPL_PLAIN, &out, NULL) == MQS_OK &&
		           strcmp(out, "<value>") == 0,
		       "values copied at compile time");
		free(out);
		gw_template_free(t);
	}
}

static void test_refusals(void)
{
	char big[GW_TPL_PARTS_MAX * 10 + 16];
	size_t n = 0;
	struct gw_template *t = NULL;
	char err[256];

	refused("Hello {{name", MQS_ERR_PARSE, "unbalanced {{ at byte 6", "unclosed {{");
	refused("Hello name}} x", MQS_ERR_PARSE, "unbalanced }} at byte 10", "stray }}");
	refused("a {{vars.ofer}} b", MQS_ERR_PARSE, "unknown placeholder {{vars.ofer}} at byte 2",
	        "unknown variable");
	refused("{{email}}", MQS_ERR_PARSE, "unknown placeholder {{email}} at byte 0",
	        "unknown field");
	refused("{{vars.}}", MQS_ERR_PARSE, "unknown placeholder", "vars. without a key");
	refused("{{Name}}", MQS_ERR_PARSE, "unknown placeholder", "case matters");
	refused("x {{ }} y", MQS_ERR_PARSE, "empty placeholder at byte 2", "empty braces");
	refused("x {{}} y", MQS_ERR_PARSE, "empty placeholder at byte 2", "empty braces, no space");
	refused("{{a {{name}} }}", MQS_ERR_PARSE, "nested braces at byte 4", "nested braces");
	refused("{{{name}}}", MQS_ERR_PARSE, "unknown placeholder", "triple braces");
	refused("{{name}}}}", MQS_ERR_PARSE, "unbalanced }} at byte 8", "extra }}");
	refused("ok \xc3\x28 bad", MQS_ERR_PARSE, "invalid utf-8 at byte 3", "invalid UTF-8");
	refused("ok \xed\xa0\x80", MQS_ERR_PARSE, "invalid utf-8 at byte 3", "surrogate");
	refused("x \x1b\x5b{{vars.\x01}}", MQS_ERR_PARSE, "{{vars.?}}",
	        "control characters masked in the reason");
	tap_ok(gw_template_compile("subject", "a\0b", 3, &test_vars, &t, err, sizeof(err)) ==
	               MQS_ERR_PARSE &&
	           strstr(err, "subject: invalid utf-8 at byte 1") != NULL,
	       "NUL refused, field named (%s)", err);
	/* parts cap: 1025 placeholders */
	for (size_t i = 0; i <= GW_TPL_PARTS_MAX; i++) {
		memcpy(big + n, "{{name}}", 8);
		n += 8;
	}
	tap_ok(gw_template_compile("text", big, n, &test_vars, &t, err, sizeof(err)) ==
	               MQS_ERR_TOOBIG &&
	           t == NULL,
	       "more than %d parts refused (%s)", GW_TPL_PARTS_MAX, err);
	tap_ok(gw_template_compile("text", big, 8 * GW_TPL_PARTS_MAX, &test_vars, &t, err,
	                           sizeof(err)) == MQS_OK,
	       "exactly %d parts accepted", GW_TPL_PARTS_MAX);
	gw_template_free(t);
	t = NULL;
	{
		char *huge = malloc(GW_TPL_OUTPUT_MAX + 2);

		memset(huge, 'a', GW_TPL_OUTPUT_MAX + 1);
		tap_ok(gw_template_compile("html", huge, GW_TPL_OUTPUT_MAX + 1, &test_vars, &t, err,
		                           sizeof(err)) == MQS_ERR_TOOBIG,
		       "source above the output cap refused");
		free(huge);
	}
}

static void test_html(void)
{
	char *s, *d = NULL;
	size_t dl = 0;

	s = render("<p>{{name}}: {{vars.html}}</p>", "Tom & \"Jerry\" <x> 'y'", GW_TPL_HTML);
	tap_ok(s != NULL &&
	           strcmp(s, "<p>Tom &amp; &quot;Jerry&quot; &lt;x&gt; &#39;y&#39;: "
	                     "&lt;b&gt;&quot;A&amp;B&quot; &#39;q&#39;&lt;/b&gt;</p>") == 0,
	       "values escaped, markup kept: %s", s != NULL ? s : "(null)");
	free(s);
	s = render("<p>{{name}}</p>", "<b>", GW_TPL_PLAIN);
	tap_ok(s != NULL && strcmp(s, "<p><b></p>") == 0, "plain does not escape");
	free(s);
	tap_ok(gw_template_html_escape_append(&d, &dl, "a&b", 3) == MQS_OK && dl == 7 &&
	           strcmp(d, "a&amp;b") == 0,
	       "escape_append from NULL");
	tap_ok(gw_template_html_escape_append(&d, &dl, "\"'<>", 4) == MQS_OK &&
	           strcmp(d, "a&amp;b&quot;&#39;&lt;&gt;") == 0 && dl == strlen(d),
	       "escape_append appends");
	tap_ok(gw_template_html_escape_append(&d, &dl, "", 0) == MQS_OK && dl == strlen(d),
	       "escape_append of nothing");
	free(d);
}

/* Count UTF-16 code units of s. */
static size_t nunits(const char *s)
{
	size_t c = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			c += (unsigned char)*s >= 0xF0 ? 2 : 1;
	return c;
}

/* Count UTF-8 characters of s. */
static size_t nchars(const char *s)
{
	size_t c = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			c++;
	return c;
}

static void test_worst(void)
{
	/* names of the "group": the worst case must equal the largest
	 * rendering when the longest name is also the worst-shaped */
	static const char *const names[] = {
	    "Ann", "\xc3\xa9lodie", "\"\"\"\"\"\"\"\"\"\"", "\xf0\x9f\x94\xa5\xf0\x9f\x94\xa5",
	    "",    "a&b<c>d'e\""};
	static const char *const srcs[] = {"Hi {{name}}!", "{{name}}{{ name }} {{vars.html}}",
	                                   "\xe2\x82\xac {{vars.offer}} {{vars.until}}", ""};
	int all_ok = 1, all_exact = 1;

	for (size_t si = 0; si < sizeof(srcs) / sizeof(srcs[0]); si++) {
		struct gw_template *t = NULL;
		char err[256];

		if (compile(srcs[si], &t, err, sizeof(err)) != MQS_OK) {
			all_ok = 0;
			continue;
		}
		for (int esc = GW_TPL_PLAIN; esc <= GW_TPL_HTML; esc++) {
			size_t max_b = 0, max_c = 0, max_u = 0, nb = 0, nc = 0, wb, wc, wu;

			for (size_t ni = 0; ni < sizeof(names) / sizeof(names[0]); ni++) {
				char *out = NULL;
				size_t len = 0;

				if (strlen(names[ni]) > nb)
					nb = strlen(names[ni]);
				if (nchars(names[ni]) > nc)
					nc = nchars(names[ni]);
				if (gw_template_render(t, names[ni], esc, &out, &len) != MQS_OK) {
					all_ok = 0;
					continue;
				}
				/* each single name: its own worst case bounds it */
				gw_template_worst(t, strlen(names[ni]), nchars(names[ni]), esc, &wb,
				                  &wc);
				wu = gw_template_worst_utf16(t, strlen(names[ni]),
				                             nchars(names[ni]), esc);
				if (len != strlen(out) || len > wb || nchars(out) > wc ||
				    nunits(out) > wu)
					all_ok = 0;
				if (nunits(out) > max_u)
					max_u = nunits(out);
				if (len > max_b)
					max_b = len;
				if (nchars(out) > max_c)
					max_c = nchars(out);
				free(out);
			}
			/* the 10 quotes are both the longest and the worst-shaped
			 * name: the bound is reached exactly */
			gw_template_worst(t, nb, nc, esc, &wb, &wc);
			wu = gw_template_worst_utf16(t, nb, nc, esc);
			if (wb != max_b || wc != max_c || wu != max_u) {
				all_exact = 0;
				tap_diag("src %zu esc %d: worst %zu/%zu, max %zu/%zu", si, esc, wb,
				         wc, max_b, max_c);
			}
		}
		gw_template_free(t);
	}
	tap_ok(all_ok, "every rendering within its worst case");
	tap_ok(all_exact, "worst case == largest rendering over the names");
	{
		struct gw_template *t = NULL;
		char err[256];
		size_t wb = 0, wc = 0;

		tap_ok(compile("{{name}}", &t, err, sizeof(err)) == MQS_OK, "compile {{name}}");
		gw_template_worst(t, 8, 2, GW_TPL_HTML, &wb, &wc);
		tap_ok(wb == 12 && wc == 12, "html worst of 8 bytes / 2 chars is 12 (two quotes)");
		gw_template_worst(t, 8, 2, GW_TPL_PLAIN, &wb, &wc);
		tap_ok(wb == 8 && wc == 2, "plain worst is the name's size");
		tap_ok(gw_template_worst_utf16(t, 8, 2, GW_TPL_PLAIN) == 4,
		       "utf-16 worst of 8 bytes / 2 chars is 4 (two emoji)");
		tap_ok(gw_template_worst_utf16(t, 9, 3, GW_TPL_PLAIN) == 5,
		       "utf-16 worst of 9 bytes / 3 chars is 5 (two emoji and a letter)");
		gw_template_worst(t, (size_t)-1, (size_t)-1, GW_TPL_HTML, &wb, &wc);
		tap_ok(wb == (size_t)-1 && wc == (size_t)-1, "worst saturates instead of wrapping");
		gw_template_free(t);
	}
}

static void test_huge(void)
{
	/* 1000 x {{vars.big}} with a 1 KiB value: 1 MB, above the output cap */
	char *val = malloc(GW_VAR_VALUE_MAX + 1), *src = malloc(1000 * 12 + 1), *out = NULL;
	struct gw_tpl_vars v = {.n = 1, .key = {"big"}, .value = {val}};
	struct gw_template *t = NULL;
	char err[256];
	size_t wb = 0, wc = 0, n = 0;

	memset(val, 'x', GW_VAR_VALUE_MAX);
	val[GW_VAR_VALUE_MAX] = '\0';
	for (int i = 0; i < 1000; i++) {
		memcpy(src + n, "{{vars.big}}", 12);
		n += 12;
	}
	tap_ok(gw_template_compile("text", src, n, &v, &t, err, sizeof(err)) == MQS_OK,
	       "1000 x 1 KiB variable compiles (%zu bytes of source)", n);
	gw_template_worst(t, 0, 0, GW_TPL_PLAIN, &wb, &wc);
	tap_ok(wb == 1000u * GW_VAR_VALUE_MAX && wc == wb, "its worst case is known: %zu bytes",
	       wb);
	tap_ok(gw_template_render(t, "", GW_TPL_PLAIN, &out, NULL) == MQS_ERR_TOOBIG && out == NULL,
	       "render refuses beyond GW_TPL_OUTPUT_MAX");
	gw_template_free(t);
	free(val);
	free(src);
}

int main(void)
{
	test_placeholders();
	test_refusals();
	test_html();
	test_worst();
	test_huge();
	return tap_exit();
}
