#!/usr/bin/python3
# Puts object rows straight into a container's database on the local Swift
# All-In-One (spec/support/server), with Swift's own ContainerBroker, as the
# object servers' container updates do: what a listing of many objects needs,
# in a second rather than the ~22 ms per object a PUT costs on this server.
# The objects have no data; an object server's DELETE of such a name still
# records the deletion and updates the container (404 to the client), so
# they are deleted like any other.
#
#   swift_rows.py [--delete] SERVER_DIR ACCOUNT CONTAINER PREFIX COUNT
#
# adds PREFIX%05d for 0 <= i < COUNT (size 0, application/octet-stream) and
# prints how many rows it added; --delete marks those rows deleted instead.  SERVER_DIR is the server's state directory
# ($SD_SERVER_DIR/swift); ACCOUNT as in the storage URL (AUTH_test).
# Runs under /usr/bin/python3: Debian's Swift imports only there.

import glob
import os
import sys
import time

from swift.common.utils import Timestamp
from swift.container.backend import ContainerBroker

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def find_broker(server_dir, account, container):
    for db in glob.glob(os.path.join(server_dir, "devices", "*", "containers",
                                     "*", "*", "*", "*.db")):
        b = ContainerBroker(db, account=account, container=container)
        try:
            info = b.get_info()
        except Exception:
            continue
        if info.get("account") == account and info.get("container") == container:
            return b
    return None


def main(argv):
    deleted = 0
    if len(argv) > 1 and argv[1] == "--delete":
        deleted = 1
        argv = argv[:1] + argv[2:]
    if len(argv) != 6:
        sys.stderr.write("usage: %s SERVER_DIR ACCOUNT CONTAINER PREFIX COUNT\n" % argv[0])
        return 2
    server_dir, account, container, prefix, count = argv[1:]
    broker = find_broker(server_dir, account, container)
    if broker is None:
        sys.stderr.write("no database of container %s/%s under %s\n"
                         % (account, container, server_dir))
        return 1
    now = Timestamp(time.time()).internal
    items = [{"name": "%s%05d" % (prefix, i), "created_at": now, "size": 0,
              "content_type": "application/octet-stream", "etag": EMPTY_MD5,
              "deleted": deleted, "storage_policy_index": 0}
             for i in range(int(count))]
    broker.merge_items(items)
    print(len(items))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
