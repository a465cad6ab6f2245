"""Fabric mode figures: flows per switch on a fat tree, and failover time on a real lab.

    .venv/bin/python -m simulations.bench_fabric                  # pure: flows per switch
    flock /tmp/qnet-lab.lock .venv/bin/python -m simulations.bench_fabric --lab --cuts 10

Pure part: a k=4 fat tree (20 switches: 4 core, 8 aggregation, 8 edge) with HOSTS hosts in
NETWORKS networks spread over the edge switches, compiled with apps/fabric_flows.py into
in-process switches (simulations/fabric_sim.py); prints flows and groups per switch role,
compile time, and what one aggregation-core link cut costs (networks rerouted, messages); then
the same fabric driven by the real, incremental fabric controller: what one host port added
and the same link cut cost it (changes, switches reached and visited).

Lab part (root, under the lab lock): ``qnet serve --mode fabric`` and the looped mesh lab; h1
pings h5 (same network, path over the chord s1-s3) every 20 ms while s1-s3 is cut, then
restored; the outage is the longest gap between replies (last packet before -> first after).
Also prints the controller's own figure: link event -> new flows acknowledged by barrier.
"""
import argparse
import random
import statistics
import sys
import tempfile
import time

from simulations.fabric_sim import SimFabric, fat_tree
from simulations.fixtures import model, network, port
from simulations.serve import QnetServer


def pure(hosts, networks, seed=1):
    g, edges = fat_tree(4)
    sim = SimFabric(g)
    rnd = random.Random(seed)
    ports = []
    for i in range(hosts):
        edge = edges[i % len(edges)]
        net = f"net{rnd.randrange(networks)}"
        ports.append(port(f"p{i}", net, "fa:16:3e:%02x:%02x:%02x" % (i >> 16, (i >> 8) & 255,
                                                                    i & 255),
                          f"10.0.{i // 250}.{i % 250 + 2}", f"vm{i}",
                          binding=sim.add_host(f"h{i}", edge)))
    m = model([network(f"net{n}", 1000 + n) for n in range(networks)], ports)
    t0 = time.perf_counter()
    sent = sim.program(m)
    compile_s = time.perf_counter() - t0
    roles = {"core": range(1, 5), "aggregation": [], "edge": edges}
    roles["aggregation"] = [s for s in g if s > 4 and s not in edges]
    print(f"fat tree k=4: {len(g)} switches, {g.number_of_edges()} links, {hosts} hosts in "
          f"{networks} networks (random placement, seed {seed})")
    print(f"first compile + load into fake switches: {sent} messages, {compile_s:.2f} s")
    print(f"{'role':<12} {'switches':>8} {'flows min':>9} {'median':>7} {'max':>5} "
          f"{'groups max':>10}")
    for role, members in roles.items():
        flows = [sim.switches[s].switch.flow_count() for s in members]
        groups = [len(sim.desired[s].groups) for s in members]
        print(f"{role:<12} {len(members):>8} {min(flows):>9} {statistics.median(flows):>7.0f} "
              f"{max(flows):>5} {max(groups):>10}")
    a, b = 5, 1                     # the first pod's first aggregation switch to a core
    before = dict(sim.routes.routes)
    t0 = time.perf_counter()
    sim.cut(a, b)
    sent = sim.program(m)
    cut_s = time.perf_counter() - t0
    rerouted = sum(1 for n, r in sim.routes.routes.items() if before.get(n) != r)
    print(f"cut link s{a}-s{b}: {rerouted} of {len(before)} networks rerouted, {sent} messages, "
          f"recompute + compile + diff {cut_s * 1000:.0f} ms")


def incremental(hosts, networks, seed=1):
    """The same fabric driven by the real fabric controller (apps/fabric.py, incremental):
    what one host port added and one link cut cost it."""
    from apps.fabric import FabricPlugin
    from controller.context import Context
    from controller.logical import Binding
    from controller.plugin import Change
    from simulations.fabric_sim import FabricCloud
    from simulations.fakecloud import StatusBoard

    g, edges = fat_tree(4)
    plugin = FabricPlugin()
    plugin.core = StatusBoard()
    per_edge = -(-hosts // len(edges)) + 1
    cloud = FabricCloud(plugin, g, host_ports=per_edge)
    rnd = random.Random(seed)
    for n in range(networks):
        for value in network(f"net{n}", 1000 + n):
            plugin.model.put(value)

    def host_port(i, net):
        edge = edges[i % len(edges)]
        where = Binding(edge, port_name=cloud.host_ports(edge)[i // len(edges)])
        return port(f"p{i:05d}", net, "fa:16:3e:%02x:%02x:%02x" % (i >> 16, (i >> 8) & 255,
                                                                    i & 255),
                    f"10.0.{i // 250}.{i % 250 + 2}", f"vm{i}", binding=where)
    for i in range(hosts):
        plugin.model.put(host_port(i, f"net{rnd.randrange(networks)}"))
    for dpid in sorted(g):
        cloud.connect(dpid)
    t0 = time.perf_counter()
    work, sent = cloud.settle()
    print(f"\nreal controller, incremental: cold start {sent} changes, "
          f"{time.perf_counter() - t0:.2f} s")
    new = host_port(hosts, "net0")
    before = {d: dp.sent_count() for d, dp in cloud.switches.items()}
    t0 = time.perf_counter()
    plugin.notify(Change("port", "created", Context.admin(), None, None, after=new))
    work, sent = cloud.settle()
    reached = sum(dp.sent_count() > before[d] for d, dp in cloud.switches.items())
    carriers = len(cloud.controller.routes.routes["net0"].carriers)
    print(f"one host port added (net0, carried by {carriers} switches): {sent} changes on "
          f"{reached} of {len(g)} switches, "
          f"{work.switches_visited} visited, {work.pieces_computed} pieces, "
          f"{(time.perf_counter() - t0) * 1000:.1f} ms")
    t0 = time.perf_counter()
    cloud.cable(5, 1, up=False)
    work, sent = cloud.settle()
    print(f"cut link s5-s1: {len(cloud.controller.desired.rerouted)} networks rerouted, "
          f"{sent} changes, {work.switches_visited} switches visited, "
          f"{(time.perf_counter() - t0) * 1000:.0f} ms")


def lab(cuts):
    from qnetclient import Client
    from simulations.lab.fabric import (LINKS, fabric_scenario, outage_during, pin_neighbours,
                                        start_fabric, wait_ready)
    from simulations.lab.nodes import wait_for

    with tempfile.TemporaryDirectory(prefix="qnet-bench-fabric-") as workdir:
        server = QnetServer(workdir, plugin="openflow", extra=["--mode", "fabric"]).start()
        try:
            admin = Client(server.url, project="ops", admin=True)
            with start_fabric("mesh", controller=f"127.0.0.1:{server.ofp_port}") as net:
                members = {m.name: m for m in fabric_scenario(net, admin, "mesh")}
                wait_ready(admin, list(members.values()), LINKS["mesh"])
                pin_neighbours(list(members.values()))
                h1, h5 = members["h1"], members["h5"]

                def on_chord():
                    topo = admin.topology()
                    return any([f"{1:016x}", f"{3:016x}"] in n["links"]
                               for n in topo["networks"])

                down, up, reaction = [], [], []
                for i in range(cuts):
                    wait_for(on_chord, timeout=15, interval=0.1, what="route back on s1-s3")
                    gap, _, _ = outage_during(h1.host, h5.ip, lambda: net.configLinkStatus(
                        "s1", "s3", "down"), before=1.0, after=2.0)
                    down.append(gap)
                    rec = admin.topology()["recomputes"]
                    reaction.append(rec[-1]["seconds"])
                    gap, _, _ = outage_during(h1.host, h5.ip, lambda: net.configLinkStatus(
                        "s1", "s3", "up"), before=0.5, after=3.0)
                    up.append(gap)
                    print(f"cut {i + 1}: outage {down[-1] * 1000:.0f} ms (controller: event -> "
                          f"flows acked {reaction[-1] * 1000:.0f} ms); restore: longest gap "
                          f"{gap * 1000:.0f} ms", flush=True)
        finally:
            server.stop()

    def stats(xs):
        xs = sorted(x * 1000 for x in xs)
        return (f"p50 {statistics.median(xs):.0f} ms, p90 {xs[int(0.9 * (len(xs) - 1))]:.0f} "
                f"ms, max {xs[-1]:.0f} ms")
    print(f"\nfailover over {cuts} cuts of s1-s3 (ping every 20 ms, longest gap between "
          f"replies): {stats(down)}")
    print(f"controller, link event -> new flows acknowledged: {stats(reaction)}")
    print(f"restore (rebalance onto s1-s3), longest gap: {stats(up)}")


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench_fabric", description=__doc__.split("\n")[0])
    p.add_argument("--hosts", type=int, default=200)
    p.add_argument("--networks", type=int, default=20)
    p.add_argument("--lab", action="store_true", help="also measure failover on the mesh lab "
                                                      "(root; run under the lab lock)")
    p.add_argument("--cuts", type=int, default=10)
    a = p.parse_args(argv)
    pure(a.hosts, a.networks)
    incremental(a.hosts, a.networks)
    if a.lab:
        lab(a.cuts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
