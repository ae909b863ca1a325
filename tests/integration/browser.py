#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""browser.py - the Selenium harness of the console's browser tests
(docs/console.md "Tests"), run with Debian's /usr/bin/python3.

Use from a test script (python):

    import sys; sys.path.insert(0, TOP_SRCDIR + "/tests/integration")
    import browser
    t = browser.Tap("console-browser-signin")     # exits 77 when chromium,
    d = t.start()                                 # chromedriver or selenium
    browser.signin(d, url, name, password, secret)  # are missing
    t.ok(d.title.startswith("Dashboard"), "dashboard shown")
    t.shot("dashboard")       # docs screenshot when MQTTSEC_DOCS_SCREENSHOTS=DIR
    t.done()                  # exit status: 0 all passed, 1 otherwise

Every failed check saves a screenshot (and the page source) into
$BROWSER_SHOTS_DIR (default: $TEST_TMP/shots when KEEP_TMP=1, else
./browser-failures/<test name> in the current folder) and names the file
in the TAP output.  TOTP codes are computed here (RFC 6238, SHA-1, 6
digits, 30 s); signin() never reuses a step it already used for a name.

Command line (for shell tests):
    browser.py signin URL NAME PASSWORD SECRET_B32 [SHOT_NAME]
signs in, checks the dashboard, prints TAP.
"""
import base64
import hashlib
import hmac
import os
import shutil
import struct
import sys
import time

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
# lib.sh's WAIT_SCALE: every bound below is stretched by it (at most up to
# 300 s), as lib.sh's wait_for does: a wait polls, so it costs nothing when
# the page comes, and a busy machine may take many seconds to render one.
WAIT_SCALE = float(os.environ.get("WAIT_SCALE") or 6)


def scaled(seconds):
    """seconds stretched by WAIT_SCALE, capped at max(seconds, 300)."""
    return max(seconds, min(seconds * WAIT_SCALE, max(seconds, 300)))


def skip_all(why):
    print("1..0 # SKIP " + why)
    sys.stdout.flush()
    sys.exit(77)


def need_browser():
    """Exit 77 with a reason when the browser stack is missing."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        skip_all("python3-selenium not installed (scripts/deps.sh)")
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
        skip_all("chromium not installed (scripts/deps.sh)")
    if not (os.access(CHROMEDRIVER, os.X_OK) or shutil.which("chromedriver")):
        skip_all("chromium-driver not installed (scripts/deps.sh)")


_last_step = {}


def totp(secret_b32, step):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8), casefold=True)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    n = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return "%06d" % (n % 1000000)


def fresh_code(name, secret_b32):
    """A code whose step is later than any this process used for name:
    the current step, else the next one (the server accepts +/- 1 step),
    else wait for the next step (at most 30 s)."""
    last = _last_step.get(name, -1)
    now = int(time.time()) // 30
    if now > last:
        step = now
    elif now + 1 > last:
        step = now + 1
    else:
        while int(time.time()) // 30 <= now:
            time.sleep(0.2)
        step = now + 2
    _last_step[name] = step
    return totp(secret_b32, step)


class Tap:
    def __init__(self, name):
        need_browser()
        self.name = name
        self.n = 0
        self.failed = 0
        self.driver = None
        keep = os.environ.get("KEEP_TMP") == "1" and os.environ.get("TEST_TMP")
        self.fail_dir = os.environ.get("BROWSER_SHOTS_DIR") or (
            os.path.join(os.environ["TEST_TMP"], "shots") if keep
            else os.path.join(os.getcwd(), "browser-failures", name))
        self.docs_dir = os.environ.get("MQTTSEC_DOCS_SCREENSHOTS", "")

    def start(self, width=1280, height=900):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--ignore-certificate-errors", "--window-size=%d,%d" % (width, height),
                  "--no-first-run", "--disable-extensions", "--lang=en-US"):
            opts.add_argument(a)
        try:
            self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        except Exception as e:  # a broken browser stack is a skip, not a failure
            skip_all("cannot start headless chromium: %s" % str(e).splitlines()[0])
        self.driver.set_page_load_timeout(scaled(30))
        return self.driver

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line)

    def _save_failure(self, what):
        if self.driver is None:
            return
        try:
            os.makedirs(self.fail_dir, exist_ok=True)
            base = os.path.join(self.fail_dir, "%02d-%s" % (self.n, what))
            self.driver.save_screenshot(base + ".png")
            with open(base + ".html", "w") as f:
                f.write(self.driver.page_source)
            self.diag("screenshot: %s.png (url %s)" % (base, self.driver.current_url))
        except Exception as e:
            self.diag("no screenshot: %s" % e)

    def ok(self, cond, desc):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, desc))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc))
            self._save_failure("".join(c if c.isalnum() else "-" for c in desc)[:40])
        sys.stdout.flush()
        return cond

    def shot(self, name):
        """Save a screenshot for the docs when MQTTSEC_DOCS_SCREENSHOTS names
        a folder (docs/console)."""
        if self.docs_dir and self.driver is not None:
            os.makedirs(self.docs_dir, exist_ok=True)
            path = os.path.join(self.docs_dir, name + ".png")
            self.driver.save_screenshot(path)
            self.diag("docs screenshot: " + path)

    def done(self):
        if self.driver is not None:
            try:
                self.driver.quit()
            except Exception:
                pass
        print("1..%d" % self.n)
        if self.failed:
            print("# failed %d of %d tests" % (self.failed, self.n))
        sys.exit(1 if self.failed else 0)


def wait_for(driver, cond, timeout=10):
    """Wait (bounded: timeout x WAIT_SCALE) until cond(driver) is true;
    returns its value or None."""
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(driver, scaled(timeout)).until(cond)
    except Exception:
        return None


def signin(driver, url, name, password, secret_b32, code=None):
    """Open url/signin, fill name, password and a fresh TOTP code, submit;
    returns True when the dashboard (or the page signed in) is shown."""
    from selenium.webdriver.common.by import By
    driver.get(url.rstrip("/") + "/signin")
    if not wait_for(driver, lambda d: d.find_elements(By.ID, "name")):
        return False
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "code").send_keys(code or fresh_code(name, secret_b32))
    driver.find_element(By.ID, "signin").click()
    return bool(wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "form.signout")
                         or d.find_elements(By.ID, "signin-error")) and
                driver.find_elements(By.CSS_SELECTOR, "form.signout"))


def stepup(driver, name, password, secret_b32, code=None):
    """On the step-up form (docs/console.md "Step-up"): fill the password
    and a fresh TOTP code, submit; returns True when the console confirmed
    it (back on the action's page with its message)."""
    from selenium.webdriver.common.by import By
    if not wait_for(driver, lambda d: d.find_elements(By.ID, "stepup-form")):
        return False
    form = driver.find_element(By.ID, "stepup-form")
    form.find_element(By.NAME, "password").send_keys(password)
    form.find_element(By.NAME, "code").send_keys(code or fresh_code(name, secret_b32))
    form.find_element(By.ID, "stepup").click()
    ok = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "p.flash.ok")
                  or d.find_elements(By.ID, "stepup-error"))
    return bool(ok) and "confirmed" in ok[0].text


def signout(driver):
    from selenium.webdriver.common.by import By
    driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
    return bool(wait_for(driver, lambda d: d.find_elements(By.ID, "signin")))


def main(argv):
    if len(argv) < 6 or argv[1] != "signin":
        print("usage: browser.py signin URL NAME PASSWORD SECRET_B32 [SHOT_NAME]",
              file=sys.stderr)
        return 64
    _, _, url, name, password, secret = argv[:6]
    from selenium.webdriver.common.by import By
    t = Tap("signin")
    d = t.start()
    t.ok(signin(d, url, name, password, secret), "%s signs in with password and TOTP" % name)
    t.ok(d.title.startswith("Dashboard"), "the dashboard is shown")
    who = d.find_elements(By.ID, "whoami")
    t.ok(bool(who) and name in who[0].text, "it names the user")
    if len(argv) > 6:
        t.shot(argv[6])
    t.done()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
