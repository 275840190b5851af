#!/usr/bin/python3
"""An S3 server that misbehaves on purpose, for spec/s3_hostile_spec.lua.

    s3hostile.py [--tls CERT KEY]

Listens on 127.0.0.1 on a free port (HTTPS with --tls) and prints that port
on stdout.  It keeps objects and multipart uploads in memory and answers
path-style S3 requests (one bucket, any name) like S3 does, unless the
request's mode says otherwise.  It checks no signature.

The mode of a request is the first component of its key: the driver's
rootdirectory selects it.  For requests on the bucket (listings) it is the
first component of the prefix, for DeleteObjects that of the first key.  A
root "MODE.anything" plays MODE; the whole root keys the counts, so that
cases do not see each other's.  Modes (anything else is "ok": no trouble):

  garbage     listings (objects, uploads, parts) answer 200 with bytes that
              are no XML
  deepxml     listings answer 200 with elements nested 100,000 deep
  bigxml      listings answer 200 with one 100 MiB <Key> (Content-Length
              told; the server stops when the client goes)
  entities    listings answer 200 with a "billion laughs" DOCTYPE
  errbody     CopyObject, UploadPartCopy and CompleteMultipartUpload answer
              200 with an <Error> body (InternalError)
  errbodyws   the same after white space, as S3 sends while it copies
  shortlen    every answer but HEAD's and DELETE's announces more than it
              sends (half the body; 100 bytes of none), then the connection
              closes; a PUT stores its object all the same
  reset       a GET of an object without Range sends half the body, then a
              TCP reset; a ranged GET is served (206) only with If-Match
              naming the object's ETag (else 412 PreconditionFailed)
  resetall    every GET of an object: half its (ranged) body, then a reset
  swap        as reset, but the object "changed" meanwhile: a ranged GET's
              If-Match never matches (412)
  badstatus   every answer is a garbage status line
  drop        every request: read it, close the connection without a word
  flaky       a request (method + path + query) gets 503 SlowDown its first
              two times, then the normal answer
  slowdown    every request: 503 with <Code>SlowDown</Code> (HEAD: no body)
  e500        every request: 500 without a body
  bigerror    every request: 500 with a 20 MiB body
  hang        every request is read and never answered (the connection is
              held 40 s, then closed)
  drip        a GET is answered 200, Content-Length 100000, one byte every
              half second (above libcurl's low-speed limit of 1 byte/s)
  head403     HEAD answers 403 without a body; the rest is normal
  headbadlen  HEAD answers 200 with "Content-Length: lots"
  notoken     listings say IsTruncated=true without a NextContinuationToken
  looptoken   listings say IsTruncated=true with the same token, forever
              (each after 50 ms)
  noetag      UploadPart answers 200 without an ETag (the part is not kept)
  denied      every request: 403 SignatureDoesNotMatch, AWS's body with the
              request's signature in <SignatureProvided>
  echoauth    as denied, but <Message> quotes the request's Authorization
  nobucket    every request: 404 NoSuchBucket
  moved       every request: 301 PermanentRedirect
  hugeheader  every answer carries a 1 MiB header line
  putreset    a PUT of an object: its first try reads half the body and
              resets the connection; later tries are normal
  putresetall every PUT of an object ends that way

Control endpoints (outside any bucket):
  /__count?root=R   how many requests the root R saw
  /__log?root=R     one line per request of root R:
                    "METHOD /path?query range=... if-match=... sig=..."
  /__state?root=R   "object KEY SIZE" and "upload KEY ID" lines under root R
"""
import base64
import hashlib
import re
import socket
import struct
import threading
import time
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

import loopback

NS = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
lock = threading.Lock()
objects = {}   # key -> {"data", "etag", "mtime", "meta"}
uploads = {}   # id -> {"key", "parts": {num: (data, etag)}, "meta", "initiated"}
counts = {}    # root -> requests
flaky = {}     # (root, method, path?query) -> requests
log = {}       # root -> [lines]


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def md5_etag(data):
    return '"%s"' % hashlib.md5(data).hexdigest()


def error_xml(code, message, extra=""):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
            '<Message>%s</Message>%s<RequestId>hostile</RequestId></Error>'
            % (code, escape(message), extra)).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3hostile"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    # ------------------------------------------------------------ plumbing

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "").lower()
        if te == "chunked":
            out = b""
            while True:
                line = self.rfile.readline()
                if not line:
                    return out
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                out += self.rfile.read(size)
                self.rfile.readline()
            body = out
        else:
            n = int(self.headers.get("Content-Length", "0") or "0")
            body = self.rfile.read(n) if n else b""
        if self.headers.get("x-amz-content-sha256", "").startswith("STREAMING-"):
            body = self.aws_chunked(body)
        return body

    @staticmethod
    def aws_chunked(body):
        """The payload of an aws-chunked body ("hex;chunk-signature=..." framing)."""
        out, pos = b"", 0
        while pos < len(body):
            eol = body.index(b"\r\n", pos)
            size = int(body[pos:eol].split(b";")[0], 16)
            pos = eol + 2
            if size == 0:
                break
            out += body[pos:pos + size]
            pos += size + 2
        return out

    def send(self, status, body=b"", headers=None, ctype="application/xml"):
        self.send_response(status)
        if body and ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error_xml(self, status, code, message, extra=""):
        self.send(status, error_xml(code, message, extra))

    def reset(self):
        """Ends the connection with a TCP reset (no FIN: see shutdown_request)."""
        try:
            self.wfile.flush()
        except OSError:
            pass
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with lock:
            self.server.resets.add(self.connection.fileno())
        self.close_connection = True

    # ------------------------------------------------------------ routing

    def parse(self):
        u = urlsplit(self.path)
        self.query = parse_qs(u.query, keep_blank_values=True)
        self.rawquery = u.query
        parts = u.path.split("/", 2)
        self.bucket = unquote(parts[1]) if len(parts) > 1 else ""
        self.key = unquote(parts[2]) if len(parts) > 2 else ""
        self.body = self.read_body()
        where = self.key
        if not where:
            where = self.q("prefix")
        if not where and self.command == "POST" and "delete" in self.query:
            m = re.search(rb"<Key>([^<]*)</Key>", self.body)
            where = m.group(1).decode() if m else ""
        self.root = where.split("/", 1)[0]
        self.mode = self.root.split(".", 1)[0]

    def q(self, name, default=""):
        return self.query.get(name, [default])[0]

    def record(self):
        auth = self.headers.get("Authorization", "")
        m = re.search(r"Signature=([0-9a-f]+)", auth)
        self.signature = m.group(1) if m else ""
        line = "%s %s range=%s if-match=%s sig=%s" % (
            self.command, self.path, self.headers.get("Range", "-"),
            self.headers.get("If-Match", "-"), self.signature or "-")
        with lock:
            counts[self.root] = counts.get(self.root, 0) + 1
            log.setdefault(self.root, []).append(line)

    def handle_any(self):
        if self.path.startswith("/__"):
            self.read_body()
            return self.control()
        self.parse()
        self.record()
        hostile = getattr(self, "mode_" + self.mode, None)
        if hostile is None or not hostile():
            self.s3()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    def control(self):
        u = urlsplit(self.path)
        root = parse_qs(u.query).get("root", [""])[0]
        with lock:
            if u.path == "/__count":
                text = str(counts.get(root, 0))
            elif u.path == "/__log":
                text = "\n".join(log.get(root, []))
            elif u.path == "/__state":
                lines = ["object %s %d" % (k, len(o["data"]))
                         for k, o in sorted(objects.items()) if k.split("/", 1)[0] == root]
                lines += ["upload %s %s" % (up["key"], i)
                          for i, up in sorted(uploads.items())
                          if up["key"].split("/", 1)[0] == root]
                text = "\n".join(lines)
            else:
                return self.send(404, b"no such control endpoint", ctype="text/plain")
        self.send(200, text.encode(), ctype="text/plain")

    # ------------------------------------------------------------ S3 done right

    def is_listing(self):
        return self.command == "GET" and (not self.key or "uploadId" in self.query)

    def s3(self):
        c, k, qy = self.command, self.key, self.query
        if not k:
            if c == "GET" and "uploads" in qy:
                return self.list_uploads()
            if c == "GET":
                return self.list_objects()
            if c == "POST" and "delete" in qy:
                return self.delete_objects()
            if c == "HEAD":
                return self.send(200)
            return self.send_error_xml(400, "InvalidRequest", "not supported here")
        if c == "PUT" and "uploadId" in qy:
            return self.upload_part()
        if c == "PUT":
            return self.put_object()
        if c == "POST" and "uploads" in qy:
            return self.initiate()
        if c == "POST" and "uploadId" in qy:
            return self.complete()
        if c == "DELETE" and "uploadId" in qy:
            with lock:
                uploads.pop(self.q("uploadId"), None)
            return self.send(204)
        if c == "GET" and "uploadId" in qy:
            return self.list_parts()
        if c in ("GET", "HEAD"):
            return self.get_object()
        if c == "DELETE":
            with lock:
                objects.pop(k, None)
            return self.send(204)
        return self.send_error_xml(405, "MethodNotAllowed", "not supported")

    def user_meta(self):
        return {h.lower(): v for h, v in self.headers.items()
                if h.lower().startswith("x-amz-meta-")}

    def copy_source(self):
        src = self.headers.get("x-amz-copy-source")
        if src is None:
            return None, None
        src = unquote(src.split("?", 1)[0]).lstrip("/")
        key = src.split("/", 1)[1] if "/" in src else ""
        with lock:
            o = objects.get(key)
        return key, o

    def put_object(self):
        key, src = self.copy_source()
        if key is not None:
            if src is None:
                return self.send_error_xml(404, "NoSuchKey", "The specified key does not exist.")
            data = src["data"]
            meta = (self.user_meta() if self.headers.get("x-amz-metadata-directive") == "REPLACE"
                    else src["meta"])
        else:
            data, meta = self.body, self.user_meta()
        o = {"data": data, "etag": md5_etag(data), "mtime": time.time(), "meta": meta}
        with lock:
            objects[self.key] = o
        if key is not None:
            return self.send(200, ('<CopyObjectResult%s><LastModified>%s</LastModified>'
                                   '<ETag>%s</ETag></CopyObjectResult>'
                                   % (NS, iso(o["mtime"]), escape(o["etag"]))).encode())
        self.send(200, headers={"ETag": o["etag"]})

    def object_headers(self, o):
        h = {"ETag": o["etag"], "Last-Modified": formatdate(o["mtime"], usegmt=True),
             "Accept-Ranges": "bytes"}
        h.update(o["meta"])
        return h

    def get_object(self):
        with lock:
            o = objects.get(self.key)
        if o is None:
            if self.command == "HEAD":
                return self.send(404)
            return self.send_error_xml(404, "NoSuchKey", "The specified key does not exist.")
        im = self.headers.get("If-Match")
        if im is not None and im != o["etag"] and im != "*":
            return self.send_error_xml(412, "PreconditionFailed",
                                       "At least one of the pre-conditions you specified did not hold")
        data, status, h = o["data"], 200, self.object_headers(o)
        rng = self.headers.get("Range")
        if rng:
            m = re.match(r"bytes=(\d+)-(\d*)$", rng)
            first = int(m.group(1))
            last = int(m.group(2)) if m.group(2) else len(data) - 1
            if first >= len(data):
                return self.send_error_xml(416, "InvalidRange",
                                           "The requested range is not satisfiable")
            last = min(last, len(data) - 1)
            h["Content-Range"] = "bytes %d-%d/%d" % (first, last, len(data))
            data, status = data[first:last + 1], 206
        if self.command == "HEAD":
            self.send_response(status)
            for k, v in h.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return
        self.send(status, data, h, ctype="application/octet-stream")

    def list_objects(self):
        prefix, delim = self.q("prefix"), self.q("delimiter")
        max_keys = int(self.q("max-keys", "1000"))
        start = self.q("start-after")
        token = self.q("continuation-token")
        if token:
            start = base64.urlsafe_b64decode(token.encode()).decode()
        url = self.q("encoding-type") == "url"
        enc = (lambda s: quote(s, safe="/")) if url else (lambda s: s)
        with lock:
            keys = sorted(k for k in objects if k.startswith(prefix) and k > start)
            snap = {k: objects[k] for k in keys}
        contents, prefixes, n, last, truncated = [], [], 0, None, False
        seen = set()
        for k in keys:
            rest = k[len(prefix):]
            if delim and delim in rest:
                cp = prefix + rest.split(delim, 1)[0] + delim
                if cp in seen:
                    last = k
                    continue
                if n == max_keys:
                    truncated = True
                    break
                seen.add(cp)
                prefixes.append(cp)
            else:
                if n == max_keys:
                    truncated = True
                    break
                contents.append(k)
            n += 1
            last = k
        xml = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult%s>' % NS,
               "<Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount>"
               "<MaxKeys>%d</MaxKeys><IsTruncated>%s</IsTruncated>"
               % (escape(self.bucket), escape(enc(prefix)), n, max_keys,
                  "true" if truncated else "false")]
        if url:
            xml.append("<EncodingType>url</EncodingType>")
        if delim:
            xml.append("<Delimiter>%s</Delimiter>" % escape(enc(delim)))
        if truncated:
            xml.append("<NextContinuationToken>%s</NextContinuationToken>"
                       % base64.urlsafe_b64encode(last.encode()).decode())
        for k in contents:
            o = snap[k]
            xml.append("<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>%s</ETag>"
                       "<Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>"
                       % (escape(enc(k)), iso(o["mtime"]), escape(o["etag"]), len(o["data"])))
        for p in prefixes:
            xml.append("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % escape(enc(p)))
        xml.append("</ListBucketResult>")
        self.send(200, "".join(xml).encode())

    def delete_objects(self):
        keys = [unquote_xml(k) for k in re.findall(r"<Key>([^<]*)</Key>", self.body.decode())]
        with lock:
            for k in keys:
                objects.pop(k, None)
        self.send(200, ('<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult%s></DeleteResult>'
                        % NS).encode())

    def initiate(self):
        uid = uuid.uuid4().hex
        with lock:
            uploads[uid] = {"key": self.key, "parts": {}, "meta": self.user_meta(),
                            "initiated": time.time()}
        self.send(200, ("<InitiateMultipartUploadResult%s><Bucket>%s</Bucket><Key>%s</Key>"
                        "<UploadId>%s</UploadId></InitiateMultipartUploadResult>"
                        % (NS, escape(self.bucket), escape(self.key), uid)).encode())

    def upload(self):
        with lock:
            up = uploads.get(self.q("uploadId"))
        if up is None or up["key"] != self.key:
            self.send_error_xml(404, "NoSuchUpload", "The specified upload does not exist.")
            return None
        return up

    def upload_part(self, etag_header=True):
        up = self.upload()
        if up is None:
            return
        num = int(self.q("partNumber"))
        key, src = self.copy_source()
        if key is not None:
            if src is None:
                return self.send_error_xml(404, "NoSuchKey", "The specified key does not exist.")
            m = re.match(r"bytes=(\d+)-(\d+)$", self.headers.get("x-amz-copy-source-range", ""))
            data = src["data"][int(m.group(1)):int(m.group(2)) + 1] if m else src["data"]
        else:
            data = self.body
        etag = md5_etag(data)
        if etag_header or key is not None:
            with lock:
                up["parts"][num] = (data, etag)
        if key is not None:
            return self.send(200, ("<CopyPartResult><LastModified>%s</LastModified><ETag>%s</ETag>"
                                   "</CopyPartResult>" % (iso(time.time()), escape(etag))).encode())
        self.send(200, headers={"ETag": etag} if etag_header else None)

    def complete(self):
        up = self.upload()
        if up is None:
            return
        body = self.body.decode()
        nums = [int(n) for n in re.findall(r"<PartNumber>(\d+)</PartNumber>", body)]
        etags = [unquote_xml(e) for e in re.findall(r"<ETag>([^<]*)</ETag>", body)]
        data, md5s = b"", b""
        for n, e in zip(nums, etags):
            part = up["parts"].get(n)
            if part is None or part[1] != e:
                return self.send_error_xml(400, "InvalidPart",
                                           "One or more of the specified parts could not be found.")
            data += part[0]
            md5s += hashlib.md5(part[0]).digest()
        etag = '"%s-%d"' % (hashlib.md5(md5s).hexdigest(), len(nums))
        with lock:
            objects[self.key] = {"data": data, "etag": etag, "mtime": time.time(),
                                 "meta": up["meta"]}
            uploads.pop(self.q("uploadId"), None)
        self.send(200, ("<CompleteMultipartUploadResult%s><Bucket>%s</Bucket><Key>%s</Key>"
                        "<ETag>%s</ETag></CompleteMultipartUploadResult>"
                        % (NS, escape(self.bucket), escape(self.key), escape(etag))).encode())

    def list_uploads(self):
        prefix = self.q("prefix")
        with lock:
            ups = sorted((u["key"], i) for i, u in uploads.items() if u["key"].startswith(prefix))
        xml = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult%s>' % NS,
               "<Bucket>%s</Bucket><Prefix>%s</Prefix><MaxUploads>1000</MaxUploads>"
               "<IsTruncated>false</IsTruncated>" % (escape(self.bucket), escape(prefix))]
        for k, i in ups:
            xml.append("<Upload><Key>%s</Key><UploadId>%s</UploadId><Initiated>%s</Initiated>"
                       "</Upload>" % (escape(k), i, iso(uploads[i]["initiated"])))
        xml.append("</ListMultipartUploadsResult>")
        self.send(200, "".join(xml).encode())

    def list_parts(self):
        up = self.upload()
        if up is None:
            return
        marker = int(self.q("part-number-marker", "0") or "0")
        with lock:
            parts = sorted((n, p) for n, p in up["parts"].items() if n > marker)
        xml = ["<ListPartsResult%s><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId>"
               "<PartNumberMarker>%d</PartNumberMarker><MaxParts>1000</MaxParts>"
               "<IsTruncated>false</IsTruncated>"
               % (NS, escape(self.bucket), escape(self.key), self.q("uploadId"), marker)]
        for n, (data, etag) in parts:
            xml.append("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag><Size>%d</Size></Part>"
                       % (n, escape(etag), len(data)))
        xml.append("</ListPartsResult>")
        self.send(200, "".join(xml).encode())

    # ------------------------------------------------------------ S3 done wrong
    # Each returns True when it answered, False to let S3 answer normally.

    def listing_only(self, body, status=200):
        if not self.is_listing():
            return False
        self.send(status, body)
        return True

    def mode_garbage(self):
        return self.listing_only(b"\x00\xff<<<this is not XML>>> &&& <ListBucketResult")

    def mode_deepxml(self):
        return self.listing_only(b"<ListBucketResult>" + b"<a>" * 100000 + b"</a>" * 100000 +
                                 b"</ListBucketResult>")

    def mode_entities(self):
        lol = ['<!ENTITY l0 "lol">'] + ['<!ENTITY l%d "%s">' % (i, ("&l%d;" % (i - 1)) * 10)
                                        for i in range(1, 10)]
        return self.listing_only(('<?xml version="1.0"?>\n<!DOCTYPE ListBucketResult [%s]>'
                                  '<ListBucketResult><Contents><Key>&l9;</Key></Contents>'
                                  '</ListBucketResult>' % "".join(lol)).encode())

    def mode_bigxml(self):
        if not self.is_listing():
            return False
        head, tail = b"<ListBucketResult><Contents><Key>", b"</Key></Contents></ListBucketResult>"
        block = b"k" * (1 << 20)
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(head) + 100 * len(block) + len(tail)))
        self.end_headers()
        try:
            self.wfile.write(head)
            for _ in range(100):
                self.wfile.write(block)
            self.wfile.write(tail)
        except OSError:
            self.close_connection = True
        return True

    def mode_errbody(self, keepalive=b""):
        copying = self.command == "PUT" and "x-amz-copy-source" in self.headers
        completing = self.command == "POST" and "uploadId" in self.query
        if not (copying or completing):
            return False
        self.send(200, keepalive + error_xml("InternalError",
                                             "We encountered an internal error. Please try again."))
        return True

    def mode_errbodyws(self):
        return self.mode_errbody(keepalive=b"   \n  ")

    def mode_shortlen(self):
        if self.command in ("HEAD", "DELETE"):
            return False
        # The normal answer (a PUT stores its object), cut: half its body, or
        # for an answer without one a Content-Length of 100; then the
        # connection closes.
        real, self.wfile = self.wfile, _Capture()
        try:
            self.s3()
        finally:
            captured, self.wfile = self.wfile.getvalue(), real
        head, _, body = captured.partition(b"\r\n\r\n")
        if not body:
            head = re.sub(rb"Content-Length: \d+", b"Content-Length: 100", head)
        self.wfile.write(head + b"\r\n\r\n" + body[:len(body) // 2])
        self.wfile.flush()
        self.close_connection = True
        return True

    def object_or_none(self):
        with lock:
            return objects.get(self.key)

    def send_half_then_reset(self, o, first=0):
        data = o["data"][first:]
        self.send_response(206 if first else 200)
        for k, v in self.object_headers(o).items():
            self.send_header(k, v)
        if first:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, len(o["data"]) - 1,
                                                                len(o["data"])))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            # Time for the client to take what was sent before the reset.
            time.sleep(0.15)
        except OSError:
            pass
        self.reset()
        return True

    def mode_reset(self):
        o = self.object_or_none()
        if self.command != "GET" or not self.key or self.query or o is None:
            return False
        if "Range" not in self.headers:
            return self.send_half_then_reset(o)
        if self.headers.get("If-Match") != o["etag"]:
            self.send_error_xml(412, "PreconditionFailed",
                                "a ranged GET without If-Match naming the ETag")
            return True
        return False

    def mode_resetall(self):
        o = self.object_or_none()
        if self.command != "GET" or not self.key or self.query or o is None:
            return False
        m = re.match(r"bytes=(\d+)-$", self.headers.get("Range", "bytes=0-"))
        return self.send_half_then_reset(o, int(m.group(1)) if m else 0)

    def mode_swap(self):
        o = self.object_or_none()
        if self.command != "GET" or not self.key or self.query or o is None:
            return False
        if "Range" not in self.headers:
            return self.send_half_then_reset(o)
        self.send_error_xml(412, "PreconditionFailed",
                            "At least one of the pre-conditions you specified did not hold")
        return True

    def mode_badstatus(self):
        self.wfile.write(b"HTTX/9 banana\r\nfoo\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True
        return True

    def mode_drop(self):
        self.close_connection = True
        return True

    def mode_flaky(self):
        with lock:
            k = (self.root, self.command, self.path)
            flaky[k] = flaky.get(k, 0) + 1
            n = flaky[k]
        if n > 2:
            return False
        self.send_error_xml(503, "SlowDown", "Please reduce your request rate.")
        return True

    def mode_slowdown(self):
        self.send_error_xml(503, "SlowDown", "Please reduce your request rate.")
        return True

    def mode_e500(self):
        self.send(500)
        return True

    def mode_bigerror(self):
        self.send(500, b"x" * (20 << 20), ctype="text/plain")
        return True

    def mode_hang(self):
        time.sleep(40)
        self.close_connection = True
        return True

    def mode_drip(self):
        if self.command != "GET":
            return False
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        try:
            for _ in range(100000):
                self.wfile.write(b"d")
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass
        self.close_connection = True
        return True

    def mode_head403(self):
        if self.command != "HEAD":
            return False
        self.send(403)
        return True

    def mode_headbadlen(self):
        if self.command != "HEAD":
            return False
        self.send_response(200)
        self.send_header("Content-Length", "lots")
        self.end_headers()
        self.close_connection = True
        return True

    def truncated_listing(self, token):
        if not self.is_listing() or "list-type" not in self.query:
            return False
        self.send(200, ('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult%s>'
                        "<Name>%s</Name><Prefix>%s</Prefix><KeyCount>1</KeyCount>"
                        "<MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>%s"
                        "<Contents><Key>%s/a</Key><Size>1</Size></Contents></ListBucketResult>"
                        % (NS, escape(self.bucket), escape(self.q("prefix")), token,
                           escape(self.root))).encode())
        return True

    def mode_notoken(self):
        return self.truncated_listing("")

    def mode_looptoken(self):
        time.sleep(0.05)  # a client that loops asks 20 times a second, not more
        return self.truncated_listing("<NextContinuationToken>again</NextContinuationToken>")

    def mode_noetag(self):
        if self.command != "PUT" or "uploadId" not in self.query:
            return False
        self.upload_part(etag_header=False)
        return True

    def mode_denied(self, echo=False):
        sts = ("AWS4-HMAC-SHA256\n%s\n..." % self.headers.get("x-amz-date", ""))
        msg = ("The request signature we calculated does not match the signature you "
               "provided. Check your key and signing method.")
        if echo:
            msg += " You sent: " + self.headers.get("Authorization", "")
        self.send_error_xml(403, "SignatureDoesNotMatch", msg,
                            "<AWSAccessKeyId>AK</AWSAccessKeyId><StringToSign>%s</StringToSign>"
                            "<SignatureProvided>%s</SignatureProvided>"
                            % (escape(sts), self.signature))
        return True

    def mode_echoauth(self):
        return self.mode_denied(echo=True)

    def mode_nobucket(self):
        self.send_error_xml(404, "NoSuchBucket", "The specified bucket does not exist",
                            "<BucketName>%s</BucketName>" % escape(self.bucket))
        return True

    def mode_moved(self):
        self.send_error_xml(301, "PermanentRedirect",
                            "The bucket you are attempting to access must be addressed using "
                            "the specified endpoint.",
                            "<Endpoint>%s.s3.eu-west-1.amazonaws.com</Endpoint>"
                            % escape(self.bucket))
        return True

    def mode_hugeheader(self):
        self.send_response(200)
        self.send_header("X-Junk", "j" * (1 << 20))
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.close_connection = True
        return True

    def mode_putreset(self, always=False):
        if self.command != "PUT" or not self.key or self.query:
            return False
        with lock:
            k = (self.root, "putreset", self.key)
            flaky[k] = flaky.get(k, 0) + 1
            first = flaky[k] == 1
        if not (first or always):
            return False
        # The body was read whole already (parse): answering with a reset
        # is what the client sees of a connection lost mid-upload.
        self.reset()
        return True

    def mode_putresetall(self):
        return self.mode_putreset(always=True)


class _Capture:
    def __init__(self):
        self.parts = []

    def write(self, b):
        self.parts.append(bytes(b))
        return len(b)

    def flush(self):
        pass

    def getvalue(self):
        return b"".join(self.parts)


def unquote_xml(s):
    return (s.replace("&quot;", '"').replace("&apos;", "'").replace("&lt;", "<")
            .replace("&gt;", ">").replace("&amp;", "&"))


class Server(loopback.Server):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.resets = set()  # descriptors of connections to end with a reset

    def shutdown_request(self, request):
        # socketserver half-closes (FIN) before closing; a connection to be
        # reset must be closed at once, so that SO_LINGER 0 sends a RST.
        with lock:
            reset = request.fileno() in self.resets
            self.resets.discard(request.fileno())
        if reset:
            self.close_request(request)
        else:
            super().shutdown_request(request)


if __name__ == "__main__":
    loopback.serve(Handler, Server)
