#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 83-console-browser-devices.sh - the console's broker pages in a real
# browser (headless Chromium driven by Selenium, tests/integration/browser.py)
# against a running broker (mosquitto with the plugin): an admin adds a
# device, downloads its credentials and the device connects with them
# (mqttsec-device); a rule added on the ACL page lets it subscribe; a deny
# entry added on the lists page kicks it; with the step-up gone stale, adding
# a device asks for the password and a new code first; an operator is
# refused the ACL page; an XSS payload typed as a device name renders as
# text.  Skipped (77)
# without chromium, chromium-driver or python3-selenium.
# MQTTSEC_DOCS_SCREENSHOTS=DIR saves the devices, lists and ACL pages for
# docs/console.md (docs/console).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh"
need_file "$CONSOLE_BIN" "$DEVICE_BIN"
[ -x /usr/bin/python3 ] || skip_all "/usr/bin/python3 not installed"
/usr/bin/python3 -c 'import selenium' 2>/dev/null || skip_all "python3-selenium not installed (scripts/deps.sh)"
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || skip_all "chromium not installed (scripts/deps.sh)"
command -v chromedriver >/dev/null 2>&1 || [ -x /usr/bin/chromedriver ] || skip_all "chromium-driver not installed (scripts/deps.sh)"

device k1
start_plugin_broker
console_setup "[broker]" "db = $MQTTSEC_DB" "master_key_file = $MQTTSEC_MASTER_KEY_FILE"
console_user_add alice admin || bail_out "cannot add a console user"
console_user_add oscar operator || bail_out "cannot add a console user"
console_start || bail_out "console did not start"
export TEST_TMP MOSQ_PORT MOSQ_LOG DEVICE_BIN
cd "$TEST_TMP" || bail_out "no temp dir"
/usr/bin/python3 - "$top_srcdir" "$CONSOLE_URL" "$(console_password alice)" "${CONSOLE_SECRET[alice]}" \
	"$(console_password oscar)" "${CONSOLE_SECRET[oscar]}" <<'PY'
import base64
import json
import os
import re
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, sys.argv[1] + "/tests/integration")
import browser
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

url, apw, asec, opw, osec = sys.argv[2:7]
tmp = os.environ["TEST_TMP"]
port = os.environ["MOSQ_PORT"]
log = os.environ["MOSQ_LOG"]
dl = os.path.join(tmp, "downloads")
os.makedirs(dl, exist_ok=True)
XSS = '<img src=x onerror=alert(1)>'


def log_has(pattern):
    with open(log, errors="replace") as f:
        return re.search(pattern, f.read()) is not None


def until(cond, timeout=15):
    end = time.time() + browser.scaled(timeout)
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def no_alert(d):
    try:
        d.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


def post_form(d, action, values, selects=None):
    """Fill the form posting to action and submit it."""
    form = d.find_element(By.CSS_SELECTOR, 'form[action="%s"]' % action)
    for name, value in values.items():
        el = form.find_element(By.NAME, name)
        el.clear()
        el.send_keys(value)
    for name, value in (selects or {}).items():
        Select(form.find_element(By.NAME, name)).select_by_visible_text(value)
    form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()


t = browser.Tap("83-console-browser-devices")
d = t.start()
for cmd, params in (("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": dl}),
                    ("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": dl})):
    try:
        d.execute_cdp_cmd(cmd, params)
    except Exception as e:
        t.diag("%s: %s" % (cmd, str(e).splitlines()[0]))
t.ok(browser.signin(d, url, "alice", apw, asec), "alice signs in")

# add a device: the credentials once, as a download, and the QR code
d.get(url + "/devices")
t.ok(bool(browser.wait_for(d, lambda d: d.find_elements(By.ID, "devices"))), "devices page")
post_form(d, "/devices/add", {"name": "sel1"})
link = browser.wait_for(d, lambda d: d.find_elements(By.ID, "creds-download"))
t.ok(bool(link), "the new device's credentials are offered")
t.ok(bool(d.find_elements(By.ID, "qr")), "its QR code is shown")
creds = os.path.join(dl, "sel1.json")
if link:
    link[0].click()
got = until(lambda: os.path.exists(creds) and not os.path.exists(creds + ".crdownload")
            and os.path.getsize(creds) > 0, 15)
if not got and link:
    # a headless build without downloads: the link carries the file itself
    t.diag("no download arrived; taking the file from the link")
    href = link[0].get_attribute("href")
    with open(creds, "wb") as f:
        f.write(base64.b64decode(href.split(",", 1)[1]))
try:
    with open(creds) as f:
        c = json.load(f)
except Exception:
    c = {}
t.ok(c.get("username") == "sel1" and "totp" in c, "the credentials file is sel1's")
t.ok(got, "the file was downloaded by the browser")
if os.path.exists(creds):
    os.chmod(creds, 0o600)  # mqttsec-device refuses credentials others can read

# a rule on the ACL page, then the device subscribes with its file
d.get(url + "/acl")
post_form(d, "/acl/add", {"subject": "sel1", "filter": "sel/#"}, {"access": "all"})
t.ok(bool(browser.wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "p.flash.ok"))),
     "rule added on the ACL page")
t.shot("broker-acl")

sub = None


def subscribed():
    global sub
    if sub is not None and sub.poll() is None:
        return log_has(r"Sending SUBACK to \S+") and log_has(r"u'sel1'")
    sub = subprocess.Popen([os.environ["DEVICE_BIN"], "-c", creds, "subscribe", "-h", "127.0.0.1",
                            "-p", port, "-t", "sel/#"], stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(tmp, "sel1-sub.log"), "a"))
    time.sleep(1)
    return False


t.ok(until(subscribed, 30), "mqttsec-device connects and subscribes with the downloaded file")
m = None
with open(log, errors="replace") as f:
    m = re.search(r"New client connected from \S+ as (\S+) \(.*u'sel1'\)", f.read())
cid = m.group(1) if m else "?"
d.get(url + "/devices")
browser.wait_for(d, lambda d: d.find_elements(By.ID, "devices"))
t.shot("broker-devices")

# a deny entry on the lists page kicks it
d.get(url + "/lists")
post_form(d, "/lists/add", {"pattern": "sel1", "reason": "lost device"},
          {"kind": "deny", "match": "username"})
t.ok(bool(browser.wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "p.flash.ok"))),
     "deny entry added on the lists page")
t0 = time.time()
t.ok(until(lambda: log_has(re.escape("disconnecting client %s: no longer allowed" % cid)), 15),
     "the connected device is kicked")
t.diag("lists page deny -> kick: %d ms" % ((time.time() - t0) * 1000))
t.shot("broker-lists")
if sub is not None and sub.poll() is None:
    sub.kill()
    sub.wait(5)

# a step-up gone stale (as 5 minutes after sign-in): adding a device asks
# for the password and a new code first, then the form is sent again
db = sqlite3.connect(os.path.join(tmp, "console", "console.db"), timeout=30)
db.execute("UPDATE sessions SET stepup_at = stepup_at - 3600")
db.commit()
db.close()
d.get(url + "/devices")
post_form(d, "/devices/add", {"name": XSS})
t.ok(bool(browser.wait_for(d, lambda d: d.find_elements(By.ID, "stepup-needed"))),
     "a stale step-up: the step-up form instead of the action")
t.ok(browser.stepup(d, "alice", apw, asec), "alice confirms with password and a new code")
t.ok(bool(d.find_elements(By.ID, "devices")), "back on the devices page")

# an XSS payload as a device name is shown as text
post_form(d, "/devices/add", {"name": XSS})
err = browser.wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "p.flash.err"))
t.ok(bool(err) and XSS in err[0].text, "the refusal shows the payload as text")
t.ok(no_alert(d) and not d.find_elements(By.CSS_SELECTOR, 'main img[src="x"]'),
     "no script ran, no image element was made")

# an operator is refused the ACL page
t.ok(browser.signout(d), "alice signs out")
t.ok(browser.signin(d, url, "oscar", opw, osec), "oscar (operator) signs in")
t.ok(not d.find_elements(By.CSS_SELECTOR, 'nav a[href="/acl"]'), "no ACL link for him")
d.get(url + "/acl")
t.ok(bool(browser.wait_for(d, lambda d: "403" in d.title)) and not d.find_elements(By.ID, "rules"),
     "the ACL page is refused (403)")
if sub is not None and sub.poll() is None:
    sub.kill()
t.done()
PY
