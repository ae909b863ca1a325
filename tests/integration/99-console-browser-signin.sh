#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 99-console-browser-signin.sh - a real browser (headless Chromium driven by
# Selenium, tests/integration/browser.py) signs in to the console over TLS
# with name, password and TOTP and sees the dashboard; a wrong code shows
# the generic error; sign-out.  Skipped (77) without chromium,
# chromium-driver or python3-selenium.  MQTTSEC_DOCS_SCREENSHOTS=DIR saves
# the screenshots for docs/console.md (docs/console).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$CONSOLE_BIN"
need_cmd curl openssl
[ -x /usr/bin/python3 ] || skip_all "/usr/bin/python3 not installed"
/usr/bin/python3 -c 'import selenium' 2>/dev/null || skip_all "python3-selenium not installed (scripts/deps.sh)"
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || skip_all "chromium not installed (scripts/deps.sh)"
command -v chromedriver >/dev/null 2>&1 || [ -x /usr/bin/chromedriver ] || skip_all "chromium-driver not installed (scripts/deps.sh)"

console_tls
console_setup
console_user_add alice admin || bail_out "cannot add a console user"
console_user_add "evil" operator || bail_out "cannot add a console user"
console_start || bail_out "console did not start"
export TEST_TMP
cd "$TEST_TMP" || bail_out "no temp dir"
/usr/bin/python3 - "$top_srcdir" "$CONSOLE_URL" "$(console_password alice)" "${CONSOLE_SECRET[alice]}" <<'PY'
import sys
sys.path.insert(0, sys.argv[1] + "/tests/integration")
import browser
from selenium.webdriver.common.by import By

url, password, secret = sys.argv[2:5]
t = browser.Tap("99-console-browser-signin")
d = t.start()
d.get(url + "/")
t.ok(browser.wait_for(d, lambda d: d.find_elements(By.ID, "signin")) is not None,
     "an anonymous visit lands on the sign-in form")
t.shot("signin")
t.ok(not browser.signin(d, url, "alice", password, secret, code="000000"),
     "a wrong code is refused")
err = d.find_elements(By.ID, "signin-error")
t.ok(bool(err) and "sign-in failed" in err[0].text, "with the generic message")
t.ok(browser.signin(d, url, "alice", password, secret), "alice signs in with password and TOTP")
t.ok(d.title.startswith("Dashboard"), "the dashboard is shown")
who = d.find_elements(By.ID, "whoami")
t.ok(bool(who) and "alice" in who[0].text, "it names alice")
t.shot("dashboard")
cookies = {c["name"]: c for c in d.get_cookies()}
s = cookies.get("__Host-mqs_session")
t.ok(s is not None and s.get("httpOnly") and s.get("secure") and s.get("sameSite") == "Strict",
     "session cookie: HttpOnly, Secure, SameSite=Strict")
d.get(url + "/users")
t.ok(bool(browser.wait_for(d, lambda d: d.find_elements(By.ID, "users"))), "console users page")
t.shot("users")
t.ok(browser.signout(d), "sign-out returns to the sign-in form")
d.get(url + "/")
t.ok(bool(browser.wait_for(d, lambda d: d.find_elements(By.ID, "signin"))),
     "after sign-out the dashboard needs a sign-in again")
t.done()
PY
