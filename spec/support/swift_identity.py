#!/usr/bin/python3
# A small OpenStack Identity (Keystone) server for the swift driver's specs:
# the password authentication of Identity API v2.0 (POST /v2.0/tokens) and v3
# (POST /v3/auth/tokens, with project and trust scoping), answering as the
# Identity API reference describes, in front of the local Swift's tempauth:
# the token it hands out is a real tempauth token of the Swift server and the
# catalog's object-store endpoint its storage URL, so a client that
# authenticates here then talks to the real Swift.
#
#   swift_identity.py SWIFT_AUTH_URL SWIFT_USER SWIFT_KEY
#
# prints the port it listens on (127.0.0.1), alone on its first line.
#
# Known to it: domain "Default" (id "default") and domain "other" (id
# "d-other"); user "demo" / "secret" in Default, user "alt" / "secret" in
# "other"; projects "demo" (id "p-demo", domain Default) and "alt" (id
# "p-alt", domain other); trust "t-demo" (for demo).  Anything else is 401.
# The user "nocatalog" / "secret" (Default) gets a catalog without an
# object-store service.  The catalog offers object-store endpoints public,
# internal and admin in RegionOne (the storage URL) and a public one in
# RegionTwo that leads nowhere, so a client that ignores the region fails.
# Under /html/ every request is answered with an HTML page (200).  GET /_last
# gives the last authentication request (password replaced by "***"), so a
# spec can check what a client asked for.
#
# python3-keystoneclient (through the swift command's --auth-version 2 and 3)
# is run against it by spec/swift_spec.lua: the protocol is the real one.

import http.client
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DOMAINS = {"default": "Default", "d-other": "other"}
USERS = {("demo", "default"): ("u-demo", "secret"),
         ("alt", "d-other"): ("u-alt", "secret"),
         ("nocatalog", "default"): ("u-nocatalog", "secret")}
PROJECTS = {"p-demo": ("demo", "default"), "p-alt": ("alt", "d-other")}
TRUSTS = {"t-demo": ("u-demo", "p-demo")}
EXPIRES = "2099-01-01T00:00:00.000000Z"

STATE = {"last": None}
LOCK = threading.Lock()


def swift_token():
    """A fresh tempauth token and the storage URL of the real Swift."""
    u = urllib.parse.urlsplit(SWIFT_AUTH)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        c.request("GET", u.path, headers={"X-Auth-User": SWIFT_USER,
                                          "X-Auth-Key": SWIFT_KEY})
        r = c.getresponse()
        r.read()
        if r.status // 100 != 2:
            raise RuntimeError("swift auth gave HTTP %d" % r.status)
        return r.getheader("X-Auth-Token"), r.getheader("X-Storage-Url")
    finally:
        c.close()


def domain_id(ref):
    """A domain reference {"id"} or {"name"} -> its id, or None."""
    if not isinstance(ref, dict):
        return None
    if "id" in ref:
        return ref["id"] if ref["id"] in DOMAINS else None
    for did, name in DOMAINS.items():
        if name == ref.get("name"):
            return did
    return None


def catalog_v3(storage, with_swift=True):
    eps = [{"id": "e-%s" % i, "interface": i, "region": "RegionOne",
            "region_id": "RegionOne", "url": storage}
           for i in ("public", "internal", "admin")]
    eps.append({"id": "e-two", "interface": "public", "region": "RegionTwo",
                "region_id": "RegionTwo", "url": "http://127.0.0.1:9/v1/AUTH_nowhere"})
    cat = [{"id": "s-identity", "type": "identity", "name": "keystone",
            "endpoints": [{"id": "e-id", "interface": "public", "region": "RegionOne",
                           "region_id": "RegionOne", "url": ORIGIN + "/v3"}]}]
    if with_swift:
        cat.append({"id": "s-swift", "type": "object-store", "name": "swift",
                    "endpoints": eps})
    return cat


def catalog_v2(storage, with_swift=True):
    cat = [{"type": "identity", "name": "keystone",
            "endpoints": [{"region": "RegionOne", "publicURL": ORIGIN + "/v2.0",
                           "internalURL": ORIGIN + "/v2.0",
                           "adminURL": ORIGIN + "/v2.0"}]}]
    if with_swift:
        cat.append({"type": "object-store", "name": "swift", "endpoints": [
            {"region": "RegionOne", "publicURL": storage, "internalURL": storage,
             "adminURL": storage},
            {"region": "RegionTwo", "publicURL": "http://127.0.0.1:9/v1/AUTH_nowhere"}]})
    return cat


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, headers=None, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def unauthorized(self):
        self.send(401, {"error": {"code": 401, "title": "Unauthorized",
                                  "message": "The request you have made requires "
                                             "authentication."}},
                  {"WWW-Authenticate": 'Keystone uri="%s"' % ORIGIN})

    def html(self):
        self.send(200, b"<html><head><title>Welcome</title></head><body><h1>It works!"
                       b"</h1></body></html>", ctype="text/html; charset=UTF-8")

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw.decode() or "null")
        except ValueError:
            return None

    def remember(self, doc):
        text = json.dumps(doc)
        masked = json.loads(text)
        try:
            a = masked["auth"]
            if "passwordCredentials" in a:
                a["passwordCredentials"]["password"] = "***"
            else:
                a["identity"]["password"]["user"]["password"] = "***"
        except (KeyError, TypeError):
            pass
        with LOCK:
            STATE["last"] = masked

    def do_GET(self):
        if self.path.startswith("/html/"):
            return self.html()
        if self.path == "/_last":
            with LOCK:
                return self.send(200, STATE["last"])
        if self.path.rstrip("/") in ("/v3", "/v2.0", ""):
            v = "v3.14" if self.path.startswith("/v3") else "v2.0"
            href = ORIGIN + ("/v3/" if v.startswith("v3") else "/v2.0/")
            return self.send(200, {"version": {
                "id": v, "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": href}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-%s+json"
                                 % v.split(".")[0]}]}})
        self.send(404, {"error": {"code": 404, "title": "Not Found",
                                  "message": "Could not find %s" % self.path}})

    def do_POST(self):
        if self.path.startswith("/html/"):
            self.body()
            return self.html()
        path = self.path.split("?")[0].rstrip("/")
        doc = self.body()
        if not isinstance(doc, dict) or not isinstance(doc.get("auth"), dict):
            return self.send(400, {"error": {"code": 400, "title": "Bad Request",
                                             "message": "Expecting to find auth in request body."}})
        self.remember(doc)
        if path == "/v2.0/tokens":
            return self.v2(doc["auth"])
        if path == "/v3/auth/tokens":
            return self.v3(doc["auth"])
        self.send(404, {"error": {"code": 404, "title": "Not Found",
                                  "message": "Could not find %s" % self.path}})

    def v2(self, auth):
        cred = auth.get("passwordCredentials") or {}
        user = USERS.get((cred.get("username"), "default"))
        if not user or user[1] != cred.get("password"):
            return self.unauthorized()
        tenant = None
        if auth.get("tenantId"):
            tenant = auth["tenantId"] if auth["tenantId"] in PROJECTS else False
        elif auth.get("tenantName"):
            tenant = next((pid for pid, (n, d) in PROJECTS.items()
                           if n == auth["tenantName"] and d == "default"), False)
        if tenant is False:
            return self.unauthorized()
        token, storage = swift_token()
        access = {"token": {"id": token, "expires": EXPIRES},
                  "user": {"id": user[0], "name": cred.get("username"), "roles": []},
                  "serviceCatalog": catalog_v2(storage, cred.get("username") != "nocatalog")
                  if tenant else []}
        if tenant:
            access["token"]["tenant"] = {"id": tenant, "name": PROJECTS[tenant][0],
                                         "enabled": True}
        self.send(200, {"access": access})

    def v3(self, auth):
        ident = auth.get("identity") or {}
        if "password" not in (ident.get("methods") or []):
            return self.unauthorized()
        u = (ident.get("password") or {}).get("user") or {}
        if "id" in u:
            match = [(k, v) for k, v in USERS.items() if v[0] == u["id"]]
        else:
            did = domain_id(u.get("domain"))
            match = [((u.get("name"), did), USERS[(u.get("name"), did)])] \
                if (u.get("name"), did) in USERS else []
        if not match or match[0][1][1] != u.get("password"):
            return self.unauthorized()
        (uname, udom), (uid, _) = match[0]
        scope = auth.get("scope")
        project = None
        if isinstance(scope, dict) and "project" in scope:
            p = scope["project"] or {}
            if "id" in p:
                project = p["id"] if p["id"] in PROJECTS else None
            else:
                did = domain_id(p.get("domain"))
                project = next((pid for pid, (n, d) in PROJECTS.items()
                                if n == p.get("name") and d == did), None)
            if project is None:
                return self.unauthorized()
        elif isinstance(scope, dict) and "OS-TRUST:trust" in scope:
            trust = TRUSTS.get((scope["OS-TRUST:trust"] or {}).get("id"))
            if not trust or trust[0] != uid:
                return self.unauthorized()
            project = trust[1]
        token, storage = swift_token()
        body = {"token": {
            "methods": ["password"], "expires_at": EXPIRES,
            "issued_at": "2020-01-01T00:00:00.000000Z",
            "user": {"id": uid, "name": uname,
                     "domain": {"id": udom, "name": DOMAINS[udom]}},
            "audit_ids": ["a-1"]}}
        if project:
            pname, pdom = PROJECTS[project]
            body["token"]["project"] = {"id": project, "name": pname,
                                        "domain": {"id": pdom, "name": DOMAINS[pdom]}}
            body["token"]["roles"] = [{"id": "r-member", "name": "member"}]
            body["token"]["catalog"] = catalog_v3(storage, uname != "nocatalog")
        self.send(201, body, {"X-Subject-Token": token})


def main(argv):
    global SWIFT_AUTH, SWIFT_USER, SWIFT_KEY, ORIGIN
    if len(argv) != 4:
        sys.stderr.write("usage: %s SWIFT_AUTH_URL SWIFT_USER SWIFT_KEY\n" % argv[0])
        return 2
    SWIFT_AUTH, SWIFT_USER, SWIFT_KEY = argv[1:4]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    port = srv.server_address[1]
    ORIGIN = "http://127.0.0.1:%d" % port
    sys.stdout.write("%d\n" % port)
    sys.stdout.flush()
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
