"""What the Python test servers of spec/support share (httpd.py, s3hostile.py):
a threaded HTTP server on 127.0.0.1 at a free port, which it prints on stdout,
speaking HTTPS with `--tls CERT KEY` (PEM files)."""
import socketserver
import ssl
import sys


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls = None  # an ssl.SSLContext with --tls

    def handle_error(self, request, client_address):
        pass  # a client that went away, a refused certificate: what tests do

    def finish_request(self, request, client_address):
        if self.tls is None:
            return super().finish_request(request, client_address)
        # The handshake runs here, in the connection's own thread, so that a
        # client that never finishes it blocks no one else.  The TLS socket
        # takes the connection over: it is the one to close.
        conn = self.tls.wrap_socket(request, server_side=True)
        try:
            super().finish_request(conn, client_address)
        finally:
            conn.close()


def serve(handler, server=Server):
    """Runs handler on a server of class server until interrupted."""
    srv = server(("127.0.0.1", 0), handler)
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        srv.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv.tls.load_cert_chain(sys.argv[2], sys.argv[3])
    elif len(sys.argv) != 1:
        sys.exit("usage: %s [--tls CERT KEY]" % sys.argv[0])
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
