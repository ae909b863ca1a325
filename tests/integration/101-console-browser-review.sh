#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 101-console-browser-review.sh - two reviewers of two levels approve a
# campaign level by level in a real browser (headless Chromium driven by
# Selenium, tests/integration/browser.py), each with its person's one-time
# code, and the emails arrive at the SMTP sink via the running gateway
# (docs/console.md, "Gateway pages").  The campaign page shows the HTML part
# only in an <iframe sandbox>; the outbox page lists the deliveries.
# Skipped (77) without chromium, chromium-driver or python3-selenium.
# MQTTSEC_DOCS_SCREENSHOTS=DIR saves the campaign review and outbox pages
# for docs/console.md (docs/console).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"
need_file "$CONSOLE_BIN"
need_cmd curl openssl oathtool
[ -x /usr/bin/python3 ] || skip_all "/usr/bin/python3 not installed"
/usr/bin/python3 -c 'import selenium' 2>/dev/null || skip_all "python3-selenium not installed (scripts/deps.sh)"
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || skip_all "chromium not installed (scripts/deps.sh)"
command -v chromedriver >/dev/null 2>&1 || [ -x /usr/bin/chromedriver ] || skip_all "chromium-driver not installed (scripts/deps.sh)"

## a gateway with a marketing route and an SMTP sink
start_mosquitto "allow_anonymous true" || bail_out "no broker"
gw_status_key
gw_marketing_key
smtp_start || bail_out "no smtp recorder"
gw_config "[channel email]
url = smtp://127.0.0.1:$SMTP_PORT
from = shop@example.com

[marketing]
quiet_hours = 00:00-00:00

[http]
listen = 127.0.0.1:0
public_url = http://127.0.0.1:9

[route promo]
topic = marketing/submit
kind = marketing
review_levels = editors, managers"
gw group add customers >/dev/null
gw recipient add ann --email ann@example.com --group customers >/dev/null
gw recipient add ben --email ben@example.com --group customers >/dev/null
gw recipient consent ann email on >/dev/null
gw recipient consent ben email on >/dev/null
secret_of() { sed -n 3p; }
S_ED=$(gw reviewer add console:ed --level editors --person ed | secret_of)
S_MGR=$(gw reviewer add console:mgr --level managers --person mgr | secret_of)
S_AUTH=$(gw author add console:carol --person carol | secret_of)
ok "persons' secrets" test -n "$S_ED" -a -n "$S_MGR" -a -n "$S_AUTH"
cat >"$TEST_TMP/c.json" <<'EOF'
{"id": "c-browser", "group": "customers", "channels": ["email"],
 "subject": "Winter sale", "text": "Hello {{name}}, 20% off",
 "html": "<p>Hello <b>{{name}}</b>, 20% off</p><script>document.title='pwned'</script>"}
EOF
SHA=$(sha256sum "$TEST_TMP/c.json" | cut -d' ' -f1)
ok "campaign submitted" gw campaign submit "$TEST_TMP/c.json" --author console:carol --route promo \
	--code "$(oathtool --totp -b "$S_AUTH")"
gw_start || bail_out "gateway did not start"

## the console over TLS
console_tls
console_setup "[gateway]" "conf = $GW_CONF"
console_user_add ed reviewer editors || bail_out "user ed"
console_user_add mgr reviewer managers || bail_out "user mgr"
console_user_add op operator || bail_out "user op"
console_start || bail_out "console did not start"
export TEST_TMP
cd "$TEST_TMP" || bail_out "no temp dir"
/usr/bin/python3 - "$top_srcdir" "$CONSOLE_URL" "$SHA" \
	"ed:$(console_password ed):${CONSOLE_SECRET[ed]}:$S_ED" \
	"mgr:$(console_password mgr):${CONSOLE_SECRET[mgr]}:$S_MGR" \
	"op:$(console_password op):${CONSOLE_SECRET[op]}:" >"$TEST_TMP/browser.tap" 2>&1 <<'PY'
import sys
sys.path.insert(0, sys.argv[1] + "/tests/integration")
import browser
from selenium.webdriver.common.by import By

url, sha = sys.argv[2:4]
users = {}
for spec in sys.argv[4:]:
    name, pw, secret, person = spec.split(":")
    users[name] = (pw, secret, person)
t = browser.Tap("console-browser-review")
d = t.start()


def approve(name, level, shot):
    pw, secret, person = users[name]
    t.ok(browser.signin(d, url, name, pw, secret), "%s signs in" % name)
    d.get(url + "/campaigns")
    links = browser.wait_for(d, lambda d: d.find_elements(By.LINK_TEXT, "c-browser"))
    t.ok(bool(links), "%s: c-browser is in the %s queue" % (name, level))
    if not links:
        return
    links[0].click()
    t.ok(bool(browser.wait_for(d, lambda d: d.find_elements(By.ID, "sha256"))),
         "%s: the campaign page" % name)
    shown = d.find_elements(By.ID, "sha256")
    t.ok(bool(shown) and shown[0].text == sha, "%s: the SHA-256 being approved" % name)
    frames = d.find_elements(By.CSS_SELECTOR, "iframe")
    t.ok(len(frames) == 1 and len(d.find_elements(By.CSS_SELECTOR, 'iframe[sandbox=""]')) == 1,
         "%s: the HTML part in an iframe sandbox (no allowances)" % name)
    t.ok(d.title != "pwned", "%s: the campaign's script did not run" % name)
    t.ok("Hello Sample-recipient-with" in d.page_source and
         "Hello ann" not in d.page_source and "Hello ben" not in d.page_source,
         "%s: rendered for the synthetic sample, no member's name" % name)
    if shot:
        d.set_window_size(1280, 2400)
        t.shot("campaign-review")
        d.set_window_size(1280, 900)
    form = d.find_element(By.ID, "approve-form")
    form.find_element(By.NAME, "code").send_keys(browser.fresh_code("person:" + name, person))
    form.find_element(By.NAME, "approve").click()
    t.ok(bool(browser.wait_for(d, lambda d: "level approved" in d.page_source)),
         "%s approves level %s" % (name, level))
    t.ok(browser.signout(d), "%s signs out" % name)


approve("ed", "editors", True)
approve("mgr", "managers", False)
pw, secret, _ = users["op"]
t.ok(browser.signin(d, url, "op", pw, secret), "op signs in")
d.get(url + "/campaigns?state=done")
ok = browser.wait_for(d, lambda d: (d.refresh() or True) and
                      d.find_elements(By.LINK_TEXT, "c-browser"), timeout=60)
t.ok(bool(ok), "the campaign is done")
d.get(url + "/outbox?channel=email")
t.ok(d.page_source.count(">sent<") >= 2, "the outbox shows the two emails sent")
t.shot("outbox")
t.done()
PY
rc=$?
sed 's/^/# browser: /' "$TEST_TMP/browser.tap"
[ "$rc" = 77 ] && skip_all "$(sed -n 's/^1\.\.0 # SKIP //p' "$TEST_TMP/browser.tap")"
is "$rc" 0 "the browser steps passed (screenshots of failures in browser-failures/)"
_two_mails() { [ "$(wc -l <"$SMTP_LOG" 2>/dev/null)" -ge 2 ]; }
ok "the two emails arrived at the SMTP sink" wait_for 60 _two_mails
ok "to ann and ben" eval 'grep -q ann@example.com "$SMTP_LOG" && grep -q ben@example.com "$SMTP_LOG"'
done_testing
