#!/usr/bin/env python3
"""API checks of mcc-web against a real mccd network (docs/WEB.md, notes: web-spec).

tests/e2e/web.sh runs it as root inside the server node's namespace:
    web_api.py CONFIG.json
CONFIG.json (written by web.sh) names the URLs, the pinned certificate, the login, the
node IDs, the mcc binary and sockets, and the files to compare with. Python 3 stdlib only.
Prints one "PASS: ..." or "FAIL: ... (why)" line per check, which web.sh counts.
web_browser.py imports the client and the client-node checks from here.
"""

import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import datetime

ID_RE = re.compile(r"^[0-9a-z]{52}$")
FAKE_ID = "a" * 52  # well-formed, names no node


# ---------------------------------------------------------------- checks


class Checks:
    def __init__(self, prefix):
        self.prefix = prefix
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"PASS: {self.prefix}: {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL: {self.prefix}: {name}" + (f" ({detail})" if detail else ""), flush=True)
        return ok

    def section(self, name, fn, *args):
        """Runs one group of checks; an exception fails the group, the others still run."""
        try:
            return fn(*args)
        except Exception as e:  # noqa: BLE001 - a failed group must not stop the rest
            self.check(f"{name}: ran to the end", False, f"{type(e).__name__}: {e}")
            return None


def wait_for(timeout, fn, interval=0.5):
    """fn() until it returns a true value; that value, or the last one after timeout."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


def short(v, n=300):
    s = v if isinstance(v, str) else json.dumps(v)
    return s if len(s) <= n else s[:n] + "..."


# ---------------------------------------------------------------- HTTPS client


class Resp:
    def __init__(self, status, headers, body, set_cookies):
        self.status = status
        self.headers = headers
        self.body = body
        self.set_cookies = set_cookies

    def json(self):
        return json.loads(self.body)

    def json_or_none(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        return f"HTTP {self.status} {short(self.body.decode(errors='replace'), 200)}"


def cert_der(pem_file):
    with open(pem_file) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


class Api:
    """An HTTPS client of mcc-web with a cookie jar and the CSRF token. The server's
    certificate is pinned: every connection must present the DER of CERT_FILE."""

    def __init__(self, base, cert_file):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 443
        self.pin = hashlib.sha256(cert_der(cert_file)).hexdigest()
        self.cookies = {}
        self.csrf = None

    def connect(self, timeout):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False  # an IP address and a self-signed certificate: pinned below
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(self.host, self.port, context=ctx, timeout=timeout)
        conn.connect()
        got = hashlib.sha256(conn.sock.getpeercert(binary_form=True)).hexdigest()
        if got != self.pin:
            conn.close()
            raise ssl.SSLError(f"{self.host}:{self.port} presented certificate {got}, pinned {self.pin}")
        return conn

    def send(self, conn, method, path, body, headers, csrf, cookies):
        h = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if cookies and self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = self.csrf
        h.update(headers or {})
        conn.request(method, path, body=data, headers=h)
        return conn.getresponse()

    def keep_cookies(self, set_cookies):
        for c in set_cookies:
            name, _, rest = c.partition("=")
            value = rest.split(";", 1)[0]
            attrs = c.lower()
            if not value or "max-age=0" in attrs or "expires=thu, 01 jan 1970" in attrs:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value

    def request(self, method, path, body=None, headers=None, csrf=True, cookies=True, timeout=15):
        conn = self.connect(timeout)
        try:
            r = self.send(conn, method, path, body, headers, csrf, cookies)
            raw = r.read()
            sc = r.headers.get_all("Set-Cookie") or []
            self.keep_cookies(sc)
            return Resp(r.status, r.headers, raw, sc)
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body if body is not None else {}, **kw)

    def login(self, user, password):
        """GET the pre-session, POST the login with its token; keeps the session's token."""
        self.cookies.clear()
        self.csrf = None
        r = self.get("/api/v1/login")
        if r.status != 200:
            return r
        self.csrf = r.json()["csrf_token"]
        r = self.post("/api/v1/login", {"user": user, "password": password})
        if r.status == 200:
            self.csrf = r.json()["csrf_token"]
        return r


def is_error(r, status):
    """The documented error shape: {"status": CODE, "error": "<message>"} with that code."""
    j = r.json_or_none()
    return (
        r.status == status
        and isinstance(j, dict)
        and j.get("status") == status
        and isinstance(j.get("error"), str)
        and j["error"] != ""
    )


def cookie_attrs(set_cookie):
    parts = [p.strip() for p in set_cookie.split(";")]
    return {p.split("=", 1)[0].lower(): (p.split("=", 1)[1] if "=" in p else True) for p in parts[1:]}


def rfc3339(s):
    try:
        datetime.fromisoformat(s.replace("Z", "+00:00"))
        return True
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------- the nodes, outside mcc-web


class Net:
    """The network as mcc sees it: the mcc client against each node's socket (a file, so
    reachable from any namespace), and commands in the nodes' namespaces."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.ids = cfg["ids"]

    def mcc(self, node, *args):
        out = subprocess.run(
            [self.cfg["mcc"], "-s", self.cfg["socks"][node], *args],
            capture_output=True, text=True, timeout=20,
        )
        if out.returncode != 0:
            raise RuntimeError(f"mcc {' '.join(args)} on {node}: {out.stderr.strip()}")
        return out.stdout

    def mcc_json(self, node, *args):
        v = json.loads(self.mcc(node, *args, "--json"))
        return v["result"] if isinstance(v, dict) and "result" in v and "ok" in v else v

    def in_ns(self, node, *cmd, timeout=20):
        return subprocess.run(
            ["ip", "netns", "exec", self.cfg["ns"][node], *cmd], capture_output=True, text=True, timeout=timeout
        )

    def client_tunnel(self, sep):
        """The client node's view of the tunnel whose server endpoint is SEP, or None."""
        try:
            st = self.mcc_json("cli", "status")
        except (RuntimeError, ValueError, subprocess.TimeoutExpired):
            return None
        for t in st.get("tunnels", []):
            if t.get("remote_endpoint") == sep:
                return t
        return None

    def client_established(self, sep):
        t = self.client_tunnel(sep)
        return bool(t and t.get("established"))

    def client_pings(self, sep):
        """The client resolves SEP to an address and pings it (the tunnel's icmp target)."""
        try:
            addr = self.mcc("cli", "resolve", sep).split()[0]
        except (RuntimeError, IndexError, subprocess.TimeoutExpired):
            return None
        r = self.in_ns("cli", "ping", "-c", "1", "-W", "2", addr)
        return addr if r.returncode == 0 else None


# ---------------------------------------------------------------- the checks


SPEC_ROUTES = [
    ("get", "/api/v1/login"), ("post", "/api/v1/login"), ("get", "/api/v1/session"),
    ("post", "/api/v1/logout"), ("get", "/api/v1/node"), ("get", "/api/v1/nodes"),
    ("get", "/api/v1/topology"), ("get", "/api/v1/route"), ("get", "/api/v1/resolve"),
    ("get", "/api/v1/tunnels"), ("post", "/api/v1/tunnels"), ("post", "/api/v1/tunnels/{}/revoke"),
    ("get", "/api/v1/certificates"), ("get", "/api/v1/events"), ("get", "/api/v1/events/stream"),
    ("get", "/api/v1/status"), ("get", "/api/v1/config"), ("put", "/api/v1/config"),
    ("get", "/api/v1/openapi.json"),
]
METHODS = ("get", "post", "put", "delete", "patch")


class ApiTest:
    def __init__(self, cfg):
        self.cfg = cfg
        self.c = Checks("api")
        self.net = Net(cfg)
        self.ids = cfg["ids"]
        self.api = Api(cfg["base"], cfg["cert"])
        self.anon = Api(cfg["base"], cfg["cert"])
        self.openapi = None

    # -- TLS, login, cookies, CSRF

    def tls(self):
        c = self.c
        u = urllib.parse.urlsplit(self.cfg["base"])
        served = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((u.hostname, u.port)))
        c.check("https: the served certificate is the generated tls-certificate.pem", served == cert_der(self.cfg["cert"]))
        r = self.anon.get("/")
        c.check("GET / (static, public) is 200 text/html", r.status == 200 and "text/html" in r.headers.get("Content-Type", ""), repr(r))

    def login_and_cookies(self):
        c, api = self.c, self.api
        r = api.get("/api/v1/login")
        j = r.json_or_none() or {}
        c.check("GET /api/v1/login gives a csrf_token", r.status == 200 and isinstance(j.get("csrf_token"), str) and len(j["csrf_token"]) >= 16, repr(r))
        pre = [s for s in r.set_cookies if s.startswith("mcc-web-pre=")]
        c.check("GET /api/v1/login sets cookie mcc-web-pre", len(pre) == 1, str(r.set_cookies))
        if pre:
            self.cookie_flags("mcc-web-pre", pre[0])
        pre_token = j.get("csrf_token")
        api.csrf = None
        r = api.post("/api/v1/login", {"user": self.cfg["user"], "password": self.cfg["password"]})
        c.check("CSRF: POST /api/v1/login without X-CSRF-Token is 403", is_error(r, 403), repr(r))
        r = api.post("/api/v1/login", {"user": self.cfg["user"], "password": self.cfg["password"]},
                     headers={"X-CSRF-Token": "wrong-" + (pre_token or "")})
        c.check("CSRF: POST /api/v1/login with a wrong X-CSRF-Token is 403", is_error(r, 403), repr(r))
        c.check("CSRF: no session cookie after the refused logins", "mcc-web-session" not in api.cookies)
        api.csrf = pre_token
        r = api.post("/api/v1/login", {"user": self.cfg["user"], "password": self.cfg["password"]})
        j = r.json_or_none() or {}
        ok = c.check("POST /api/v1/login with the right password is 200 {user, csrf_token}",
                     r.status == 200 and j.get("user") == self.cfg["user"] and isinstance(j.get("csrf_token"), str), repr(r))
        sess = [s for s in r.set_cookies if s.startswith("mcc-web-session=")]
        c.check("POST /api/v1/login sets cookie mcc-web-session", len(sess) == 1, str(r.set_cookies))
        if sess:
            self.cookie_flags("mcc-web-session", sess[0])
        if not ok:
            raise RuntimeError("cannot log in: the remaining checks need a session")
        api.csrf = j["csrf_token"]
        r = api.get("/api/v1/session")
        s = r.json_or_none() or {}
        c.check("GET /api/v1/session: user, csrf_token, 0 < expires_in_secs <= 3600, network_key_configured",
                r.status == 200 and s.get("user") == self.cfg["user"] and s.get("csrf_token") == api.csrf
                and isinstance(s.get("expires_in_secs"), int) and 0 < s["expires_in_secs"] <= 3600
                and s.get("network_key_configured") is True, repr(r))
        # A state-changing request of the session without / with a wrong token.
        r = api.post("/api/v1/logout", csrf=False)
        c.check("CSRF: POST /api/v1/logout without X-CSRF-Token is 403", is_error(r, 403), repr(r))
        r = api.post("/api/v1/logout", headers={"X-CSRF-Token": "0" * 32})
        c.check("CSRF: POST /api/v1/logout with a wrong X-CSRF-Token is 403", is_error(r, 403), repr(r))
        n0 = len(api.get("/api/v1/tunnels").json())
        r = api.post("/api/v1/tunnels", {"targets": "icmp", "remote_node": self.ids["cli"]}, csrf=False)
        c.check("CSRF: POST /api/v1/tunnels without X-CSRF-Token is 403 and creates nothing",
                is_error(r, 403) and len(api.get("/api/v1/tunnels").json()) == n0, repr(r))
        r = api.get("/api/v1/session")
        c.check("the session survives the refused requests", r.status == 200, repr(r))

    def cookie_flags(self, name, set_cookie):
        a = cookie_attrs(set_cookie)
        self.c.check(f"cookie {name}: HttpOnly, Secure, SameSite=Strict, Path=/",
                     a.get("httponly") is True and a.get("secure") is True
                     and str(a.get("samesite", "")).lower() == "strict" and a.get("path") == "/", set_cookie)

    def brute_force(self):
        """From another client address (loopback): a wrong user and a wrong password get the
        same 401; repeated attempts then get 429 with Retry-After, even the right password."""
        c = self.c
        b = Api(self.cfg["alt_base"], self.cfg["cert"])
        r1 = b.login("nobody", self.cfg["password"])
        r2 = b.login(self.cfg["user"], "wrong-password")
        c.check("login: a user not in valid-users is 401", is_error(r1, 401), repr(r1))
        c.check("login: a wrong password is 401", is_error(r2, 401), repr(r2))
        c.check("login: the same message for a bad user and a bad password",
                (r1.json_or_none() or {}).get("error") == (r2.json_or_none() or {}).get("error"), f"{r1!r} vs {r2!r}")
        seen = None
        for i in range(30):
            r = b.login(self.cfg["user"], f"wrong-{i}")
            if r.status == 429:
                seen = (i + 3, r)
                break
            if r.status != 401:
                c.check("login: repeated wrong passwords are 401 until the limit", False, f"attempt {i + 3}: {r!r}")
                return
        if not c.check("login: repeated wrong passwords end in 429", seen is not None, "30 attempts, never 429"):
            return
        n, r = seen
        print(f"    rate limit: 429 at attempt {n}: {r.headers.get('Retry-After')!r} {short(r.body.decode(errors='replace'))}")
        ra = r.headers.get("Retry-After", "")
        c.check("login: 429 carries Retry-After (seconds > 0) and the JSON error", ra.isdigit() and int(ra) > 0 and is_error(r, 429), f"Retry-After {ra!r}, {r!r}")
        r = b.login(self.cfg["user"], self.cfg["password"])
        c.check("login: while limited, even the right password is 429", r.status == 429, repr(r))

    # -- OpenAPI and authentication of every route

    def openapi_doc(self):
        c = self.c
        r = self.anon.get("/api/v1/openapi.json")
        c.check("GET /api/v1/openapi.json without a session is 401", is_error(r, 401), repr(r))
        r = self.api.get("/api/v1/openapi.json")
        doc = r.json_or_none()
        if not c.check("GET /api/v1/openapi.json (logged in) is a JSON document", r.status == 200 and isinstance(doc, dict), repr(r)):
            raise RuntimeError("no OpenAPI document")
        self.openapi = doc
        c.check("OpenAPI version 3.1.x", str(doc.get("openapi", "")).startswith("3.1"), str(doc.get("openapi")))
        with open(self.cfg["openapi_file"]) as f:
            printed = json.load(f)
        c.check("the served document equals `mcc-web openapi`", printed == doc)
        have = {(m, re.sub(r"\{[^}]*\}", "{}", p)) for p, ops in doc.get("paths", {}).items() for m in ops if m in METHODS}
        missing = [f"{m.upper()} {p}" for m, p in SPEC_ROUTES if (m, p) not in have]
        c.check(f"OpenAPI lists every route of the spec ({len(SPEC_ROUTES)})", not missing, "missing: " + ", ".join(missing))
        ops = sorted(have)
        print(f"    OpenAPI: {len(ops)} operations: " + ", ".join(f"{m.upper()} {p}" for m, p in ops))

    def every_route_needs_login(self):
        c, doc = self.c, self.openapi
        forged = Api(self.cfg["base"], self.cfg["cert"])
        forged.cookies = {"mcc-web-session": "forged" + "0" * 40}
        pre_only = Api(self.cfg["base"], self.cfg["cert"])
        pre_only.csrf = pre_only.get("/api/v1/login").json()["csrf_token"]  # a pre-session is no login
        checked, bad = 0, []
        for path, ops in doc.get("paths", {}).items():
            for method, op in ops.items():
                if method not in METHODS or path == "/api/v1/login":
                    continue
                url = re.sub(r"\{[^}]*\}", FAKE_ID, path)
                q = {p["name"]: self.ids["root"] for p in op.get("parameters", []) if p.get("in") == "query" and p.get("required")}
                if q:
                    url += "?" + urllib.parse.urlencode(q)
                body = {} if method in ("post", "put", "patch") else None
                for who, client in (("no cookie", self.anon), ("forged session cookie", forged), ("pre-session only", pre_only)):
                    r = client.request(method.upper(), url, body)
                    checked += 1
                    j = r.json_or_none() or {}
                    if not (is_error(r, 401) and j.get("error") == "login required"):
                        bad.append(f"{method.upper()} {url} ({who}): {r!r}")
        print(f"    unauthenticated requests sent: {checked}")
        c.check(f"every path x method of the OpenAPI document but login refuses an unauthenticated request: 401 login required ({checked} requests)",
                checked > 0 and not bad, "; ".join(bad[:8]))

    # -- read-only data, compared with mcc

    def node_and_nodes(self):
        c, api, ids = self.c, self.api, self.ids
        r = api.get("/api/v1/node")
        n = r.json_or_none() or {}
        c.check("GET /api/v1/node: the root's id, root true, no parent, healthy",
                r.status == 200 and n.get("id") == ids["root"] and n.get("root") is True and n.get("parent") is None
                and n.get("healthy") is True and isinstance(n.get("health_reasons"), list), repr(r))
        c.check("GET /api/v1/node: peers >= 2 (a, b), known_nodes >= 4, a version",
                isinstance(n.get("peers"), int) and n["peers"] >= 2 and isinstance(n.get("known_nodes"), int)
                and n["known_nodes"] >= 4 and bool(n.get("version")) and isinstance(n.get("tunnels"), int), short(n))
        c.check("GET /api/v1/node: address is the one `mcc resolve` gives",
                n.get("address") in self.net.mcc("root", "resolve", ids["root"]).split(), short(n))
        r = api.get("/api/v1/nodes")
        rows = r.json_or_none()
        ok = r.status == 200 and isinstance(rows, list)
        c.check("GET /api/v1/nodes is an array of NodeRow",
                ok and all({"node_id", "address", "last_seen", "parent", "tags", "kind"} <= set(x) for x in rows), repr(r))
        got = {x.get("node_id") for x in rows} if ok else set()
        c.check("GET /api/v1/nodes lists all 4 nodes", all(ids[k] in got for k in ("root", "a", "b", "cli")), short(sorted(got)))
        want = {x["node_id"] for x in self.net.mcc_json("root", "nodes")}
        c.check("GET /api/v1/nodes: the same node IDs as `mcc nodes` on the root", got == want, f"api {sorted(got)} mcc {sorted(want)}")
        byid = {x.get("node_id"): x for x in rows} if ok else {}
        c.check("GET /api/v1/nodes: a and b have the root as parent",
                all(byid.get(ids[k], {}).get("parent") == ids["root"] for k in ("a", "b")), short([byid.get(ids["a"]), byid.get(ids["b"])]))

    def topology(self):
        c, ids = self.c, self.ids
        r = self.api.get("/api/v1/topology")
        t = r.json_or_none() or {}
        nodes = {n.get("id"): n for n in t.get("nodes", [])}
        c.check("GET /api/v1/topology: self is the root, marked is_self", t.get("self") == ids["root"] and nodes.get(ids["root"], {}).get("is_self") is True, short(t))
        c.check("GET /api/v1/topology: the 4 nodes, kind node", all(nodes.get(ids[k], {}).get("kind") == "node" for k in ("root", "a", "b", "cli")), short(list(nodes.values())))
        edges = {(e.get("source"), e.get("target"), e.get("kind")) for e in t.get("edges", [])}
        cli_parent = self.net.mcc("cli", "parent", "--id").strip()
        want = {(ids["a"], ids["root"], "parent"), (ids["b"], ids["root"], "parent"), (ids["cli"], cli_parent, "parent")}
        c.check("GET /api/v1/topology: the parent edges a->root, b->root, cli->its parent", want <= edges, f"missing {want - edges}")
        return nodes, edges

    def route_resolve_status_certs(self):
        c, api, ids = self.c, self.api, self.ids
        r = api.get("/api/v1/route?destination=" + ids["cli"])
        j = r.json_or_none() or {}
        mcc_hops = self.net.mcc_json("root", "route", ids["cli"])["hops"]
        c.check("GET /api/v1/route to cli: destination, hops as `mcc route --json`",
                r.status == 200 and j.get("destination") == ids["cli"] and j.get("hops") == mcc_hops
                and isinstance(j.get("via_parent"), bool), f"{short(j)} vs mcc {mcc_hops}")
        r = api.get(f"/api/v1/route?destination={ids['b']}&source={ids['a']}")
        j = r.json_or_none() or {}
        mcc_hops = self.net.mcc_json("root", "route", ids["b"], ids["a"])["hops"]
        c.check("GET /api/v1/route with source: as `mcc route DEST SOURCE`", r.status == 200 and j.get("hops") == mcc_hops and j.get("source") == ids["a"], f"{short(j)} vs mcc {mcc_hops}")
        r = api.get("/api/v1/route?destination=not-a-node-id")
        c.check("GET /api/v1/route with a bad destination is 400", is_error(r, 400), repr(r))
        addrs = self.net.mcc("root", "resolve", ids["cli"]).split()
        r = api.get("/api/v1/resolve?" + urllib.parse.urlencode({"address": ids["cli"], "target": "ipv4", "all": "true"}))
        c.check("GET /api/v1/resolve?target=ipv4&all=true of cli's ID: the addresses of `mcc resolve`",
                r.status == 200 and r.json_or_none() == addrs, f"{r!r} vs mcc {addrs}")
        r = api.get("/api/v1/resolve?address=" + ids["cli"])
        c.check("GET /api/v1/resolve of cli's ID, no target: mcc resolve's default (ipv4), the first address",
                r.status == 200 and addrs and r.json_or_none() == addrs[0], f"{r!r} vs mcc {addrs}")
        if addrs:
            r = api.get("/api/v1/resolve?" + urllib.parse.urlencode({"address": addrs[0], "target": "node-id"}))
            c.check("GET /api/v1/resolve of that address with target=node-id names cli", r.status == 200 and ids["cli"] in r.body.decode(), repr(r))
        r = api.get("/api/v1/status")
        st = r.json_or_none()
        mst = self.net.mcc_json("root", "status")
        c.check("GET /api/v1/status: mccd's status object (the keys of `mcc status --json`)",
                r.status == 200 and isinstance(st, dict) and set(st) == set(mst), f"{sorted(st or {})} vs {sorted(mst)}")
        r = api.get("/api/v1/certificates")
        certs = r.json_or_none()
        ok = r.status == 200 and isinstance(certs, list) and len(certs) >= 2
        c.check("GET /api/v1/certificates: >= 2 (node, network) with subject, issuer, kind, RFC 3339 times, file",
                ok and all(isinstance(x.get("subject"), str) and isinstance(x.get("issuer"), str) and x.get("kind")
                           and rfc3339(x.get("not_before")) and rfc3339(x.get("not_after")) and x.get("file") for x in certs), short(certs))

    def events(self):
        c = self.c
        r = self.api.get("/api/v1/events")
        ev = r.json_or_none()
        c.check("GET /api/v1/events: a non-empty array of {time, event}",
                r.status == 200 and isinstance(ev, list) and len(ev) > 0
                and all("time" in e and "event" in e for e in ev), repr(r))

    # -- tunnels

    def tunnels(self):
        c, api, ids, net = self.c, self.api, self.ids, self.net
        bad = [
            ({"targets": "tcp:99999", "remote_node": ids["cli"]}, "99999"),
            ({"targets": "http:80", "remote_node": ids["cli"]}, "http"),
            ({"targets": "", "remote_node": ids["cli"]}, "target"),
            ({"targets": "tcp:80", "remote_node": "not-a-node"}, "not-a-node"),
        ]
        for body, word in bad:
            r = api.post("/api/v1/tunnels", body)
            msg = str((r.json_or_none() or {}).get("error", ""))
            c.check(f"POST /api/v1/tunnels {short(body, 80)}: 400 with a message naming '{word}' or the field",
                    is_error(r, 400) and (word in msg.lower() or "target" in msg.lower() or "remote" in msg.lower()), repr(r))
        stream = EventStream(self.cfg, api)
        stream.start()
        n0 = len(api.get("/api/v1/tunnels").json())
        r = api.post("/api/v1/tunnels", {"targets": "tcp:80,icmp", "remote_node": ids["cli"], "dns_names": ["apitest"]})
        j = r.json_or_none() or {}
        sep = j.get("id", "")
        if not c.check("POST /api/v1/tunnels (tcp:80,icmp to cli, dns apitest): 201 {id}", r.status == 201 and bool(ID_RE.match(sep)), repr(r)):
            stream.stop()
            return
        print(f"    tunnel created through the API: server endpoint {sep}")
        rows = api.get("/api/v1/tunnels").json()
        row = next((t for t in rows if t.get("id") == sep), None)
        c.check("GET /api/v1/tunnels lists it: server_side, remote_node cli, targets, dns_names",
                row is not None and len(rows) == n0 + 1 and row.get("server_side") is True and row.get("remote_node") == ids["cli"]
                and "tcp:80" in str(row.get("targets")) and "icmp" in str(row.get("targets")) and "apitest" in str(row.get("dns_names")), short(rows))
        t0 = time.monotonic()
        c.check("the tunnel reaches the client node (cli's mccd reports it established)", wait_for(30, lambda: net.client_established(sep)),
                short(net.client_tunnel(sep) or "not in cli's status"))
        print(f"    tunnel established on cli after {time.monotonic() - t0:.1f} s")
        addr = wait_for(15, lambda: net.client_pings(sep))
        c.check("cli pings the server endpoint through the tunnel (icmp target)", bool(addr), "no answer")
        up = wait_for(15, lambda: (next((t for t in api.get("/api/v1/tunnels").json() if t.get("id") == sep), {}) or {}).get("established"))
        c.check("GET /api/v1/tunnels: established true", up is True)

        def topo_has():
            t = api.get("/api/v1/topology").json()
            kinds = {n.get("id"): n.get("kind") for n in t.get("nodes", [])}
            tun = [e for e in t.get("edges", []) if e.get("kind") == "tunnel" and e.get("target") == sep]
            return kinds.get(sep) == "server-endpoint" and tun and t
        t = wait_for(15, topo_has)
        c.check("GET /api/v1/topology: the server endpoint (kind server-endpoint) and a tunnel edge to it", bool(t),
                short(api.get("/api/v1/topology").json(), 600))
        r = api.get("/api/v1/node")
        c.check("GET /api/v1/node: tunnels >= 1", (r.json_or_none() or {}).get("tunnels", 0) >= 1, repr(r))

        r = api.post(f"/api/v1/tunnels/{FAKE_ID}/revoke")
        c.check("POST /api/v1/tunnels/UNKNOWN/revoke: 404 or 400 JSON error", is_error(r, 404) or is_error(r, 400), repr(r))
        r = api.post(f"/api/v1/tunnels/{sep}/revoke", csrf=False)
        c.check("CSRF: revoke without X-CSRF-Token is 403", is_error(r, 403), repr(r))
        r = api.post(f"/api/v1/tunnels/{sep}/revoke")
        c.check("POST /api/v1/tunnels/ID/revoke: 200 {revoked: true}", r.status == 200 and (r.json_or_none() or {}).get("revoked") is True, repr(r))
        gone = wait_for(10, lambda: all(t.get("id") != sep for t in api.get("/api/v1/tunnels").json()))
        c.check("GET /api/v1/tunnels no longer lists it", gone)
        c.check("the client node drops the revoked tunnel", wait_for(30, lambda: not net.client_established(sep)),
                short(net.client_tunnel(sep) or ""))
        time.sleep(1)
        got = stream.stop()
        ok = [e for e in got if isinstance(e, dict) and "time" in e and "event" in e]
        print(f"    events streamed during create/revoke: {len(got)}" + (f", last: {short(got[-1], 160)}" if got else ""))
        c.check("GET /api/v1/events/stream: text/event-stream, data: {time, event} lines while the tunnel came and went",
                stream.content_type.startswith("text/event-stream") and len(ok) > 0, f"content-type {stream.content_type!r}, {len(got)} events, error {stream.error}")

    # -- metrics

    def metrics(self):
        c = self.c
        u = urllib.parse.urlsplit(self.cfg["metrics"])
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        conn.request("GET", u.path)
        r = conn.getresponse()
        text = r.read().decode()
        conn.close()
        c.check("GET /metrics on loopback: 200 text/plain", r.status == 200 and r.headers.get("Content-Type", "").startswith("text/plain"), f"{r.status} {r.headers.get('Content-Type')}")
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
                if m:
                    samples.setdefault(m.group(1), []).append(float(m.group(3)))
        families = set(re.findall(r"^# TYPE (\S+)", text, re.M))
        print(f"    metrics: {len(families)} families, {sum(len(v) for v in samples.values())} samples")
        try:
            with open(self.cfg["docs"]) as f:
                rows = re.findall(r"^\| `(mcc_[a-z0-9_]+)` \|([^\n]*)$", f.read(), re.M)
            documented = sorted({n for n, _ in rows})
            optional = {n for n, rest in rows if "(absent" in rest}
        except OSError as e:
            documented, optional = [], set()
            print(f"    {e}")
        c.check(f"{self.cfg['docs']} documents metric names (mcc_...)", len(documented) > 0, "none found")

        def present(name):
            return name in families or any(s == name or s.startswith(name + "_") for s in samples)
        missing = [n for n in documented if not present(n) and n not in optional]
        c.check(f"/metrics has every documented metric ({len(documented)}, {len(optional)} of them documented as absent at times)",
                documented and not missing, "missing: " + ", ".join(missing))
        c.check("/metrics: mcc_up 1", samples.get("mcc_up") == [1.0], str(samples.get("mcc_up")))
        undocumented = sorted(f for f in families if f not in documented)
        c.check("/metrics has no metric family the docs do not list", not undocumented, ", ".join(undocumented))
        dgram = {k: sum(v) for k, v in samples.items() if "datagram" in k and k.endswith("_total")}
        c.check("/metrics: datagrams counters (..datagram.._total) sum > 0", dgram and sum(dgram.values()) > 0, short(dgram))
        peers = {k: v for k, v in samples.items() if re.search(r"peers?($|_)", k)}
        c.check("/metrics: peers >= 1", peers and max(max(v) for v in peers.values()) >= 1, short(peers))
        c.check("/metrics: every sample value is a number >= 0", samples and all(x >= 0 for v in samples.values() for x in v))

    # -- configuration and restart (last: it restarts the root's mccd)

    def config(self):
        c, api, cfg = self.c, self.api, self.cfg
        with open(cfg["conf"]) as f:
            text = f.read()
        r = api.get("/api/v1/config")
        j = r.json_or_none() or {}
        c.check("GET /api/v1/config: {file: the root's mcc.conf, text: its contents}",
                r.status == 200 and os.path.realpath(j.get("file", "")) == os.path.realpath(cfg["conf"]) and j.get("text") == text, short(j))
        lines = text.rstrip("\n").split("\n")
        bad_line = len(lines) + 1
        for extra, word in (("this line has no equals sign", None), ("no-such-key = 1", "no-such-key")):
            r = api.request("PUT", "/api/v1/config", {"text": text.rstrip("\n") + "\n" + extra + "\n"})
            msg = str((r.json_or_none() or {}).get("error", ""))
            named = re.search(rf"(:{bad_line}\b|line {bad_line}\b)", msg) and (word is None or word in msg)
            c.check(f"PUT /api/v1/config with a bad line {bad_line} ({extra!r}): 400 naming the line", is_error(r, 400) and bool(named), repr(r))
        r = api.request("PUT", "/api/v1/config", {"text": text}, csrf=False)
        c.check("CSRF: PUT /api/v1/config without X-CSRF-Token is 403", is_error(r, 403), repr(r))
        with open(cfg["conf"]) as f:
            c.check("mcc.conf unchanged after the refused PUTs", f.read() == text)
        c.check("the restart command did not run for the refused PUTs", not os.path.exists(cfg["restart_marker"]))
        with open(cfg["mccd_pid_file"]) as f:
            pid0 = f.read().strip()
        new = re.sub(r"(?m)^\s*#?\s*tags\s*=.*\n?", "", text).rstrip("\n") + "\n# edited through mcc-web (web_api.py)\ntags = webtest\n"
        r = api.request("PUT", "/api/v1/config", {"text": new}, timeout=60)
        j = r.json_or_none() or {}
        c.check("PUT /api/v1/config (tags = webtest): 200 {restarted: true, output: the command's}",
                r.status == 200 and j.get("restarted") is True and "mccd restarted" in str(j.get("output")), repr(r))
        with open(cfg["conf"]) as f:
            c.check("mcc.conf holds the new text", f.read() == new)
        c.check("mcc-restart-command ran (its marker file)", os.path.exists(cfg["restart_marker"]))
        with open(cfg["mccd_pid_file"]) as f:
            pid1 = f.read().strip()
        c.check("a new mccd runs (another PID)", pid1 != pid0 and os.path.exists(f"/proc/{pid1}"), f"{pid0} -> {pid1}")
        t0 = time.monotonic()
        up = wait_for(30, lambda: (api.get("/api/v1/node").json_or_none() or {}).get("healthy") is True)
        c.check("GET /api/v1/node healthy again after the restart", up)
        print(f"    mccd back after {time.monotonic() - t0:.1f} s")

        def tagged():
            rows = api.get("/api/v1/nodes").json_or_none()
            return isinstance(rows, list) and any(x.get("node_id") == self.ids["root"] and "webtest" in str(x.get("tags")) for x in rows)
        c.check("the change took effect: GET /api/v1/nodes shows the root tagged webtest", wait_for(20, tagged))

    def logout(self):
        c, api = self.c, self.api
        old = dict(api.cookies)
        r = api.post("/api/v1/logout")
        c.check("POST /api/v1/logout: 204", r.status == 204, repr(r))
        api.cookies = old
        r = api.get("/api/v1/session")
        c.check("after logout the old session cookie gets 401", is_error(r, 401), repr(r))

    def rss(self, after):
        """mcc-web's resident memory after a group of checks (from /proc)."""
        try:
            with open(f"/proc/{self.cfg['web_pid']}/status") as f:
                kb = re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1)
            print(f"    mcc-web VmRSS after {after}: {kb} kB")
        except (OSError, KeyError, AttributeError):
            pass

    def run(self):
        c = self.c

        def s(name, fn):
            r = c.section(name, fn)
            self.rss(name)
            return r
        s("tls", self.tls)
        if s("login", self.login_and_cookies) is None and "mcc-web-session" not in self.api.cookies:
            return self.c
        s("brute force", self.brute_force)
        if self.openapi is None:
            s("openapi", self.openapi_doc)
        if self.openapi is not None:
            s("authentication", self.every_route_needs_login)
        s("node", self.node_and_nodes)
        s("topology", self.topology)
        s("route", self.route_resolve_status_certs)
        s("events", self.events)
        s("tunnels", self.tunnels)
        s("metrics", self.metrics)
        s("config", self.config)
        s("logout", self.logout)
        return self.c


class EventStream:
    """Reads GET /api/v1/events/stream in a thread; stop() returns the parsed data lines."""

    def __init__(self, cfg, api):
        self.api = api
        self.events = []
        self.content_type = ""
        self.error = None
        self.stopping = False
        self.conn = None
        self.thread = threading.Thread(target=self.read, daemon=True)

    def start(self):
        self.thread.start()
        time.sleep(0.5)

    def read(self):
        try:
            self.conn = self.api.connect(60)
            r = self.api.send(self.conn, "GET", "/api/v1/events/stream", None, {"Accept": "text/event-stream"}, False, True)
            self.content_type = r.headers.get("Content-Type", "")
            while not self.stopping:
                line = r.fp.readline()
                if not line:
                    break
                line = line.decode(errors="replace").rstrip("\r\n")
                if line.startswith("data:"):
                    try:
                        self.events.append(json.loads(line[5:].strip()))
                    except ValueError:
                        self.events.append(line)
        except Exception as e:  # noqa: BLE001 - reported by the check
            if not self.stopping:
                self.error = f"{type(e).__name__}: {e}"

    def stop(self):
        self.stopping = True
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass
        self.thread.join(5)
        return self.events


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    if len(sys.argv) == 4 and sys.argv[2] == "--login":
        # web.sh's schemathesis run: a session from another address; prints the session
        # cookie's value and the CSRF token.
        api = Api(sys.argv[3], cfg["cert"])
        r = api.login(cfg["user"], cfg["password"])
        if r.status != 200:
            print(f"login at {sys.argv[3]}: {r!r}", file=sys.stderr)
            return 1
        print(api.cookies["mcc-web-session"], api.csrf)
        return 0
    c = ApiTest(cfg).run()
    print(f"api: {c.passed} passed, {c.failed} failed checks")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
