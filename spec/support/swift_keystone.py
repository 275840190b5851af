#!/usr/bin/python3
# Debian's OpenStack Keystone (the real Identity service, v3) on 127.0.0.1
# with sqlite, in front of the local Swift All-In-One of spec/support/server:
# a second Swift proxy, on the same rings and storage servers, whose pipeline
# has keystonemiddleware's authtoken and Swift's keystoneauth instead of
# tempauth.  For spec/swift_spec.lua.
#
#   swift_keystone.py start SWIFT_STATE_DIR WORK_DIR   prints key=value lines:
#       authurl (Keystone v3), username, password, tenant, domain, region,
#       storageurl (the project's account on the keystone proxy)
#   swift_keystone.py stop WORK_DIR                    stops both (by pid)
#
# SWIFT_STATE_DIR is $SD_SERVER_DIR/swift of a running `server swift start`.
# Keystone: keystone-manage db_sync, fernet_setup, credential_setup,
# bootstrap (admin / the admin project, RegionOne), then keystone-wsgi-public;
# the object-store service and its public endpoint are made with the
# openstack command.  Needs the keystone package (no recommends).

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

PASSWORD = "sd-keystone-admin"


def log(msg):
    sys.stderr.write("swift_keystone: %s\n" % msg)
    sys.stderr.flush()


def env():
    e = dict(os.environ)
    for k in ("PYTHONPATH", "PYTHONHOME", "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS"):
        e.pop(k, None)
    return e


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run(argv, work):
    with open(os.path.join(work, "setup.log"), "ab") as f:
        r = subprocess.run(argv, env=env(), stdout=f, stderr=subprocess.STDOUT, cwd=work)
    if r.returncode != 0:
        raise RuntimeError("%s failed (see %s/setup.log)" % (argv[0], work))


def spawn(argv, work, name):
    f = open(os.path.join(work, name + ".log"), "ab")
    p = subprocess.Popen(argv, env=env(), stdout=f, stderr=subprocess.STDOUT, cwd=work,
                         start_new_session=True, stdin=subprocess.DEVNULL)
    f.close()
    with open(os.path.join(work, name + ".pid"), "w") as pf:
        pf.write("%d\n" % p.pid)
    return p


def wait_http(port, path, proc, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited (status %s)" % (what, proc.returncode))
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            if c.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("%s did not answer on port %d" % (what, port))


def start(swift_dir, work):
    shutil.rmtree(work, ignore_errors=True)
    for d in ("fernet", "cred"):
        os.makedirs(os.path.join(work, d))
    ks_port, px_port = free_port(), free_port()
    conf = os.path.join(work, "keystone.conf")
    with open(conf, "w") as f:
        f.write("[DEFAULT]\nlog_dir = %s\n[database]\nconnection = sqlite:///%s/keystone.db\n"
                "[token]\nprovider = fernet\n[fernet_tokens]\nkey_repository = %s/fernet\n"
                "[credential]\nkey_repository = %s/cred\n" % (work, work, work, work))
    km = ["/usr/bin/keystone-manage", "--config-file", conf]
    user = ["--keystone-user", str(os.geteuid()), "--keystone-group", str(os.getegid())]
    run(km + ["db_sync"], work)
    run(km + ["fernet_setup"] + user, work)
    run(km + ["credential_setup"] + user, work)
    ks = "http://127.0.0.1:%d/v3" % ks_port
    # authtoken looks its Keystone up at the internal interface
    run(km + ["bootstrap", "--bootstrap-password", PASSWORD,
              "--bootstrap-public-url", ks + "/", "--bootstrap-internal-url", ks + "/",
              "--bootstrap-admin-url", ks + "/", "--bootstrap-region-id", "RegionOne"], work)
    e = env()
    e["OS_KEYSTONE_CONFIG_FILES"] = conf
    with open(os.path.join(work, "keystone.log"), "ab") as f:
        kp = subprocess.Popen(["/usr/bin/keystone-wsgi-public", "--host", "127.0.0.1",
                               "--port", str(ks_port)], env=e, stdout=f,
                              stderr=subprocess.STDOUT, cwd=work, start_new_session=True,
                              stdin=subprocess.DEVNULL)
    with open(os.path.join(work, "keystone.pid"), "w") as pf:
        pf.write("%d\n" % kp.pid)
    wait_http(ks_port, "/v3", kp, "keystone")
    osc = ["/usr/bin/openstack", "--os-auth-url", ks, "--os-username", "admin",
           "--os-password", PASSWORD, "--os-project-name", "admin",
           "--os-user-domain-name", "Default", "--os-project-domain-name", "Default",
           "--os-identity-api-version", "3"]
    run(osc + ["service", "create", "--name", "swift", "object-store"], work)
    run(osc + ["endpoint", "create", "--region", "RegionOne", "swift", "public",
               "http://127.0.0.1:%d/v1/AUTH_%%(project_id)s" % px_port], work)

    # the keystone proxy: the tempauth proxy's configuration, other port and auth
    with open(os.path.join(swift_dir, "etc", "proxy-server.conf")) as f:
        text = f.read()
    with open(os.path.join(swift_dir, "ports.json")) as f:
        mc = json.load(f)["memcached"]
    lines = []
    for line in text.splitlines():
        if line.startswith("bind_port"):
            line = "bind_port = %d" % px_port
        elif line.startswith("pipeline"):
            line = line.replace(" s3api tempauth ", " authtoken keystoneauth ")
        lines.append(line)
    lines += ["", "[filter:authtoken]",
              "paste.filter_factory = keystonemiddleware.auth_token:filter_factory",
              "www_authenticate_uri = " + ks, "auth_url = " + ks, "auth_type = password",
              "username = admin", "password = " + PASSWORD, "project_name = admin",
              "user_domain_name = Default", "project_domain_name = Default",
              "delay_auth_decision = True", "memcached_servers = 127.0.0.1:%d" % mc,
              "", "[filter:keystoneauth]", "use = egg:swift#keystoneauth",
              "operator_roles = admin, member", ""]
    pconf = os.path.join(work, "proxy-keystone.conf")
    with open(pconf, "w") as f:
        f.write("\n".join(lines))
    pp = spawn(["/usr/bin/swift-proxy-server", pconf, "-v"], work, "proxy")
    wait_http(px_port, "/healthcheck", pp, "the keystone proxy")
    for k, v in (("authurl", ks), ("username", "admin"), ("password", PASSWORD),
                 ("tenant", "admin"), ("domain", "Default"), ("region", "RegionOne"),
                 ("proxyport", str(px_port))):
        print("%s=%s" % (k, v))


def stop(work):
    for name in ("proxy", "keystone"):
        try:
            with open(os.path.join(work, name + ".pid")) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            continue
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except OSError:
                break
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                pass
            time.sleep(0.1)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
    shutil.rmtree(work, ignore_errors=True)


def main(argv):
    if len(argv) == 4 and argv[1] == "start":
        try:
            start(argv[2], argv[3])
        except RuntimeError as e:
            log(str(e))
            stop(argv[3])
            return 1
        return 0
    if len(argv) == 3 and argv[1] == "stop":
        stop(argv[2])
        return 0
    sys.stderr.write("usage: %s start SWIFT_STATE_DIR WORK_DIR | stop WORK_DIR\n" % argv[0])
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
