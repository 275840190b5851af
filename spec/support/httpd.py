#!/usr/bin/python3
"""A tiny misbehaving HTTP server for tests/http_test.c (spec/http_spec.lua).

    httpd.py [--tls CERT KEY]

Listens on 127.0.0.1 on a free port and prints that port on stdout; with
--tls it speaks HTTPS with that certificate and key (PEM files).
Endpoints (KEY is any string, so that cases do not see each other's counts):
  /echo                 answers 200 with the request body (chunked bodies too),
                        X-Method: the method, X-Got-Test: the X-Test header
  /flaky?key=KEY        503 the first two times for KEY, then 200 "ok"
  /throttle?key=KEY     always 429
  /count?key=KEY        how many requests /flaky or /throttle saw for KEY
  /drop                 Content-Length: 1000, sends 10 bytes, closes
  /huge                 a 64 MiB body (stops when the client goes away)
  /badstatus            a garbage status line
  /stall                headers and 5 of 100 bytes, then nothing for 30 s
  /stallhead            headers announcing 100 bytes, then nothing for 30 s
  /bytes?n=N            N bytes of "abc...zabc..." (byte i is 'a' + i % 26);
                        &chunked=1: in chunks, no Content-Length;
                        &cut=M: only the first M bytes, then the connection
                        closes (&reset=1: aborted with a TCP reset);
                        Range: bytes=A-B: 206 with bytes A..B of the N (cut
                        still counts from byte 0 of the N)
  /conns                how many TCP connections were accepted so far
"""
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import loopback

# Whole periods of the pattern, so that block after block continues it.
PATTERN = bytes(ord("a") + i % 26 for i in range(26)) * 40330
lock = threading.Lock()
hits = {}
conns = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        with lock:
            conns[0] += 1
        super().setup()

    def log_message(self, fmt, *args):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0") or "0")
        return self.rfile.read(n) if n else b""

    def send(self, status, body=b"", extra=None):
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_bytes(self, q):
        n = int(q.get("n", ["0"])[0])
        cut = int(q.get("cut", [str(n)])[0])
        chunked = q.get("chunked", [""])[0] == "1"
        first, last = 0, n - 1
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and not chunked:
            a, b = rng[6:].split("-")
            first, last = int(a), min(int(b or n - 1), n - 1)
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, n))
        else:
            self.send_response(200)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(last + 1 - first))
        self.end_headers()
        pos, end = first, min(last + 1, cut)
        try:
            while pos < end:
                # PATTERN is whole periods of 26: slicing from pos % 26 goes on
                # with byte pos.
                k = min(len(PATTERN) - 26, end - pos)
                piece = PATTERN[pos % 26:pos % 26 + k]
                if chunked:
                    self.wfile.write(b"%x\r\n" % k + piece + b"\r\n")
                else:
                    self.wfile.write(piece)
                pos += k
            if chunked and cut >= n:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass  # the client went away
        if cut <= last:
            if q.get("reset", [""])[0] == "1":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            self.close_connection = True

    def count(self, key):
        with lock:
            hits[key] = hits.get(key, 0) + 1
            return hits[key]

    def handle_any(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        key = q.get("key", [""])[0]
        body = self.read_body()
        p = u.path
        if p == "/echo":
            self.send(200, body, {"X-Method": self.command,
                                  "X-Got-Test": self.headers.get("X-Test", "")})
        elif p == "/flaky":
            n = self.count(key)
            if n <= 2:
                self.send(503, b"<Error><Code>SlowDown</Code></Error>")
            else:
                self.send(200, b"ok")
        elif p == "/throttle":
            self.count(key)
            self.send(429, b"slow down", {"Retry-After": "0"})
        elif p == "/count":
            with lock:
                self.send(200, str(hits.get(key, 0)).encode())
        elif p == "/conns":
            with lock:
                self.send(200, str(conns[0]).encode())
        elif p == "/drop":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
        elif p == "/huge":
            self.send_response(200)
            self.send_header("Content-Length", str(64 << 20))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(1024):
                    self.wfile.write(chunk)
            except OSError:
                pass
            self.close_connection = True
        elif p == "/badstatus":
            self.wfile.write(b"HTTX/9 banana\r\nfoo\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
        elif p == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"12345")
            self.wfile.flush()
            time.sleep(30)
            self.close_connection = True
        elif p == "/stallhead":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            time.sleep(30)
            self.close_connection = True
        elif p == "/bytes":
            self.send_bytes(q)
        else:
            self.send(404, b"not found")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


if __name__ == "__main__":
    loopback.serve(Handler)
