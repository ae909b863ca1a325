/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_template.h - campaign templates (docs/marketing.md, "Templates").
 *
 * A template is UTF-8 text with placeholders "{{name}}" (the recipient's
 * name) and "{{vars.KEY}}" (a campaign variable); spaces are allowed
 * inside the braces ("{{ name }}").  Everything else is literal, single
 * braces included.  Refused at compile time, with the byte offset in the
 * reason: a "{{" without its "}}", a "}}" without its "{{", an unknown
 * placeholder ("{{vars.x}}" with no variable x, "{{email}}", nested or
 * empty braces), invalid UTF-8, more than GW_TPL_PARTS_MAX parts.
 *
 * Rendering substitutes values as they are (GW_TPL_PLAIN) or HTML-escaped
 * (GW_TPL_HTML: & < > " ' become entities; only values are escaped, the
 * author's own markup stays).  The worst-case length of a rendering is
 * known before any recipient is seen (gw_template_worst), so length
 * limits are checked at submission and a render can never exceed the cap
 * it was checked against.
 *
 * Pure module: no store, no I/O, no global state.
 *
 * Ownership: gw_template_compile() returns a template that owns copies of
 * its literal parts and of the variable values it uses (vars may be freed
 * after the call); free it with gw_template_free() (NULL ok).  Rendered
 * text is malloc'd, NUL-terminated, owned by the caller (free()).
 */
#ifndef GW_TEMPLATE_H
#define GW_TEMPLATE_H

#include <stddef.h>

#include "mqs_error.h"

#define GW_TPL_PARTS_MAX  1024           /* literal runs + placeholders of one template */
#define GW_VARS_MAX       32             /* variables of one campaign */
#define GW_VAR_KEY_MAX    32             /* [a-z0-9_], 1..32 */
#define GW_VAR_VALUE_MAX  1024           /* bytes; no control characters */
#define GW_TPL_OUTPUT_MAX (512u * 1024u) /* any rendering, at most */

enum gw_tpl_escape { GW_TPL_PLAIN = 0, GW_TPL_HTML };

/* A campaign's variables (borrowed strings). */
struct gw_tpl_vars {
	size_t n;
	const char *key[GW_VARS_MAX];
	const char *value[GW_VARS_MAX];
};

struct gw_template;

/* Compile src (len bytes; need not be NUL-terminated) against vars.
 * Returns MQS_OK with *out set, MQS_ERR_PARSE with a lowercase reason in
 * err ("text: unknown placeholder {{vars.ofer}} at byte 12"; what names
 * the field for the reason), MQS_ERR_TOOBIG or MQS_ERR_NOMEM. */
MQS_MUST_CHECK int gw_template_compile(const char *what, const char *src, size_t len,
                                       const struct gw_tpl_vars *vars, struct gw_template **out,
                                       char *err, size_t errlen);

/* Free.  NULL is fine. */
void gw_template_free(struct gw_template *t);

/* The longest rendering (bytes and Unicode characters) when {{name}} is
 * at most name_bytes bytes and name_chars characters long, with escaping
 * esc (an escaped value may grow up to six times: "&quot;"). */
void gw_template_worst(const struct gw_template *t, size_t name_bytes, size_t name_chars,
                       enum gw_tpl_escape esc, size_t *bytes, size_t *chars);

/* The longest rendering in UTF-16 code units (how Twilio counts an SMS,
 * docs/channels.md): like gw_template_worst, a character above U+FFFF
 * counting twice.  Added by part campaign. */
size_t gw_template_worst_utf16(const struct gw_template *t, size_t name_bytes, size_t name_chars,
                               enum gw_tpl_escape esc);

/* 1 when t uses {{name}}, else 0. */
int gw_template_uses_name(const struct gw_template *t);

/* Render t for a recipient called name with escaping esc into *out
 * (malloc'd, NUL-terminated; *len its length without the NUL, may be
 * NULL).  Returns MQS_OK, MQS_ERR_TOOBIG (more than GW_TPL_OUTPUT_MAX) or
 * MQS_ERR_NOMEM; *out is NULL on failure. */
MQS_MUST_CHECK int gw_template_render(const struct gw_template *t, const char *name,
                                      enum gw_tpl_escape esc, char **out, size_t *len);

/* Append s (n bytes) HTML-escaped to *dst (a malloc'd NUL-terminated
 * string, *dst_len bytes; *dst may be NULL).  The footer of marketing
 * emails uses it for the unsubscribe link.  Returns MQS_OK, MQS_ERR_TOOBIG
 * or MQS_ERR_NOMEM (then *dst is unchanged). */
MQS_MUST_CHECK int gw_template_html_escape_append(char **dst, size_t *dst_len, const char *s,
                                                  size_t n);

#endif
