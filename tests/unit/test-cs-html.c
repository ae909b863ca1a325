/* SPDX-License-Identifier: BSD-3-Clause */
/* test-cs-html.c - escaping of everything a page shows (docs/console.md
 * "Security"): <script> and "><img onerror> payloads render inert. */
#include "config.h"

#include <string.h>

#include "cs_int.h"
#include "tap.h"

static const char *body(struct cs_resp *r)
{
	return mqs_buf_str(&r->body);
}

int main(void)
{
	struct cs_resp r;

	cs_resp_init(&r);
	cs_out_text(&r, "<script>alert(1)</script>");
	tap_ok(strcmp(body(&r), "&lt;script&gt;alert(1)&lt;/script&gt;") == 0,
	       "<script> escaped in text");
	cs_resp_release(&r);

	cs_resp_init(&r);
	cs_out_raw(&r, "<input value=\"");
	cs_out_attr(&r, "\"><img src=x onerror=alert(1)>");
	cs_out_raw(&r, "\">");
	tap_ok(strcmp(body(&r), "<input value=\"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\">") ==
	           0,
	       "\"><img onerror> cannot leave the attribute");
	tap_ok(strchr(body(&r) + 14, '<') == NULL, "no tag after the attribute opened");
	cs_resp_release(&r);

	cs_resp_init(&r);
	cs_out_attr(&r, "' onmouseover='x");
	tap_ok(strcmp(body(&r), "&#39; onmouseover=&#39;x") == 0, "single quotes escaped");
	cs_resp_release(&r);

	cs_resp_init(&r);
	cs_out_text(&r, "a & b &amp;");
	tap_ok(strcmp(body(&r), "a &amp; b &amp;amp;") == 0, "ampersands escaped");
	cs_resp_release(&r);

	cs_resp_init(&r);
	cs_out_fmt(&r, "<td>%s</td><td>%d</td><td>%lld</td><td>%zu</td><td>%c</td>",
	           "<script>x</script>", -5, 1234567890123LL, (size_t)7, '<');
	tap_ok(strcmp(body(&r), "<td>&lt;script&gt;x&lt;/script&gt;</td><td>-5</td>"
	                        "<td>1234567890123</td><td>7</td><td>&lt;</td>") == 0,
	       "cs_out_fmt escapes %%s and %%c, formats numbers");
	cs_resp_release(&r);

	cs_resp_init(&r);
	cs_out_fmt(&r, "100%% %s", "\"><img src=x onerror=alert(1)>");
	tap_ok(strcmp(body(&r), "100% &quot;&gt;&lt;img src=x onerror=alert(1)&gt;") == 0,
	       "%%%% and an attribute payload");
	cs_resp_release(&r);

	cs_resp_init(&r);
	r.user = "\"><img src=x onerror=alert(1)>";
	r.nav_role = CS_ROLE_OPERATOR;
	snprintf(r.flash, sizeof(r.flash), "<script>alert(2)</script>");
	r.csrf = "tok\"en";
	cs_out_csrf(&r, NULL);
	tap_ok(strstr(body(&r), "value=\"tok&quot;en\"") != NULL, "CSRF value escaped");
	cs_resp_release(&r);

	cs_resp_init(&r);
	tap_is_int(cs_resp_redirect(&r, "//evil.example/", "x", 1), 303, "redirect: 303");
	tap_ok(strcmp(r.location, "/") == 0, "a redirect off the console becomes /");
	tap_is_int(cs_resp_redirect(&r, "/users", "<b>", 0), 303, "redirect");
	tap_ok(strcmp(r.location, "/users") == 0 && strcmp(r.flash, "<b>") == 0 && !r.flash_ok,
	       "location and flash kept (escaped when shown)");
	cs_resp_release(&r);

	cs_resp_init(&r);
	tap_is_int(cs_resp_download(&r, "application/json", "../../etc/passwd\r\nX: y", "{}", 2),
	           200, "download");
	tap_ok(r.disposition != NULL && strchr(r.disposition, '/') == NULL &&
	           strchr(r.disposition, '\r') == NULL && strchr(r.disposition, '\n') == NULL &&
	           strncmp(r.disposition, "attachment; filename=\"_", 23) == 0 &&
	           strchr(r.disposition + 22, '"') == r.disposition + strlen(r.disposition) - 1,
	       "download file name sanitised");
	tap_is_int(cs_resp_body(&r, "text/plain\r\nX-Evil: 1", "x", 1), 500,
	           "a header injection in the type refused");
	cs_resp_release(&r);

	tap_ok(cs_asset_find("/assets/console.css") != NULL, "the stylesheet is embedded");
	tap_ok(cs_asset_find("/assets/../console.db") == NULL, "traversal: not an asset");
	tap_ok(cs_asset_find("/assets/console.css/") == NULL, "exact paths only");
	tap_ok(cs_asset_find("/assets/%2e%2e/x") == NULL, "encoded traversal: not an asset");
	tap_done();
	return tap_exit();
}
