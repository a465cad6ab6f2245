"""Cluster benchmarks (docs/cluster.md): failover and change propagation on real Open vSwitch,
and API throughput with 1, 2 and 3 ``qnet serve`` instances on one PostgreSQL.

Usage (root, with the project's venv; take the lab lock when others share the machine)::

    flock /tmp/qnet-lab.lock .venv/bin/python -m simulations.bench_cluster failover --kills 10
    .venv/bin/python -m simulations.bench_cluster api --instances 1,2,3 --clients 8,16,32

Both start a private PostgreSQL (simulations/postgres.py) and their own ``qnet serve``
processes on free loopback ports, and stop everything they started by pid, also on failure.

``failover``: three instances (openflow plug-in) and a lab of two namespaced hypervisors whose
bridges and ovsdb-servers connect to all three; one VM whose port is bound on hv1.
*Propagation*: ``--changes`` times, the port's ``admin_state_up`` is flipped through a standby
and the time until hv1's flow count changes (``ovs-ofctl dump-aggregate``, polled back to back)
is taken: write on B -> committed -> notified -> master A's model -> flow-mods -> switch.
*Failover*: ``--kills`` times, the master is killed (SIGKILL, by pid) and at once the port is
flipped through a survivor; the time from the kill to hv1's flow count changing is the time to
the first flow-mod the new master got acknowledged (lease takeover, read-back of both switches,
the change). The killed instance is started again (a standby) before the next kill.

``api``: for each instance count, that many instances (noop plug-in: the API and the database
only) and, for each client count, that many threads creating ports round-robin over the
instances for ``--seconds``; ports/s, latency p50/p99, and the CPU seconds per second used by
the qnet processes, by PostgreSQL and by the clients (the machine's cores are the ceiling).

Output: tables, then one JSON line (prefix ``JSON ``).
"""
import argparse
import concurrent.futures
import json
import os
import signal
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import requests  # noqa: E402

from simulations.bench_api import percentile  # noqa: E402
from simulations.postgres import private_postgresql, reset, server_pids  # noqa: E402
from simulations.serve import QnetServer  # noqa: E402

PROJECT = "bench-cluster"
H = {"X-Project-Id": PROJECT}


def cluster_status(url):
    from controller.cluster import status
    from controller.db import Database
    db = Database(url)
    try:
        with db.read() as session:
            return status(session)
    finally:
        db.dispose()


def master(url, servers):
    """The server holding the lease (None if none is alive) and the generation."""
    found = cluster_status(url)
    lease = found["lease"]
    if lease is None:
        return None, 0
    holder = next((i for i in found["instances"] if i["id"] == lease["holder"]), None)
    by_url = {s.url: s for s in servers}
    return (by_url.get(holder["api_url"]) if holder else None), lease["generation"]


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def summary(values):
    xs = sorted(values)
    return {"n": len(xs), "p50_ms": round(1000 * percentile(xs, 0.5), 1),
            "p99_ms": round(1000 * percentile(xs, 0.99), 1), "max_ms": round(1000 * xs[-1], 1)}


# -- failover and propagation ------------------------------------------------------------------
def flow_count(hv):
    out = hv.ofctl("dump-aggregate", "br-int")
    return int(out.split("flow_count=")[1].split()[0])


def flip_and_time(hv, url, port, state, start=None):
    """PUT admin_state_up=``state`` on ``port`` through ``url``; seconds from ``start`` (default:
    now) until ``hv``'s flow count changes."""
    before = flow_count(hv)
    start = start or time.monotonic()
    requests.put(f"{url}/v2.0/ports/{port}", json={"port": {"admin_state_up": state}},
                 headers=H, timeout=30).raise_for_status()
    deadline = start + 30
    while flow_count(hv) == before:
        if time.monotonic() > deadline:
            raise RuntimeError("the change never reached the switch")
    return time.monotonic() - start


def bench_failover(kills, changes, workdir):
    from simulations.lab.topo import start_lab
    results = {}
    with private_postgresql() as url:
        servers = [QnetServer(workdir, plugin="openflow", db_url=url, log_level="INFO",
                              log_name=f"serve-{n}.log", ofp_unix=False) for n in "abc"]
        try:
            servers[0].start()
            wait(lambda: master(url, servers)[0] is servers[0], 20, "a master")
            for srv in servers[1:]:
                srv.start()
            with start_lab(hypervisors=2, subnets=1) as lab:
                lab.connect(*servers)
                hv1 = lab.hypervisors[0]
                net = requests.post(servers[1].url + "/v2.0/networks", headers=H, json={
                    "network": {"name": "bench"}}).json()["network"]
                requests.post(servers[1].url + "/v2.0/subnets", headers=H, json={"subnet": {
                    "network_id": net["id"], "cidr": "10.9.0.0/24", "ip_version": 4}})
                port = requests.post(servers[1].url + "/v2.0/ports", headers=H, json={
                    "port": {"network_id": net["id"]}}).json()["port"]
                lab.add_vm("probe", hv1, port["fixed_ips"][0]["ip_address"] + "/24",
                           mac=port["mac_address"], iface_id=port["id"])
                wait(lambda: requests.get(f"{servers[0].url}/v2.0/ports/{port['id']}",
                                          headers=H).json()["port"]["status"] == "ACTIVE",
                     30, "the probe port ACTIVE")
                state = True
                prop = []
                for _ in range(changes):
                    state = not state
                    prop.append(flip_and_time(hv1, servers[1].url, port["id"], state))
                    time.sleep(0.05)
                results["propagation"] = summary(prop)
                fail = []
                for _ in range(kills):
                    killed, _ = master(url, servers)
                    survivor = next(s for s in servers if s is not killed)
                    start = time.monotonic()
                    killed.proc.send_signal(signal.SIGKILL)
                    killed.proc.wait()
                    state = not state
                    fail.append(flip_and_time(hv1, survivor.url, port["id"], state, start))
                    killed.start()
                    wait(lambda: sum(i["alive"] for i in cluster_status(url)["instances"]) >= 3,
                         30, "the killed instance back")
                    time.sleep(1.0)
                results["failover"] = summary(fail)
        finally:
            for srv in servers:
                srv.stop()
    return results


# -- API throughput ----------------------------------------------------------------------------
def cpu_seconds(pids):
    """utime + stime of ``pids`` in seconds (gone processes count 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / os.sysconf("SC_CLK_TCK")


def hammer(urls, net, clients, seconds):
    """``clients`` threads creating ports round-robin over ``urls`` for ``seconds``."""
    stop = time.monotonic() + seconds
    latencies, failures = [], []
    lock = threading.Lock()

    def client(n):
        session = requests.Session()
        i = n
        while time.monotonic() < stop:
            t0 = time.monotonic()
            r = session.post(urls[i % len(urls)] + "/v2.0/ports", headers=H,
                             json={"port": {"network_id": net}}, timeout=60)
            with lock:
                (latencies if r.status_code == 201 else failures).append(time.monotonic() - t0)
            i += 1

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return latencies, failures


def bench_api(instance_counts, client_counts, seconds, workdir):
    rows = []
    with private_postgresql(settings=("max_connections=300",)) as url:
        for count in instance_counts:
            reset(url)
            servers = [QnetServer(workdir, db_url=url, log_name=f"api-{count}-{i}.log")
                       for i in range(count)]
            try:
                for srv in servers:
                    srv.start()
                urls = [s.url for s in servers]
                net = requests.post(urls[0] + "/v2.0/networks", headers=H, json={
                    "network": {"name": "bench"}}).json()["network"]["id"]
                requests.post(urls[0] + "/v2.0/subnets", headers=H, json={"subnet": {
                    "network_id": net, "cidr": "10.128.0.0/9",
                    "ip_version": 4}}).raise_for_status()
                hammer(urls, net, 4, 1.0)                     # warm up
                for clients in client_counts:
                    qnet, pg = [s.pid for s in servers], server_pids(url)
                    before = (cpu_seconds(qnet), cpu_seconds(pg), time.process_time())
                    start = time.monotonic()
                    ok, failed = hammer(urls, net, clients, seconds)
                    took = time.monotonic() - start
                    after = (cpu_seconds(qnet), cpu_seconds(pg + server_pids(url)),
                             time.process_time())
                    lat = sorted(ok)
                    rows.append({"instances": count, "clients": clients, "ports": len(ok),
                                 "failed": len(failed),
                                 "ports_per_s": round(len(ok) / took, 1),
                                 "p50_ms": round(1000 * percentile(lat, 0.5), 1),
                                 "p99_ms": round(1000 * percentile(lat, 0.99), 1),
                                 "qnet_cpu": round((after[0] - before[0]) / took, 2),
                                 "postgres_cpu": round((after[1] - before[1]) / took, 2),
                                 "clients_cpu": round((after[2] - before[2]) / took, 2)})
            finally:
                for srv in servers:
                    srv.stop()
    base = {r["clients"]: r["ports_per_s"] for r in rows if r["instances"] == instance_counts[0]}
    for r in rows:
        r["ratio"] = round(r["ports_per_s"] / base[r["clients"]], 2) if base.get(
            r["clients"]) else None
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench_cluster", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    f = sub.add_parser("failover", help="failover and propagation times (lab, root)")
    f.add_argument("--kills", type=int, default=10)
    f.add_argument("--changes", type=int, default=50)
    a = sub.add_parser("api", help="API throughput with 1..N instances on PostgreSQL")
    a.add_argument("--instances", default="1,2,3")
    a.add_argument("--clients", default="8,16,32")
    a.add_argument("--seconds", type=float, default=5.0)
    args = p.parse_args(argv)
    if args.what == "failover" and not (1 <= args.kills <= 100 and 1 <= args.changes <= 500):
        p.error("--kills 1..100, --changes 1..500")
    with tempfile.TemporaryDirectory(prefix="qnet-bench-cluster-") as work:
        if args.what == "failover":
            out = bench_failover(args.kills, args.changes, work)
            for name, s in out.items():
                print(f"{name:<12} n={s['n']:<4} p50 {s['p50_ms']:7.1f} ms   p99 "
                      f"{s['p99_ms']:7.1f} ms   max {s['max_ms']:7.1f} ms")
        else:
            instances = [int(x) for x in args.instances.split(",")]
            clients = [int(x) for x in args.clients.split(",")]
            if max(clients) > 64 or max(instances) > 5 or not 0 < args.seconds <= 60:
                p.error("at most 64 clients, 5 instances, 60 s")
            out = bench_api(instances, clients, args.seconds, work)
            print(f"{'instances':>9} {'clients':>7} {'ports/s':>8} {'ratio':>6} {'p50 ms':>7} "
                  f"{'p99 ms':>7} {'qnet cpu':>8} {'pg cpu':>7} {'clients cpu':>11}")
            for r in out:
                print(f"{r['instances']:>9} {r['clients']:>7} {r['ports_per_s']:>8} "
                      f"{r['ratio'] or '-':>6} {r['p50_ms']:>7} {r['p99_ms']:>7} "
                      f"{r['qnet_cpu']:>8} {r['postgres_cpu']:>7} {r['clients_cpu']:>11}")
        print("JSON " + json.dumps({"bench": args.what, "cpus": os.cpu_count(),
                                    "loadavg": os.getloadavg()[0], "results": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
