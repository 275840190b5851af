#!/usr/bin/python3
"""A fault-injecting HTTP proxy in front of azurite, for spec/azure_spec.lua.

    azfaults.py UPSTREAM_PORT

Listens on 127.0.0.1 on a free port and prints that port on stdout.  Every
request goes to azurite on UPSTREAM_PORT unchanged (azurite still checks
every signature: SharedKey signs no host or port), and its answer comes back
unchanged, unless the request's mode says otherwise.

The mode is the first component of the blob name (the driver's
rootdirectory picks it: "MODE.anything/..."); for container requests
(listings) the first component of the prefix.  Counts are kept per whole
request line, so cases do not see each other's.  Modes:

  busy     a request gets 503 ServerBusy its first two times, then goes through
  busyall  every request: 503 ServerBusy
  drop     a request's first time: read, then the connection closes without
           an answer; then it goes through
  cut      a GET of a blob without a range: half the body, then the
           connection closes; ranged GETs go through, each logged on stderr
           as "ranged <path> <range> <if-match>"
  pending  Copy Blob answers x-ms-copy-status: pending (azurite copies at
           once), and so do the first two HEADs of its destination after it;
           each such HEAD is logged on stderr as "poll <path>"
  other    anything: goes through
"""

import http.client
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = int(sys.argv[1])
COUNTS = {}
LOCK = threading.Lock()
BUSY = (b'<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>'
        b'<Message>The server is busy.</Message></Error>')


def mode_of(path):
    u = urllib.parse.urlsplit(path)
    parts = urllib.parse.unquote(u.path).split("/")
    # /account/container/blob...
    if len(parts) > 3 and parts[3]:
        first = parts[3]
    else:
        q = urllib.parse.parse_qs(u.query)
        first = q.get("prefix", [""])[0].split("/")[0]
    return first.split(".")[0], u


def count(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _all(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        mode, u = mode_of(self.path)
        key = self.command + " " + self.path
        if mode == "busyall" or (mode == "busy" and count(key) <= 2):
            self.send_response(503, "The server is busy.")
            self.send_header("x-ms-error-code", "ServerBusy")
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(BUSY)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(BUSY)
            return
        if mode == "drop" and count(key) == 1:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        c = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=60)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        c.request(self.command, self.path, body=body if (n or self.command == "PUT") else None,
                  headers=hdrs)
        r = c.getresponse()
        data = r.read()
        c.close()
        names = {k.lower(): v for k, v in self.headers.items()}
        ranged = "range" in names or "x-ms-range" in names
        cut = (mode == "cut" and self.command == "GET" and r.status == 200 and not ranged and
               len(data) > 1)
        if mode == "cut" and ranged:
            sys.stderr.write("ranged %s %s %s\n" % (u.path, names.get("x-ms-range", names.get("range")),
                                                    names.get("if-match", "-")))
            sys.stderr.flush()
        pending = False
        if mode == "pending" and self.command == "PUT" and "x-ms-copy-source" in names:
            pending = True
            count("pending " + u.path)
        elif mode == "pending" and self.command == "HEAD" and ("pending " + u.path) in COUNTS:
            sys.stderr.write("poll %s\n" % u.path)
            sys.stderr.flush()
            pending = count("pending " + u.path) <= 3
        self.send_response(r.status, r.reason)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "keep-alive"):
                if pending and k.lower() == "x-ms-copy-status":
                    v = "pending"
                self.send_header(k, v)
        self.send_header("Content-Length", r.getheader("Content-Length", "0")
                         if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if cut:
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _all


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    sys.stdout.write("%d\n" % srv.server_address[1])
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
