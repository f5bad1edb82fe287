#!/usr/bin/env python3
"""The web UI in a real headless browser: Debian's /usr/bin/chromium driven by
/usr/bin/chromedriver through Selenium (nothing downloads a browser).

tests/e2e/web.sh runs it as root inside the server node's namespace, with the Python of a
venv that holds Selenium:
    web_browser.py CONFIG.json
It logs in, sees the dashboard, the 4 nodes and the topology graph (screenshots), creates
a tunnel from the form and checks outside the browser that it reached the client node,
revokes it from its row, sees an event, logs out. Prints PASS:/FAIL: lines like web_api.py.
"""

import json
import os
import re
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from web_api import ID_RE, Api, Checks, Net, is_error, short, wait_for  # noqa: E402

WAIT = 20


def browser(workdir):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in (
        "--headless=new",
        "--no-sandbox",  # root inside a network namespace
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,800",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-proxy-server",
        f"--user-data-dir={workdir}/chromium-profile",
    ):
        opts.add_argument(a)
    opts.accept_insecure_certs = True  # mcc-web's self-signed certificate
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    svc = Service(executable_path="/usr/bin/chromedriver", log_output=f"{workdir}/chromedriver.log")
    d = webdriver.Chrome(options=opts, service=svc)
    d.set_window_size(1280, 800)
    d.set_page_load_timeout(30)
    return d


class BrowserTest:
    def __init__(self, cfg):
        self.cfg = cfg
        self.c = Checks("browser")
        self.net = Net(cfg)
        self.ids = cfg["ids"]
        self.shots = cfg["screenshots"]
        os.makedirs(self.shots, exist_ok=True)
        self.d = None

    # -- helpers

    def wait(self, cond, timeout=WAIT):
        return WebDriverWait(self.d, timeout, poll_frequency=0.2).until(cond)

    def visible(self, css, timeout=WAIT):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout)

    def try_visible(self, css, timeout=WAIT):
        try:
            return self.visible(css, timeout)
        except TimeoutException:
            return None

    def text_matches(self, css, regex, timeout=WAIT):
        """Waits until the element's text matches; returns the text or None."""
        def cond(d):
            els = d.find_elements(By.CSS_SELECTOR, css)
            return els and re.search(regex, els[0].text) and els[0].text
        try:
            return self.wait(cond, timeout)
        except TimeoutException:
            return None

    def fill(self, css, value):
        el = self.visible(css)
        el.clear()
        el.send_keys(value)

    def click(self, css):
        self.wait(EC.element_to_be_clickable((By.CSS_SELECTOR, css))).click()

    def shot(self, name):
        path = os.path.join(self.shots, name)
        self.d.save_screenshot(path)
        size = os.path.getsize(path)
        print(f"    screenshot {path}: {size} bytes")
        return size

    def console_errors(self):
        try:
            # A 401 is how the page learns it is logged out (and a wrong password's answer).
            return [e["message"] for e in self.d.get_log("browser")
                    if e.get("level") == "SEVERE" and "status of 401" not in e["message"]]
        except WebDriverException:
            return []

    # -- the flow

    def login(self):
        c = self.c
        self.d.get(self.cfg["browser_base"] + "/")
        form = self.try_visible("form#login-form")
        c.check("open /: the login form form#login-form is shown", form is not None, self.d.page_source[:300])
        c.check("logged out: no nav (a#nav-dashboard not visible)",
                not any(e.is_displayed() for e in self.d.find_elements(By.CSS_SELECTOR, "a#nav-dashboard")))
        self.fill("input#login-user", self.cfg["user"])
        self.fill("input#login-password", "not-the-password")
        self.click("button#login-submit")
        err = self.text_matches("#login-error", r"\S")
        c.check("a wrong password shows a message in #login-error and keeps the form", bool(err) and self.try_visible("form#login-form", 2) is not None, str(err))
        self.fill("input#login-user", self.cfg["user"])
        self.fill("input#login-password", self.cfg["password"])
        self.click("button#login-submit")
        who = self.text_matches("#whoami", re.escape(self.cfg["user"]))
        c.check("logged in: #whoami shows the user", bool(who), str(who))
        if not who:
            raise RuntimeError("not logged in; console: " + short(self.console_errors()))

    def dashboard(self):
        c, ids = self.c, self.ids
        self.click("a#nav-dashboard")
        self.visible("section#dashboard")
        nid = self.text_matches("#node-id", re.escape(ids["root"]))
        c.check("dashboard: #node-id is the root's ID", bool(nid), str(nid))
        peers = self.text_matches("#node-peers", r"[1-9]")
        known = self.text_matches("#node-known", r"[1-9]")
        health = self.text_matches("#node-health", r"\S")
        c.check("dashboard: #node-peers, #node-known, #node-health filled in", bool(peers and known and health), f"{peers!r} {known!r} {health!r}")
        parent = self.d.find_elements(By.CSS_SELECTOR, "#node-parent")
        c.check("dashboard: #node-parent present (the root has none)", bool(parent))

    def nodes(self):
        c, ids = self.c, self.ids
        self.click("a#nav-nodes")
        self.visible("section#nodes")
        want = [ids[k] for k in ("root", "a", "b", "cli")]

        def rows(d):
            got = {r.get_attribute("data-node-id") for r in d.find_elements(By.CSS_SELECTOR, "table#nodes-table tbody tr[data-node-id]")}
            return all(w in got for w in want) and got
        try:
            got = self.wait(rows)
        except TimeoutException:
            got = {r.get_attribute("data-node-id") for r in self.d.find_elements(By.CSS_SELECTOR, "tr[data-node-id]")}
        c.check("nodes: a row tr[data-node-id] for each of the 4 nodes", all(w in got for w in want), short(sorted(got)))
        row = self.d.find_elements(By.CSS_SELECTOR, f'tr[data-node-id="{ids["cli"]}"]')
        # IDs may be shown shortened (their first 8 characters, the full one in a title).
        c.check("nodes: cli's row shows its parent (a or b)", bool(row) and (ids["a"][:8] in row[0].text or ids["b"][:8] in row[0].text),
                row[0].text if row else "")

    def topology(self):
        c = self.c
        self.click("a#nav-topology")
        self.visible("section#topology")

        def drawn(d):
            g = d.find_elements(By.CSS_SELECTOR, "div#topology-graph[data-node-count]")
            return g and int(g[0].get_attribute("data-node-count") or 0) >= 4 and g[0]
        try:
            g = self.wait(drawn)
        except TimeoutException:
            g = None
        n = g.get_attribute("data-node-count") if g else None
        e = g.get_attribute("data-edge-count") if g else None
        c.check("topology: div#topology-graph data-node-count >= 4", g is not None, f"node count {n}")
        c.check("topology: data-edge-count >= 3 (the parent edges)", e is not None and int(e) >= 3, f"edge count {e}")
        canvas = self.d.find_elements(By.CSS_SELECTOR, "div#topology-graph canvas")
        c.check("topology: cytoscape drew a canvas", bool(canvas))

    def topology_with_tunnel(self, sep):
        """The graph and the dashboard again with the tunnel up: the screenshots."""
        c = self.c
        self.click("a#nav-topology")

        def drawn(d):
            g = d.find_elements(By.CSS_SELECTOR, "div#topology-graph[data-node-count]")
            return g and int(g[0].get_attribute("data-node-count") or 0) >= 5 and g[0]
        try:
            g = self.wait(drawn)
        except TimeoutException:
            g = None
        n = g.get_attribute("data-node-count") if g else None
        c.check("topology with the tunnel: data-node-count >= 5 (its server endpoint too)", g is not None, f"node count {n}")
        print(f"    topology with the tunnel: {n} nodes, {g.get_attribute('data-edge-count') if g else None} edges")
        time.sleep(1.5)  # the layout settles
        c.check("docs/screenshots: topology.png saved", self.shot("topology.png") > 10000)
        self.click("a#nav-dashboard")
        n = self.text_matches("#node-tunnels", r"[1-9]")
        c.check("dashboard with the tunnel: #node-tunnels >= 1", bool(n), str(n))
        time.sleep(0.5)
        c.check("docs/screenshots: dashboard.png saved", self.shot("dashboard.png") > 10000)
        self.click("a#nav-tunnels")
        self.visible("section#tunnels")

    def tunnels(self):
        c, ids, net = self.c, self.ids, self.net
        self.click("a#nav-tunnels")
        self.visible("section#tunnels")
        self.visible("form#tunnel-form")
        key = self.d.find_elements(By.CSS_SELECTOR, "textarea#tunnel-network-key")
        c.check("tunnels: no network key field (network-key-file is configured)", not any(k.is_displayed() for k in key))
        opts = {o.get_attribute("value") for o in self.d.find_elements(By.CSS_SELECTOR, "datalist option")}
        c.check("tunnels: the remote node's datalist offers the client node", ids["cli"] in opts, short(sorted(opts)))
        n0 = len(self.d.find_elements(By.CSS_SELECTOR, "table#tunnels-table tbody tr[data-endpoint-id]"))
        # Validated in the form: a bad port never reaches the server.
        self.fill("input#tunnel-targets", "tcp:99999")
        self.fill("input#tunnel-remote-node", ids["cli"])
        self.fill("input#tunnel-dns-names", "browsertest")
        self.click("button#tunnel-submit")
        err = self.text_matches("#tunnel-error", r"\S", 5)
        c.check("tunnels: bad targets (tcp:99999) are refused in the form (#tunnel-error)", bool(err), str(err))
        self.fill("input#tunnel-targets", "tcp:80,icmp")
        # As a user does: fix the field, click the button once (the field's change event,
        # and whatever it changes on the page, comes with that click).
        btn = self.d.find_element(By.CSS_SELECTOR, "button#tunnel-submit")
        y0 = btn.location["y"]
        btn.click()
        sep_text = self.text_matches("#tunnel-result", r"[0-9a-z]{52}", 10)
        c.check("tunnels: one click on the button after fixing the field submits the form",
                bool(sep_text), f"the button moved from y={y0} to y={btn.location['y']} as #tunnel-error cleared; the click missed it")
        if not sep_text:
            self.click("button#tunnel-submit")
            sep_text = self.text_matches("#tunnel-result", r"[0-9a-z]{52}", 30)
        m = re.search(r"[0-9a-z]{52}", sep_text or "")
        sep = m.group(0) if m else ""
        c.check("tunnels: #tunnel-result shows the new server endpoint ID", bool(ID_RE.match(sep)), str(sep_text))
        if not sep:
            raise RuntimeError("no tunnel created; console: " + short(self.console_errors()))
        print(f"    tunnel created in the browser: server endpoint {sep}")
        row_css = f'table#tunnels-table tbody tr[data-endpoint-id="{sep}"]'
        row = self.try_visible(row_css)
        c.check("tunnels: its row tr[data-endpoint-id] appears", row is not None)
        c.check("tunnels: one more row than before",
                len(self.d.find_elements(By.CSS_SELECTOR, "table#tunnels-table tbody tr[data-endpoint-id]")) == n0 + 1)
        # Outside the browser: the client node got it.
        t0 = time.monotonic()
        c.check("outside the browser: the tunnel reached cli (established in its mccd's status)",
                wait_for(30, lambda: net.client_established(sep)), short(net.client_tunnel(sep) or "not in cli's status"))
        print(f"    established on cli after {time.monotonic() - t0:.1f} s")
        c.check("outside the browser: cli pings the server endpoint through it", bool(wait_for(15, lambda: net.client_pings(sep))))
        self.c.section("topology with the tunnel", self.topology_with_tunnel, sep)
        # Revoke from the row, accepting the confirm dialog.
        self.wait(EC.element_to_be_clickable((By.CSS_SELECTOR, row_css + " button.revoke"))).click()
        try:
            alert = self.wait(EC.alert_is_present(), 5)
            alert.accept()
            confirmed = True
        except TimeoutException:
            confirmed = False
        c.check("tunnels: the revoke button asks for confirmation", confirmed)
        try:
            self.wait(EC.invisibility_of_element_located((By.CSS_SELECTOR, row_css)))
            gone = True
        except TimeoutException:
            gone = False
        c.check("tunnels: the revoked tunnel's row goes", gone)
        c.check("outside the browser: cli drops the revoked tunnel", wait_for(30, lambda: not net.client_established(sep)))
        return sep

    def events(self):
        c = self.c
        self.click("a#nav-events")
        self.visible("section#events")
        try:
            n = self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "ul#events-list li")))
        except TimeoutException:
            n = 0
        c.check("events: ul#events-list shows events", n > 0, f"{n} items")

    def logout(self):
        c = self.c
        cookie = self.d.get_cookie("mcc-web-session")
        c.check("the session cookie is HttpOnly and Secure in the browser",
                bool(cookie) and cookie.get("httpOnly") is True and cookie.get("secure") is True
                and str(cookie.get("sameSite")).lower() == "strict", short(cookie or {}))
        self.click("button#logout")
        form = self.try_visible("form#login-form")
        c.check("logout: the login form is shown again", form is not None)
        c.check("logout: the nav is hidden", not any(e.is_displayed() for e in self.d.find_elements(By.CSS_SELECTOR, "a#nav-dashboard")))
        if cookie:
            api = Api(self.cfg["browser_base"], self.cfg["cert"])
            api.cookies = {"mcc-web-session": cookie["value"]}
            r = api.get("/api/v1/session")
            c.check("logout: the API now says 401 to the browser's old session cookie", is_error(r, 401), repr(r))
            r = api.get("/api/v1/nodes")
            c.check("logout: GET /api/v1/nodes with it is 401 too", is_error(r, 401), repr(r))
        self.d.refresh()
        c.check("logout: a reload shows the login form", self.try_visible("form#login-form") is not None)

    def run(self):
        s = self.c.section
        t0 = time.monotonic()
        try:
            self.d = browser(self.cfg["workdir"])
        except WebDriverException as e:
            self.c.check("chromium starts through chromedriver", False, str(e).splitlines()[0])
            return self.c
        print(f"    chromium {self.d.capabilities.get('browserVersion')} up after {time.monotonic() - t0:.1f} s")
        try:
            for name, fn in (("login", self.login), ("nodes", self.nodes), ("topology", self.topology),
                             ("dashboard", self.dashboard), ("tunnels", self.tunnels), ("events", self.events),
                             ("logout", self.logout)):
                failed = self.c.failed
                s(name, fn)
                if self.c.failed > failed:  # the page as the failed check saw it
                    path = os.path.join(self.cfg["workdir"], f"failure-{name}.png")
                    self.d.save_screenshot(path)
                    print(f"    the page then: {path}")
                    if name == "login":
                        return self.c
            errs = self.console_errors()
            self.c.check("no errors in the browser's console", not errs, short(errs, 600))
        finally:
            self.d.quit()
        return self.c


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    c = BrowserTest(cfg).run()
    print(f"browser: {c.passed} passed, {c.failed} failed checks")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
