/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_assets.c - the console's static assets, embedded in the binary and
 * served from this fixed table only (docs/console.md "Security"): no
 * filesystem path is ever built from a URL. */
#include "config.h"

#include <string.h>

#include "cs_int.h"

static const char css[] =
    ":root{--fg:#1b1f24;--muted:#57606a;--bg:#f6f8fa;--card:#fff;--accent:#0b5cad;"
    "--err:#b42318;--ok:#1a7f37;--line:#d0d7de}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
    "color:var(--fg);background:var(--bg)}\n"
    "header{display:flex;flex-wrap:wrap;align-items:center;gap:1rem;padding:.6rem 1.2rem;"
    "background:#0d1117;color:#fff}\n"
    "header .brand{font-weight:600;letter-spacing:.02em}\n"
    "header nav{display:flex;flex-wrap:wrap;gap:.2rem;flex:1}\n"
    "header nav a{color:#c9d1d9;text-decoration:none;padding:.25rem .6rem;border-radius:4px}\n"
    "header nav a:hover,header nav a.cur{background:#30363d;color:#fff}\n"
    "header .signout{display:flex;gap:.5rem;align-items:center;margin:0}\n"
    "header .who{color:#c9d1d9}\n"
    "main{max-width:72rem;margin:1.2rem auto;padding:0 1.2rem}\n"
    "h1{font-size:1.45rem;margin:.4rem 0 1rem}\n"
    "h2{font-size:1.15rem;margin:1.4rem 0 .6rem}\n"
    "table{border-collapse:collapse;width:100%;background:var(--card);"
    "border:1px solid var(--line)}\n"
    "th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid var(--line);"
    "vertical-align:top}\n"
    "th{background:#eaeef2;font-weight:600}\n"
    "form.inline{display:inline;margin:0}\n"
    "fieldset{border:1px solid var(--line);background:var(--card);padding:1rem;"
    "border-radius:6px;margin:0 0 1rem}\n"
    "label{display:block;margin:.4rem 0 .15rem;color:var(--muted)}\n"
    "input,select,textarea{font:inherit;padding:.35rem .5rem;border:1px solid var(--line);"
    "border-radius:4px;max-width:100%}\n"
    "button{font:inherit;padding:.35rem .8rem;border:1px solid var(--accent);"
    "background:var(--accent);color:#fff;border-radius:4px;cursor:pointer}\n"
    "button.danger{background:var(--err);border-color:var(--err)}\n"
    "button.plain{background:#fff;color:var(--accent)}\n"
    ".flash{padding:.6rem .8rem;border-radius:4px;border:1px solid}\n"
    ".flash.ok{color:var(--ok);border-color:var(--ok);background:#dafbe1}\n"
    ".flash.err{color:var(--err);border-color:var(--err);background:#ffebe9}\n"
    ".signin{max-width:24rem;margin:3rem auto}\n"
    ".signin input{width:100%}\n"
    ".signin button{margin-top:1rem;width:100%}\n"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:1rem}\n"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:1rem}\n"
    ".card .n{font-size:1.6rem;font-weight:600}\n"
    ".muted{color:var(--muted)}\n"
    ".mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}\n"
    "svg.qr{background:#fff;max-width:100%;height:auto}\n"
    ".pager{margin:.8rem 0;display:flex;gap:.8rem;align-items:center}\n";

static const struct cs_asset assets[] = {
    {"/assets/console.css", "text/css; charset=utf-8", css},
};

/* Look an asset up by exact path. */
const struct cs_asset *cs_asset_find(const char *path)
{
	const struct cs_asset *a = NULL;

	if (path == NULL)
		goto out;
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
		if (strcmp(path, assets[i].path) == 0) {
			a = &assets[i];
			break;
		}
	}
out:
	return a;
}
