#!/usr/bin/env python3
"""Hosting scale: one daemon beside a cluster of 100, 300 and 1,000 Enterprise databases.

How the database set is made cheaply: fixture ent_e2 (real Odoo 18.0 Enterprise) is restored
once; a template database gets only the tables dbcheckin reads (the list of src/privileges.rs,
dumped with `pg_dump -t`), so each copy is a few MB; the copies are `CREATE DATABASE ... TEMPLATE`
with a UUID of their own. Every copy has the fixture's custom modules installed, served by a
skeleton Odoo (make_odoo_tree.sh), so each check-in carries the `maintenance` key (cloc): the
modules are counted once per burst for all databases.

Measures, for each size, against a stand-in validation server on loopback (plain HTTP, 20 ms per
reply, counting the requests in flight):
  - discovery at daemon start (spawn until `ping` counts every database), the end of the
    expiry check that follows it, and discovery at a restart (the kept discovery reused);
  - a rediscovery (`check-now --database ONE` rediscovers first): new PostgreSQL sessions on the
    other databases (`pg_stat_database.sessions`) and its wall time;
  - `check-now` for all through the daemon, the most connections open at once
    (`pg_stat_activity`, sampled every 5 ms) and the most requests in flight at the server;
  - `status` for all, text and --json, and `status` beside a `check-now` (connections);
  - RSS of the daemon, idle after the bursts, and its peak.

Usage: benches/scale.py [SIZES] (default 100,300,1000); needs target/release/dbcheckin (or
DBCHECKIN_BIN), PostgreSQL (BENCH_PGHOST, default the packaged default /var/run/postgresql;
PGPORT/PGUSER, default 5432 postgres), and
../shared/fixtures beside the checkout. Prints one JSON object per size. Leaves the databases
(bench_scale_*) for a rerun; `benches/scale.py --drop` removes them.
"""

import http.server
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FIXTURES = os.path.join(REPO, "..", "shared", "fixtures", "odoo-enterprise")
BIN = os.environ.get("DBCHECKIN_BIN", os.path.join(REPO, "target", "release", "dbcheckin"))
PG = {
    # The packaged default connection is the Unix socket: on this machine a
    # PostgreSQL session over loopback TCP costs about twice the CPU.
    "PGHOST": os.environ.get("BENCH_PGHOST", "/var/run/postgresql"),
    "PGPORT": os.environ.get("PGPORT", "5432"),
    "PGUSER": os.environ.get("PGUSER", "postgres"),
}
ENV = dict(os.environ, **PG)
PREFIX = "bench_scale_"
SOURCE = PREFIX + "src"
TEMPLATE = PREFIX + "tpl"
REPLY_DELAY = 0.02


def psql(database, sql):
    out = subprocess.run(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
        env=ENV, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def name(i):
    return f"{PREFIX}{i:04d}"


def existing():
    rows = psql("postgres", f"SELECT datname FROM pg_database WHERE datname ~ '^{PREFIX}[0-9]+$'")
    return set(rows.split()) if rows else set()


def tables_dbcheckin_reads():
    """The tables of src/privileges.rs's TABLES: what discovery, the message, status and apply read."""
    text = open(os.path.join(REPO, "src", "privileges.rs")).read()
    block = text[text.index("pub const TABLES"):]
    block = block[:block.index("];")]
    return re.findall(r'"([a-z_]+)"', block)


def make_template():
    if TEMPLATE in psql("postgres", f"SELECT datname FROM pg_database WHERE datname = '{TEMPLATE}'"):
        return
    subprocess.run([os.path.join(FIXTURES, "restore.sh"), "--drop",
                    os.path.join(FIXTURES, "ent_e2.sql.gz"), SOURCE],
                   env=ENV, check=True, capture_output=True)
    psql("postgres", f"CREATE DATABASE {TEMPLATE}")
    args = ["pg_dump", "--no-owner", "--no-privileges", "-d", SOURCE]
    # ir_act_server inherits ir_actions (PostgreSQL table inheritance): its parent comes along.
    for table in tables_dbcheckin_reads() + ["ir_actions"]:
        args += ["-t", table]
    dump = subprocess.run(args, env=ENV, check=True, capture_output=True).stdout
    # Foreign keys to tables left out fail to restore: that is the point (a small copy).
    subprocess.run(["psql", "-X", "-q", "-d", TEMPLATE], input=dump, env=ENV,
                   capture_output=True, check=True)
    psql("postgres", f"DROP DATABASE {SOURCE}")


def make_databases(count):
    have = existing()
    wanted = [name(i) for i in range(1, count + 1)]
    missing = [db for db in wanted if db not in have]
    started = time.monotonic()
    for db in missing:
        psql("postgres", f"CREATE DATABASE {db} TEMPLATE {TEMPLATE}")
    if missing:
        script = "".join(
            f"\\c {db}\nUPDATE ir_config_parameter SET value = gen_random_uuid()::text "
            f"WHERE key = 'database.uuid';\n" for db in missing)
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres"],
                       input=script, env=ENV, check=True, capture_output=True, text=True)
    return wanted, time.monotonic() - started


class Server:
    """A stand-in validation server: an empty reply after REPLY_DELAY, requests in flight counted."""

    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.count = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.in_flight += 1
                    outer.count += 1
                    outer.most = max(outer.most, outer.in_flight)
                time.sleep(REPLY_DELAY)
                body = b"{'messages': [], 'enterprise_info': {'expiration_date': '2027-01-15 00:00:00', 'expiration_reason': 'renewal'}}"
                with outer.lock:
                    outer.in_flight -= 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_port}/publisher-warranty/"

    def reset(self):
        with self.lock:
            self.most = 0
            self.count = 0


class ConnectionSampler:
    """The most dbcheckin connections open at once on the bench databases."""

    def __init__(self):
        self.stop = threading.Event()
        self.most = 0
        self.samples = 0
        self.proc = subprocess.Popen(["psql", "-X", "-q", "-At", "-d", "postgres"], env=ENV,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     bufsize=1)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        query = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbcheckin' "
                 f"AND datname LIKE '{PREFIX}%';\n")
        while not self.stop.is_set():
            self.proc.stdin.write(query)
            self.proc.stdin.flush()
            self.most = max(self.most, int(self.proc.stdout.readline()))
            self.samples += 1
            time.sleep(0.005)

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=10)
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        return self.most


def ping(sock):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(sock)
            s.sendall(b'{"command":"ping"}\n')
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return json.loads(data)
    except (OSError, ValueError):
        return None


def kib(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def timed(args):
    started = time.monotonic()
    out = subprocess.run(args, env=ENV, capture_output=True, text=True)
    return time.monotonic() - started, out


def sessions(databases):
    listed = ",".join(f"'{db}'" for db in databases)
    return int(psql("postgres", f"SELECT sum(sessions) FROM pg_stat_database WHERE datname IN ({listed})"))


def wait_until(what, predicate, limit=300):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def measure(size, server, work, odoo_conf, odoo_root):
    databases, created_s = make_databases(size)
    config = os.path.join(work, f"config-{size}.toml")
    state = os.path.join(work, f"state-{size}")
    sock = os.path.join(work, f"control-{size}.sock")
    names = ", ".join(f'"{db}"' for db in databases)
    with open(config, "w") as f:
        f.write(f"""[server]
url = "{server.url()}"
fallback_url = ""
[odoo]
config = "{odoo_conf}"
root = "{odoo_root}"
python = "3.11"
[postgres]
connection = "host={PG['PGHOST']} port={PG['PGPORT']} user={PG['PGUSER']}"
databases = [{names}]
[schedule]
first_delay = "1h"
[daemon]
state_dir = "{state}"
control_socket = "{sock}"
""")
    cli = [BIN, "--config", config]
    log = open(os.path.join(work, f"daemon-{size}.log"), "w")
    started = time.monotonic()
    daemon = subprocess.Popen(cli + ["run"], env=ENV, stderr=log, stdout=subprocess.DEVNULL)
    result = {"databases": size, "create_s": round(created_s, 1)}
    try:
        wait_until("discovery", lambda: (ping(sock) or {}).get("databases") == size)
        result["discovery_at_start_s"] = round(time.monotonic() - started, 3)
        # The expiry check the first discovery starts reads every database:
        # timed on its own, not inside the first check-now.
        wait_until("the expiry check", lambda: not (ping(sock) or {"in_progress": [1]})["in_progress"])
        result["expiry_check_at_start_done_s"] = round(time.monotonic() - started, 3)
        result["rss_after_start_kib"] = kib(daemon.pid, "VmRSS")

        server.reset()
        sampler = ConnectionSampler()
        elapsed, out = timed(cli + ["check-now", "--json"])
        result["connections_most_check_now"] = sampler.finish()
        outcomes = json.loads(out.stdout)["results"]
        assert len(outcomes) == size and all(o["ok"] for o in outcomes), out.stdout[:2000] + out.stderr
        assert all(o.get("maintenance") for o in outcomes), "no maintenance key"
        result["check_now_all_s"] = round(elapsed, 3)
        result["requests"] = server.count
        result["requests_in_flight_most"] = server.most

        one = databases[0]
        before_one, before_others = sessions([one]), sessions(databases[1:])
        elapsed, out = timed(cli + ["check-now", "--database", one, "--json"])
        assert out.returncode == 0, out.stdout + out.stderr
        wait_until("the check-in's session", lambda: sessions([one]) > before_one, 30)
        result["rediscovery_check_now_one_s"] = round(elapsed, 3)
        result["rediscovery_sessions_on_others"] = sessions(databases[1:]) - before_others

        for flavour, extra in (("text", []), ("json", ["--json"])):
            elapsed, out = timed(cli + ["status"] + extra)
            assert "no daemon" not in out.stderr, out.stderr
            result[f"status_all_{flavour}_s"] = round(elapsed, 3)

        sampler = ConnectionSampler()
        both = [subprocess.Popen(cli + args, env=ENV, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
                for args in (["check-now", "--json"], ["status", "--json"])]
        for proc in both:
            proc.wait(timeout=600)
        result["connections_most_status_beside_check_now"] = sampler.finish()

        time.sleep(15)  # a benchmark, not a test: let the burst's memory be trimmed
        result["rss_idle_kib"] = kib(daemon.pid, "VmRSS")
        result["rss_idle_anon_kib"] = kib(daemon.pid, "RssAnon")
        result["rss_peak_kib"] = kib(daemon.pid, "VmHWM")
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    # A restart reuses the discovery the first run kept (discovery.json).
    started = time.monotonic()
    daemon = subprocess.Popen(cli + ["run"], env=ENV, stderr=log, stdout=subprocess.DEVNULL)
    try:
        wait_until("discovery after a restart", lambda: (ping(sock) or {}).get("databases") == size)
        result["discovery_at_restart_s"] = round(time.monotonic() - started, 3)
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    return result


def drop_all():
    for db in sorted(existing()) + [TEMPLATE, SOURCE]:
        psql("postgres", f"DROP DATABASE IF EXISTS {db}")


def main():
    if "--drop" in sys.argv:
        drop_all()
        return
    sizes = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "100,300,1000").split(",")]
    if not os.access(BIN, os.X_OK):
        raise SystemExit(f"build it first: cargo build --release ({BIN})")
    make_template()
    server = Server()
    with tempfile.TemporaryDirectory() as work:
        conf = os.path.join(work, "odoo.conf")
        root = os.path.join(work, "root")
        subprocess.run([os.path.join(FIXTURES, "make_odoo_tree.sh"), root, "ent_e2", "--conf", conf],
                       check=True, capture_output=True)
        for size in sizes:
            print(json.dumps(measure(size, server, work, conf, root)), flush=True)


if __name__ == "__main__":
    main()
