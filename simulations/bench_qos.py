"""QoS benchmark: configured vs measured throughput of a bandwidth-limited port, TCP and UDP,
egress and ingress, and the time from an API update to the new rate on the switch.

Usage (root, with the project's venv; take the lab lock when others share the machine)::

    flock /tmp/qnet-lab.lock .venv/bin/python -m simulations.bench_qos
    ... bench_qos --rates 1,10,50,100 --seconds 4 --runs 2

What it does (everything it starts is stopped by pid, everything it creates removed, also on
failure):

1. Starts its own ``qnet serve`` (openflow plug-in, noauth, SQLite in a temp dir, free loopback
   ports) and a lab of one namespaced hypervisor (userspace OVS) with two VMs, ``limited`` and
   ``peer``, on one network; addresses by DHCP from the controller.
2. Measures TCP without a policy, then gives ``limited``'s port a policy with an egress and an
   ingress bandwidth limit rule (``max_burst_kbps`` 0: the default burst, apps/meters.py).
3. For each rate: updates both rules (PUT), timing each from just before the PUT to the moment
   ``ovs-ofctl dump-meters`` on the hypervisor shows the new rate (polled back to back: the API
   returns before the switch is programmed, so this is API + controller + switch); then iperf3
   ``--runs`` times per figure: TCP limited->peer (egress), TCP peer->limited (ingress), UDP
   offered at twice the rate in each direction (received rate). Every run leaves out its first
   second (``-O 1``: slow start, and the bucket that starts full), so the figure is the steady
   rate; the median of the runs is printed.

Output: a table (measured / configured), then one JSON line (prefix ``JSON ``).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from simulations.bench_overlay import fmt, loadavg  # noqa: E402
from simulations.serve import QnetServer  # noqa: E402

PROJECT = "bench-qos"
UDP_PAYLOAD = 1400          # fits the 1450-byte overlay MTU with IP and UDP headers


def iperf3(client, server, server_ip, seconds, udp_bps=None):
    """Received bits/s of one iperf3 run, the first second left out."""
    from simulations.lab.nodes import LabError, kill_pid, wait_for
    srv = server.popen(["iperf3", "-s", "-1", "-B", server_ip, "-p", "5201"])
    try:
        wait_for(lambda: ":5201" in server.cmd('ss -Hln "sport = :5201"'), timeout=10,
                 what="iperf3 server")
        args = ["iperf3", "-c", server_ip, "-p", "5201", "-t", str(seconds), "-O", "1", "-J"]
        if udp_bps:
            args += ["-u", "-b", str(int(udp_bps)), "-l", str(UDP_PAYLOAD)]
        cli = client.popen(args)
        out, _ = cli.communicate(timeout=seconds + 30)
        result = json.loads(out.decode())
        if "error" in result:
            raise LabError("iperf3: %s" % result["error"])
        end = result["end"]
        if not udp_bps:
            return end["sum_received"]["bits_per_second"]
        if "sum_received" in end:
            return end["sum_received"]["bits_per_second"]
        return end["sum"]["bits_per_second"] * (1 - end["sum"]["lost_percent"] / 100.0)
    finally:
        kill_pid(srv.pid)
        srv.communicate()


def median_mbps(runs, measure):
    return statistics.median(measure() for _ in range(runs)) / 1e6


def meter_rates(hv):
    """{meter id: rate kbps} as the switch reports them."""
    out = hv.ofctl("dump-meters", "br-int")
    return {int(m): int(r) for m, r in re.findall(r"meter=(\d+).*?rate=(\d+)", out, re.S)}


def timed_update(update, hv, meter_id, kbps, timeout=10.0):
    """Milliseconds from just before ``update()`` (the PUT) until the switch's meter shows
    ``kbps``."""
    t0 = time.monotonic()
    update()
    while time.monotonic() - t0 < timeout:
        if meter_rates(hv).get(meter_id) == kbps:
            return (time.monotonic() - t0) * 1000
    raise RuntimeError(f"meter {meter_id} did not reach {kbps} kbit/s in {timeout} s")


def setup(lab, url):
    from simulations.lab import seed
    from qnetclient import Client
    hv = lab.hypervisors[0]
    api = Client(url, project=PROJECT)
    seed.create_networks(api, {"web-net": seed.NETWORKS["web-net"]})
    servers = {name: seed.add_server(lab, api, PROJECT, name, ("web-net",), hv,
                                     host_number=10 + i)
               for i, name in enumerate(("limited", "peer"))}
    for server in servers.values():
        seed.wait_active(api, server)
        seed.dhcp(server)
    return api, hv, servers["limited"], servers["peer"]


def measure(lab, url, rates, seconds, runs):
    from apps import meters
    api, hv, limited, peer = setup(lab, url)
    lim_ip, peer_ip = limited.nics[0].ip, peer.nics[0].ip
    tcp_out = (lambda: iperf3(limited.vm, peer.vm, peer_ip, seconds))
    tcp_in = (lambda: iperf3(peer.vm, limited.vm, lim_ip, seconds))
    result = {"unlimited_tcp_mbps": median_mbps(runs, tcp_out), "rates": []}

    policy = api.qos_policies.create(name="bench")
    policy_rules = api.qos_rules(policy["id"])
    first = rates[0] * 1000
    rules = {d: policy_rules.create(max_kbps=first, direction=d) for d in ("egress", "ingress")}
    api.ports.update(limited.nics[0].port["id"], qos_policy_id=policy["id"])
    ofport = hv.ofport(limited.nics[0].hv_intf)
    ids = {d: meters.meter_id(ofport, d) for d in rules}
    deadline = time.monotonic() + 10
    while set(meter_rates(hv)) != set(ids.values()) and time.monotonic() < deadline:
        time.sleep(0.02)

    previous = None
    for mbit in rates:
        kbps = mbit * 1000
        row = {"mbps": mbit, "burst_kbits": meters.burst_kbits(kbps), "update_ms": []}
        if previous is not None:
            for d, rule in rules.items():
                row["update_ms"].append(timed_update(
                    lambda: policy_rules.update(rule["id"], max_kbps=kbps), hv, ids[d], kbps))
        previous = kbps
        udp_out = (lambda: iperf3(limited.vm, peer.vm, peer_ip, seconds, udp_bps=2e3 * kbps))
        udp_in = (lambda: iperf3(peer.vm, limited.vm, lim_ip, seconds, udp_bps=2e3 * kbps))
        row["tcp_egress"] = median_mbps(runs, tcp_out)
        row["tcp_ingress"] = median_mbps(runs, tcp_in)
        row["udp_egress"] = median_mbps(runs, udp_out)
        row["udp_ingress"] = median_mbps(runs, udp_in)
        print(f"  {mbit} Mbit/s done: {row}", file=sys.stderr, flush=True)
        result["rates"].append(row)
    result["port_stats"] = api.ports.stats(limited.nics[0].port["id"])
    return result


def report(r):
    print(f"\nTCP without a policy: {r['unlimited_tcp_mbps']:.0f} Mbit/s")
    print("\n| configured | burst (kbit) | TCP egress | TCP ingress | UDP egress | UDP ingress "
          "| API update -> meter on switch |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in r["rates"]:
        rate = row["mbps"]
        cells = [f"{row[k]:.2f} ({row[k] / rate:.2f})" for k in
                 ("tcp_egress", "tcp_ingress", "udp_egress", "udp_ingress")]
        update = " / ".join(f"{ms:.0f} ms" for ms in row["update_ms"]) or "(initial)"
        print(f"| {rate} Mbit/s | {row['burst_kbits']} | " + " | ".join(cells)
              + f" | {update} |")
    updates = [ms for row in r["rates"] for ms in row["update_ms"]]
    if updates:
        print(f"\nAPI update -> new rate on the switch: median {statistics.median(updates):.0f}"
              f" ms, max {max(updates):.0f} ms ({len(updates)} updates)")
    print(f"load average before/after: {fmt(r['load']['before'], '.2f')}/"
          f"{fmt(r['load']['after'], '.2f')}; elapsed {r['elapsed_s']} s")
    print("JSON " + json.dumps(r))


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench_qos", description=__doc__.split("\n")[0])
    p.add_argument("--rates", default="1,10,50,100", help="Mbit/s, comma-separated")
    p.add_argument("--seconds", type=int, default=4, help="per iperf3 run (plus 1 s left out)")
    p.add_argument("--runs", type=int, default=1, help="iperf3 runs per figure (median)")
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench_qos needs root (namespaces, OVS daemons)")
    rates = [int(x) for x in a.rates.split(",")]
    if not rates or any(not 1 <= x <= 10000 for x in rates):
        sys.exit("--rates: Mbit/s between 1 and 10000")
    a.seconds = max(2, min(a.seconds, 30))
    a.runs = max(1, min(a.runs, 5))

    from mininet.log import setLogLevel
    from simulations.lab.topo import start_lab
    setLogLevel("warning")
    load_before = loadavg()
    t_start = time.time()
    workdir = tempfile.mkdtemp(prefix="qnet-bench-qos-")
    server = None
    try:
        server = QnetServer(workdir, plugin="openflow").start()
        with start_lab(hypervisors=1, subnets=1) as lab:
            lab.connect(server)
            result = measure(lab, server.url, rates, a.seconds, a.runs)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    result.update(bench="qos", seconds=a.seconds, runs=a.runs,
                  load={"before": load_before, "after": loadavg()},
                  elapsed_s=round(time.time() - t_start, 1))
    report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
