"""REST API benchmark: port creation throughput/latency, paged listing, peak server memory.

Usage (from the repository root, with the project's venv)::

    .venv/bin/python -m simulations.bench_api --spawn                      # qnet alone
    .venv/bin/python -m simulations.bench_api --spawn --list-ports 10000   # + the 10k list target
    .venv/bin/python -m simulations.bench_api --url http://127.0.0.1:9797 --server-pid 1234
    .venv/bin/python -m simulations.bench_api --spawn --postgresql --compare-neutron  # all four

Method (the same for every target, so the figures compare):

1. Set-up: one network and one /16 IPv4 subnet in project ``--project`` (``X-Project-Id``; an
   ``X-Auth-Token`` too with ``--token``). A GET of /v2.0/networks warms the server up.
2. Phase "1 client": ``--ports`` port creates (POST /v2.0/ports, network_id and name only), one
   after another on one keep-alive ``requests.Session``.
3. Phase "N clients": ``--ports`` more creates from ``--clients`` threads, each with its own
   Session and a fixed share of the count; a barrier starts them together.
   For both phases: ports/s = creates / wall-clock seconds of the phase; p50/p99 are nearest-rank
   percentiles of the per-request latency seen by the client (request sent to body read).
4. Optional fill (``--list-ports K``): more creates with N clients until the network holds K ports
   (its throughput is reported too, as phase "fill").
5. List: all the network's ports with ``limit=1000`` pages, following ``ports_links`` rel=next
   (bounded page count; an empty page ends it, since Neutron sends ``next`` even after an exactly
   full page), then once unpaged. Times are client wall-clock including JSON decoding; the
   counts are checked against the number created. A POST whose keep-alive connection the
   server had just closed is sent again (counted as ``resent_posts``).
6. Peak RSS: VmHWM from /proc/<pid>/status of the server process and its children, summed
   (uWSGI's master + workers for Neutron; qnet is one process). With a pid the script also
   reports the server's CPU time per create (utime+stime from /proc/<pid>/stat, same tree) and
   during the paged list, which separates server cost from client/contention effects; the 1-min
   load average before/after is recorded because other work on the machine skews every figure.

Servers: ``--spawn`` starts ``qnet serve`` (one process) on free loopback ports with a temporary
SQLite database, and with ``--postgresql`` a second time on a private PostgreSQL
(simulations/pgserver.py), and stops them (SIGTERM to their pid) afterwards. ``--compare-neutron``
then runs the same workload against the Neutron peer (simulations/peers/neutron.sh, installed by
``make peers``: uWSGI + ML2 without mechanism driver + MariaDB), once per ``--neutron-workers``
count (default 1 and 2 API processes of one thread each: the machine has 2 cores), starting and
stopping it each time, and prints qnet/Neutron ratios. All traffic goes to 127.0.0.1; every loop
has a fixed bound.

Output: one JSON line per target (plus one with the ratios), then a small human-readable table.
"""
import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import requests

from simulations.pgserver import private_postgresql
from simulations.serve import QnetServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PAGE_LIMIT = 1000
SUBNET_CIDR = "10.77.0.0/16"
HTTP_TIMEOUT = 120  # Neutron with 8 clients and one worker queues requests for seconds


# -- HTTP helpers --------------------------------------------------------------------------------
def new_session(opts):
    session = requests.Session()
    session.headers.update({"X-Project-Id": opts.project, "Content-Type": "application/json",
                            "Accept": "application/json"})
    if opts.token:
        session.headers["X-Auth-Token"] = opts.token
    return session


def check_loopback(url):
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing non-loopback URL {url}: this benchmark only talks to 127.0.0.1")


RESENDS = {"count": 0}  # POSTs sent again after a dropped keep-alive connection
RESENDS_LOCK = threading.Lock()
RESEND_TRIES = 3


def post(session, url, body):
    """POST expecting 201. A keep-alive connection the server closed just as we reused it
    (uWSGI's http-socket does this; the request is then never read) is retried on a fresh
    connection, at most RESEND_TRIES times, and counted in RESENDS."""
    for attempt in range(RESEND_TRIES):
        try:
            resp = session.post(url, json=body, timeout=HTTP_TIMEOUT)
            break
        except requests.ConnectionError:
            if attempt == RESEND_TRIES - 1:
                raise
            with RESENDS_LOCK:
                RESENDS["count"] += 1
    if resp.status_code != 201:
        raise RuntimeError(f"POST {url} -> {resp.status_code}: {resp.text[:300]}")
    return resp.json()


def wait_up(url, seconds=60):
    """Poll GET <url>/ once a second, at most ``seconds`` times; True when it answers."""
    for _ in range(seconds):
        try:
            requests.get(url + "/", timeout=2)
            return True
        except requests.RequestException:
            time.sleep(1)
    return False


# -- measurement ---------------------------------------------------------------------------------
def percentile(sorted_values, fraction):
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(name, clients, latencies, seconds, server_cpu):
    lat = sorted(latencies)
    return {"phase": name, "clients": clients, "n": len(lat), "secs": round(seconds, 3),
            "ports_per_s": round(len(lat) / seconds, 1),
            "p50_ms": round(1000 * percentile(lat, 0.50), 1),
            "p99_ms": round(1000 * percentile(lat, 0.99), 1),
            "server_cpu_ms_per_op": (round(1000 * server_cpu / len(lat), 2)
                                     if server_cpu is not None else None)}


def create_ports(opts, base, session, network_id, first, count, out):
    """Create ``count`` ports named bp<first..>; append each latency (s) to ``out``."""
    for i in range(first, first + count):
        t0 = time.perf_counter()
        post(session, base + "/ports", {"port": {"network_id": network_id, "name": f"bp{i}"}})
        out.append(time.perf_counter() - t0)


def run_phase(opts, base, network_id, name, clients, first, count, pid):
    """``count`` creates split over ``clients`` threads (1: the calling thread); a summary."""
    if clients == 1:
        latencies = []
        session = new_session(opts)
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        create_ports(opts, base, session, network_id, first, count, latencies)
        seconds = time.perf_counter() - t0
        return summarize(name, 1, latencies, seconds, cpu_delta(pid, cpu0))
    shares = [count // clients + (1 if k < count % clients else 0) for k in range(clients)]
    starts = [first + sum(shares[:k]) for k in range(clients)]
    results = [[] for _ in range(clients)]
    errors = []
    barrier = threading.Barrier(clients + 1)

    def worker(k):
        session = new_session(opts)
        barrier.wait()
        try:
            create_ports(opts, base, session, network_id, starts[k], shares[k], results[k])
        except Exception as exc:  # reported after join
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return summarize(name, clients, [x for r in results for x in r], seconds,
                     cpu_delta(pid, cpu0))


def list_paged(session, base, network_id, expected):
    """Follow ports_links next from a limit=1000 first page; (ports, pages, seconds)."""
    url = f"{base}/ports?network_id={network_id}&limit={PAGE_LIMIT}"
    count = pages = 0
    t0 = time.perf_counter()
    for _ in range(expected // PAGE_LIMIT + 2):  # +1 partial page, +1 Neutron's empty page
        resp = session.get(url, timeout=HTTP_TIMEOUT)
        resp.raise_for_status()
        body = resp.json()
        pages += 1
        count += len(body["ports"])
        nxt = [l["href"] for l in body.get("ports_links", []) if l.get("rel") == "next"]
        if not nxt or not body["ports"]:
            break
        url = nxt[0]
        check_loopback(url)
    return count, pages, time.perf_counter() - t0


def list_unpaged(session, base, network_id):
    t0 = time.perf_counter()
    resp = session.get(f"{base}/ports?network_id={network_id}", timeout=HTTP_TIMEOUT)
    resp.raise_for_status()
    count = len(resp.json()["ports"])
    return count, time.perf_counter() - t0


def process_tree(pid):
    """``pid`` and its descendants, from /proc/<pid>/task/*/children."""
    out, todo = [], [pid]
    for _ in range(256):  # bounded walk
        if not todo:
            break
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def cpu_seconds(pid):
    """User+system CPU seconds of the process tree of ``pid`` so far (None without a pid)."""
    if not pid:
        return None
    ticks = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_delta(pid, before):
    return None if before is None else cpu_seconds(pid) - before


def peak_rss_mb(pid):
    """Sum of VmHWM over the process tree of ``pid``, in MiB (None without a pid)."""
    if not pid:
        return None, 0
    total, procs = 0, process_tree(pid)
    for p in procs:
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
        except (OSError, StopIteration):
            pass
    return round(total / 1024, 1), len(procs)


def run_workload(opts, name, url, pid):
    """The whole method above against one server; returns its result dict."""
    check_loopback(url)
    base = url.rstrip("/") + "/v2.0"
    session = new_session(opts)
    session.get(base + "/networks", timeout=HTTP_TIMEOUT).raise_for_status()
    net = post(session, base + "/networks", {"network": {"name": "bench"}})["network"]
    post(session, base + "/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                                 "cidr": SUBNET_CIDR, "name": "bench"}})
    load_before, resends_before = os.getloadavg()[0], RESENDS["count"]
    phases = [run_phase(opts, base, net["id"], "1 client", 1, 0, opts.ports, pid),
              run_phase(opts, base, net["id"], f"{opts.clients} clients", opts.clients,
                        opts.ports, opts.ports, pid)]
    created = 2 * opts.ports
    if opts.list_ports > created:
        phases.append(run_phase(opts, base, net["id"], "fill", opts.clients, created,
                                opts.list_ports - created, pid))
        created = opts.list_ports
    cpu0 = cpu_seconds(pid)
    count, pages, paged_s = list_paged(session, base, net["id"], created)
    paged_cpu = cpu_delta(pid, cpu0)
    unpaged_count, unpaged_s = list_unpaged(session, base, net["id"])
    # A resent POST may (rarely) have been processed the first time too: allow for it.
    resends = RESENDS["count"] - resends_before
    if not (created <= count <= created + resends and unpaged_count == count):
        raise RuntimeError(f"{name}: listed {count} paged / {unpaged_count} unpaged, "
                           f"created {created} (+{resends} resent)")
    rss, procs = peak_rss_mb(pid)
    return {"target": name, "url": url, "creates": phases,
            "list_paged": {"ports": count, "pages": pages, "limit": PAGE_LIMIT,
                           "secs": round(paged_s, 3),
                           "server_cpu_s": None if paged_cpu is None else round(paged_cpu, 2)},
            "list_unpaged": {"ports": unpaged_count, "secs": round(unpaged_s, 3)},
            "peak_rss_mb": rss, "procs": procs, "resent_posts": resends,
            "loadavg_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


# -- servers -------------------------------------------------------------------------------------
class NeutronPeer:
    """The Neutron peer (simulations/peers/neutron.sh) with ``workers`` uWSGI API processes:
    started here and stopped afterwards (refused if a Neutron API already answers)."""

    def __init__(self, script, url, workers):
        self.script, self.url, self.workers = script, url, workers
        port = urllib.parse.urlsplit(url).port or 9696
        self.env = dict(os.environ, API_PORT=str(port), API_WORKERS=str(workers))
        state = os.environ.get("QNET_NEUTRON_DIR") or os.path.join(
            os.environ.get("TMPDIR", "/tmp"), "qnet-neutron-peer")
        self.pidfile = os.path.join(state, "uwsgi.pid")

    def up(self):
        try:
            return requests.get(self.url + "/", timeout=2).ok
        except requests.RequestException:
            return False

    def start(self):
        if self.up():
            raise SystemExit(f"a Neutron API already answers on {self.url}: stop it first "
                             f"({self.script} stop)")
        print(f"starting the Neutron peer with {self.workers} API worker(s): {self.script} "
              "start", file=sys.stderr)
        subprocess.run([self.script, "start"], env=self.env, check=True, stdout=sys.stderr,
                       timeout=900)
        with open(self.pidfile) as f:
            return int(f.read().strip())

    def stop(self):
        subprocess.run([self.script, "stop"], env=self.env, check=False, timeout=120)


# -- output --------------------------------------------------------------------------------------
def ratios(q, n):
    """qnet/Neutron for each figure (ports/s: >1 means qnet faster; times/RSS: <1 means so)."""
    out = {}
    for pq, pn in zip(q["creates"], n["creates"]):
        if pq["phase"] != pn["phase"]:
            continue
        for key in ("ports_per_s", "p50_ms", "p99_ms", "server_cpu_ms_per_op"):
            out[f"{pq['phase']} {key}"] = _ratio(pq[key], pn[key])
    for key in ("list_paged", "list_unpaged"):
        out[f"{key} secs"] = _ratio(q[key]["secs"], n[key]["secs"])
    out["list_paged server_cpu_s"] = _ratio(q["list_paged"]["server_cpu_s"],
                                            n["list_paged"]["server_cpu_s"])
    out["peak_rss_mb"] = _ratio(q["peak_rss_mb"], n["peak_rss_mb"])
    return out


def _ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def print_table(results, ratio):
    cols = [r["target"] for r in results] + (["qnet/neutron"] if ratio else [])
    rows = []
    for i, phase in enumerate(results[0]["creates"]):
        for key, label in (("ports_per_s", "ports/s"), ("p50_ms", "p50 ms"),
                           ("p99_ms", "p99 ms"), ("server_cpu_ms_per_op", "server CPU ms/op")):
            vals = [r["creates"][i][key] if i < len(r["creates"]) else "-" for r in results]
            if ratio:
                vals.append(ratio.get(f"{phase['phase']} {key}", "-"))
            rows.append((f"create {phase['phase']} ({phase['n']}) {label}", vals))
    for key in ("list_paged", "list_unpaged"):
        label = f"list {results[0][key]['ports']} " + ("paged (limit 1000)" if key == "list_paged"
                                                        else "unpaged") + " s"
        rows.append((label, [r[key]["secs"] for r in results]
                     + ([ratio.get(f"{key} secs", "-")] if ratio else [])))
    rows.append(("server CPU s during paged list", [r["list_paged"]["server_cpu_s"]
                                                    for r in results]
                 + ([ratio.get("list_paged server_cpu_s", "-")] if ratio else [])))
    rows.append(("peak RSS MiB (VmHWM)", [r["peak_rss_mb"] for r in results]
                 + ([ratio.get("peak_rss_mb", "-")] if ratio else [])))
    width = max(len(label) for label, _ in rows)
    print(f"{'':{width}}  " + "  ".join(f"{c:>13}" for c in cols))
    for label, vals in rows:
        print(f"{label:{width}}  " + "  ".join(f"{str(v):>13}" for v in vals))


# -- main ----------------------------------------------------------------------------------------
def parse_args(argv=None):
    default_qnet = os.path.join(os.path.dirname(sys.executable), "qnet")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:9696", help="qnet API URL (no --spawn)")
    p.add_argument("--project", default="bench", help="X-Project-Id header")
    p.add_argument("--token", help="X-Auth-Token header, if the server wants one")
    p.add_argument("--ports", type=int, default=500, help="port creates per phase")
    p.add_argument("--clients", type=int, default=8, help="threads in the concurrent phase")
    p.add_argument("--list-ports", type=int, default=0,
                   help="fill the network up to this many ports before listing (e.g. 10000)")
    p.add_argument("--server-pid", type=int, help="qnet server pid, for peak RSS")
    p.add_argument("--spawn", action="store_true", help="start and stop qnet serve ourselves")
    p.add_argument("--qnet-bin", default=default_qnet if os.path.exists(default_qnet)
                   else "qnet")
    p.add_argument("--compare-neutron", action="store_true",
                   help="also run against the Neutron peer and print qnet/Neutron ratios")
    p.add_argument("--neutron-url", default="http://127.0.0.1:9696")
    p.add_argument("--neutron-script", default=os.path.join(ROOT, "simulations", "peers",
                                                           "neutron.sh"),
                   help="starts (start) and stops (stop) the Neutron peer")
    p.add_argument("--neutron-workers", type=lambda v: [int(x) for x in v.split(",")],
                   default=[1, 2], help="Neutron API worker counts to run, e.g. 1,2")
    p.add_argument("--postgresql", action="store_true",
                   help="also run qnet on a private PostgreSQL (with --spawn; root)")
    opts = p.parse_args(argv)
    if not (1 <= opts.ports <= 50000 and 1 <= opts.clients <= 64 and opts.list_ports <= 60000):
        p.error("--ports 1..50000, --clients 1..64, --list-ports <= 60000")
    if opts.compare_neutron and not opts.spawn and opts.url == opts.neutron_url:
        p.error("--compare-neutron needs --spawn or a qnet --url other than --neutron-url")
    if opts.postgresql and not opts.spawn:
        p.error("--postgresql needs --spawn")
    return opts


def main(argv=None):
    opts = parse_args(argv)
    results = []
    backends = [("qnet", None)] + ([("qnet-pg", "postgresql")] if opts.postgresql else [])
    for name, database in backends:
        with tempfile.TemporaryDirectory(prefix="qnet-bench-") as workdir, \
                (private_postgresql() if database else contextlib.nullcontext()) as db_url:
            qnet = QnetServer(workdir, plugin="openflow", command=[opts.qnet_bin],
                              db_url=db_url).start() if opts.spawn else None
            try:
                pid = qnet.pid if qnet else opts.server_pid
                results.append(run_workload(opts, name, qnet.url if qnet else opts.url, pid))
            finally:
                if qnet:
                    qnet.stop()
        print(json.dumps(results[-1]), flush=True)
    ratio = None
    if opts.compare_neutron:
        for workers in opts.neutron_workers:
            peer = NeutronPeer(opts.neutron_script, opts.neutron_url, workers)
            try:
                results.append(run_workload(opts, f"neutron-{workers}w", opts.neutron_url,
                                            peer.start()))
            finally:
                peer.stop()
            print(json.dumps(results[-1]), flush=True)
        neutron = [r for r in results if r["target"].startswith("neutron")]
        ratio = ratios(results[0], neutron[0])
        for q in results[:len(backends)]:
            for n in neutron:
                print(json.dumps({f"ratios_{q['target']}_over_{n['target']}": ratios(q, n)}))
    print()
    print(f"qnet: one process ({'SQLite' + (' and PostgreSQL' if opts.postgresql else '')}); "
          "neutron-Nw: uWSGI with N API processes of 1 thread, ML2 without mechanism driver, "
          "MariaDB; last column: qnet (SQLite) / neutron-1w")
    print_table(results, ratio)


if __name__ == "__main__":
    main()
