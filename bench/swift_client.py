#!/usr/bin/python3
# The floor of bench/swift.lua: python3-swiftclient in one process,
# sequential, one request per call, against the same Swift (auth v1).
#
#   swift_client.py AUTHURL USER KEY CONTAINER PREFIX N [D]   prints, one a line,
#       putget1k MS   median of N x (put_object + get_object of 1 KiB)
#       put4k MS      median of N x put_object of 4 KiB
#       get4k MS      median of N x get_object of those objects
#       delete50 MS   median of D x (a listing + one bulk delete) of 50 empty
#                     objects put beforehand (untimed); when D > 0
#
# The objects are left under PREFIX for the caller to delete.  Runs under
# /usr/bin/python3 on purpose: that is where Debian's swiftclient is.

import statistics
import sys
import time

from swiftclient.client import Connection


def timed(n, op, setup=None):
    """Median milliseconds of op(i) for i in 0..n-1, after two untimed calls
    (op(-1), op(-2)); setup(i), untimed, before each call."""
    ms = []
    for i in [-1, -2] + list(range(n)):
        if setup:
            setup(i)
        t0 = time.perf_counter()
        op(i)
        if i >= 0:
            ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms)


def main(argv):
    if len(argv) not in (7, 8):
        sys.stderr.write("usage: %s AUTHURL USER KEY CONTAINER PREFIX N [D]\n" % argv[0])
        return 2
    authurl, user, key, container, prefix, n = argv[1:7]
    n, d = int(n), int(argv[7]) if len(argv) == 8 else 0
    c = Connection(authurl=authurl, user=user, key=key, retries=0)
    c.head_account()
    one, four = b"k" * 1024, b"f" * 4096

    def putget(i):
        name = "%s/pg/%d" % (prefix, i)
        c.put_object(container, name, one)
        assert len(c.get_object(container, name)[1]) == 1024
    print("putget1k %.3f" % timed(n, putget))
    print("put4k %.3f" % timed(n, lambda i: c.put_object(container, "%s/s/%d" % (prefix, i), four)))
    print("get4k %.3f" % timed(n, lambda i: c.get_object(container, "%s/s/%d" % (prefix, i))))
    if d > 0:
        state = {}

        def setup(i):
            state["dir"] = "%s/del%d/" % (prefix, i + 2)
            for j in range(50):
                c.put_object(container, "%s%02d" % (state["dir"], j), b"")

        def delete(i):
            _, objs = c.get_container(container, prefix=state["dir"], full_listing=True)
            body = "".join("/%s/%s\n" % (container, o["name"]) for o in objs)
            c.post_account(headers={"Content-Type": "text/plain", "Accept": "application/json"},
                           data=body.encode(), query_string="bulk-delete")
        print("delete50 %.3f" % timed(d, delete, setup))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
