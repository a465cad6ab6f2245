"""L3 benchmark (issue 12): routed vs same-network TCP, SNAT vs no NAT, floating-IP associate
-> first packet, flows per hypervisor; qnet and (``--ovn``) OVN on the same lab, side by side.

Usage (root, from the repository root, with the project's venv)::

    .venv/bin/python -m simulations.bench_l3                  # qnet only
    .venv/bin/python -m simulations.bench_l3 --ovn --rounds 2 # + OVN, interleaved rounds

The same logical topology on both sides, on a lab of 3 namespaced hypervisors over a routed
underlay (simulations/lab) with an "outside" host on a flat external network that hv1 and hv2
reach through a bridge mapping (simulations/lab/outside.py):

    networks a 10.0.1.0/24, b 10.0.2.0/24; a router on both, its gateway 203.0.113.10 on the
    external network (next hop: the outside, 203.0.113.254), SNAT; gateway hypervisor hv1.
    VMs: x1 (a, hv1), x2 (a, hv2), y2 (b, hv2), f2 (b, hv2: the floating IP's VM).

qnet: its own ``qnet serve`` (openflow plug-in) and the API (Neutron calls). OVN: the peer of
simulations/peers/ovn.py (northd, an ovn-controller per hypervisor, VXLAN), a logical router
with a gateway port on hv1 (``lrp-set-gateway-chassis``), a localnet port on physnet1, an
``snat`` entry and, for the floating IP, a distributed ``dnat_and_snat`` entry (logical port
and external MAC). Figures, per side:

1. TCP x1 -> x2 (same network) and x1 -> y2 (routed), across hypervisors: iperf3
   (``--iperf-seconds``, 10 by default); these and the SNAT transfer below take turns at
   going first in a round, the same turn on both sides.
2. TCP x1 -> outside with SNAT, and without NAT (qnet: ``enable_snat`` false; OVN: the snat
   entry deleted; the outside routes 10.0.0.0/16 through the gateway IP).
3. Floating IP associate -> first packet, ``--samples`` times: the floating IP is not
   associated, the outside pings it every 1 ms (simulations/lab/icmp_probe.py, which keeps
   that cadence while nothing answers; static neighbour entry, so ARP timers play no
   part); t0 just before the API call (qnet: PUT floatingips; OVN: lr-nat-add); the figure is
   the first echo reply's timestamp minus t0 (and, apart, how long the call itself took).
   Then disassociate and wait for the pings to stop. A sample with no reply within 7 s is
   counted (and printed), not timed.
4. Flows on each hypervisor's br-int.
5. During each transfer, the datapath passes per packet the hypervisors received (each
   recirculation, after a tunnel's decapsulation or conntrack, is one more pass;
   ``dpif-netdev/pmd-stats-show``): the per-packet work of a side's flows. Unlike a rate, it
   does not move with the machine's load, so it tells whether a gap in TCP rates is the flows'.

``--rounds`` runs qnet and OVN that many times (interleaved, so background load hits both
alike; every other round OVN goes first, so the order favours neither); throughput is
best-of-rounds (other work only ever lowers a run; each round's figures are printed too),
latencies pool all samples; the qnet/OVN rate of each round (its two sides ran back to back)
is printed with its median. Output: a table, then one JSON line (prefix ``JSON ``).
Everything it starts is stopped by pid and every namespace removed, also on failure (the
labs' own clean-up).
"""
import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from simulations.bench_overlay import Pinger, flow_counts, pct  # noqa: E402
from simulations.lab import check  # noqa: E402
from simulations.lab.nodes import wait_for  # noqa: E402

V2 = "/v2.0"
OUTSIDE, GW, FIP = "203.0.113.254", "203.0.113.10", "203.0.113.50"
VMS = {"x1": ("a", "hv1", "10.0.1.11"), "x2": ("a", "hv2", "10.0.1.12"),
       "y2": ("b", "hv2", "10.0.2.12"), "f2": ("b", "hv2", "10.0.2.13")}
CIDRS = {"a": "10.0.1.0/24", "b": "10.0.2.0/24"}


def mac_of(name):
    return "02:00:00:00:%02x:%02x" % (ord(name[0]), int(name[1]))


def datapath_passes(hypervisors):
    """Packets the hypervisors' userspace datapaths received and their passes through the
    datapath (a packet is looked up again after each recirculation: tunnel decapsulation,
    conntrack), summed, from ``dpif-netdev/pmd-stats-show`` since the last clear."""
    received = passes = 0
    for hv in hypervisors:
        out = hv.appctl("dpif-netdev/pmd-stats-show")
        pkts = sum(int(n) for n in re.findall(r"packets received: (\d+)", out))
        received += pkts
        passes += pkts + sum(int(n) for n in re.findall(r"packet recirculations: (\d+)", out))
    return received, passes


def transfer(r, name, lab, client, server, server_ip, seconds):
    """TCP client -> server: ``r[name]`` gets the rate (bits/s) and ``r["work"][name]`` the
    datapaths' passes per received packet during it, the per-packet work of the flows a side
    installed, which (unlike the rate) does not depend on what else the machine was doing."""
    for hv in lab.hypervisors:
        hv.appctl("dpif-netdev/pmd-stats-clear")
    r[name] = check.iperf3(client, server, server_ip, seconds)
    received, passes = datapath_passes(lab.hypervisors)
    r.setdefault("work", {})[name] = round(passes / received, 3)


def throughput(lab, outside, seconds, rnd):
    """Same-network, routed and SNAT TCP of one side (``transfer``), in an order that turns
    with the round ``rnd``: the first transfer after a lab came up ran slower or faster than
    the next in one side's rounds, and each kind should take its turn at that."""
    r = {}
    kinds = [("same_network", lab["x2"], VMS["x2"][2]), ("routed", lab["y2"], VMS["y2"][2]),
             ("snat", outside, OUTSIDE)]
    for name, server, ip in kinds[rnd % 3:] + kinds[:rnd % 3]:
        transfer(r, name, lab, lab["x1"], server, ip, seconds)
    return r


def associate_to_first_packet(outside, address, associate, disassociate, samples):
    """Seconds from the associate call to the first echo reply from ``address`` to the
    outside, ``samples`` times (each after a disassociate that stopped the replies), how
    long each call itself took (the API's answer; ovn-nbctl's exit), and how many samples
    got no reply within 7 s (reported, not timed)."""
    out, calls, missed = [], [], 0
    for _ in range(samples):
        disassociate()
        wait_for(lambda: not check.ping(outside, address, wait=1), timeout=10,
                 what="the floating IP to stop answering")
        pinger = Pinger(outside, address, 8)
        try:
            time.sleep(0.3)
            if pinger.poll(0):
                raise RuntimeError("replies before the associate: the sample is void")
            t0 = time.time()
            associate()
            calls.append(time.time() - t0)
            first = pinger.poll(7)
        finally:
            pinger.stop()
        if first is None:
            missed += 1
        else:
            out.append(first - t0)
    return out, calls, missed


# -- qnet -----------------------------------------------------------------------------------------
def run_qnet(a, rnd):
    from qnetclient import Client
    from simulations.lab.outside import add_outside
    from simulations.lab.topo import start_lab
    from simulations.serve import QnetServer
    from apps.l3 import fip_mac
    with tempfile.TemporaryDirectory(prefix="qnet-bench-l3-") as tmp:
        ctl = QnetServer(tmp, plugin="openflow", log_level="WARNING").start()
        try:
            with start_lab(hypervisors=3, subnets=2) as lab:
                outside = add_outside(lab, ["hv1", "hv2"])
                lab.connect(ctl)
                admin, c = Client(ctl.url, project="admin", admin=True), \
                    Client(ctl.url, project="bench")

                def post(client, path, key, body):
                    return client.request("POST", f"{V2}/{path}", {key: body})[key]
                ext = post(admin, "networks", "network", {
                    "name": "public", "router:external": True,
                    "provider:network_type": "flat", "provider:physical_network": "physnet1"})
                post(admin, "subnets", "subnet", {
                    "network_id": ext["id"], "cidr": "203.0.113.0/24", "gateway_ip": OUTSIDE,
                    "enable_dhcp": False,
                    "allocation_pools": [{"start": GW, "end": "203.0.113.60"}]})
                router = post(c, "routers", "router", {
                    "name": "r", "external_gateway_info": {"network_id": ext["id"]}})
                nets = {}
                for name, cidr in CIDRS.items():
                    nets[name] = post(c, "networks", "network", {"name": name})
                    sub = post(c, "subnets", "subnet", {"network_id": nets[name]["id"],
                                                        "cidr": cidr})
                    c.request("PUT", f"{V2}/routers/{router['id']}/add_router_interface",
                              {"subnet_id": sub["id"]})
                ports = {}
                for vm, (net, hv, ip) in VMS.items():
                    # port security and no security group, as the OVN side's ports (no
                    # ACLs there): a port in no group is not filtered (apps/secgroups.py),
                    # while the default group would refuse the outside's pings
                    ports[vm] = post(c, "ports", "port", {
                        "network_id": nets[net]["id"], "mac_address": mac_of(vm),
                        "fixed_ips": [{"ip_address": ip}], "security_groups": []})
                    host = lab.add_vm(vm, hv, ip + "/24", mac=mac_of(vm),
                                      iface_id=ports[vm]["id"])
                    host.cmd(f"ip route replace default via {ip.rsplit('.', 1)[0]}.1")
                gw_ip = c.request("GET", f"{V2}/routers/{router['id']}")["router"][
                    "external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
                for vm in VMS:
                    wait_for(lambda v=vm: c.request("GET", f"{V2}/ports/{ports[v]['id']}")[
                        "port"]["status"] == "ACTIVE", timeout=30, what=f"{vm} ACTIVE")
                check.wait_ping(lab["x1"], VMS["y2"][2])
                check.wait_ping(lab["x1"], OUTSIDE)
                r = throughput(lab, outside, a.iperf_seconds, rnd)
                admin.request("PUT", f"{V2}/routers/{router['id']}", {"router": {   # admin only
                    "external_gateway_info": {"network_id": ext["id"], "enable_snat": False}}})
                outside.cmd(f"ip route replace 10.0.0.0/16 via {gw_ip}")
                check.wait_ping(lab["x1"], OUTSIDE)
                transfer(r, "no_nat", lab, lab["x1"], outside, OUTSIDE, a.iperf_seconds)
                admin.request("PUT", f"{V2}/routers/{router['id']}", {"router": {
                    "external_gateway_info": {"network_id": ext["id"], "enable_snat": True}}})
                fip = post(c, "floatingips", "floatingip", {"floating_network_id": ext["id"]})
                address = fip["floating_ip_address"]
                outside.cmd(f"ip neigh replace {address} lladdr {fip_mac(address)} "
                            "dev outside-eth0 nud permanent")

                def associate(port_id):
                    c.request("PUT", f"{V2}/floatingips/{fip['id']}",
                              {"floatingip": {"port_id": port_id}})
                r["associate"], r["calls"], r["missed"] = associate_to_first_packet(
                    outside, address, lambda: associate(ports["f2"]["id"]),
                    lambda: associate(None), a.samples)
                r["flows"] = {hv: v["flows"] for hv, v in flow_counts(lab.hypervisors).items()}
                return r
        finally:
            ctl.stop()


# -- OVN ------------------------------------------------------------------------------------------
def run_ovn(a, rnd):
    from simulations.lab.outside import add_outside
    from simulations.peers.ovn import add_port, add_switch, ovn_lab, plug_vm
    fip_mac = "02:00:00:00:f1:50"
    with ovn_lab(hypervisors=3, subnets=2) as (lab, central, chassis):
        outside = add_outside(lab, ["hv1", "hv2"], ovn=True)
        nb = central.nbctl
        add_switch(central, "public")
        nb("lsp-add", "public", "ln-public", "--", "lsp-set-type", "ln-public", "localnet",
           "--", "lsp-set-addresses", "ln-public", "unknown", "--", "lsp-set-options",
           "ln-public", "network_name=physnet1")
        nb("lr-add", "r")
        for i, (name, cidr) in enumerate(CIDRS.items(), 1):
            add_switch(central, name)
            rmac = "02:00:00:aa:00:%02x" % i
            nb("lrp-add", "r", f"r-{name}", rmac, cidr.replace(".0/24", ".1/24"))
            nb("lsp-add", name, f"{name}-r", "--", "lsp-set-type", f"{name}-r", "router",
               "--", "lsp-set-addresses", f"{name}-r", "router", "--", "lsp-set-options",
               f"{name}-r", f"router-port=r-{name}")
        nb("lrp-add", "r", "r-pub", "02:00:00:ee:00:01", GW + "/24")
        nb("lsp-add", "public", "pub-r", "--", "lsp-set-type", "pub-r", "router", "--",
           "lsp-set-addresses", "pub-r", "router", "--", "lsp-set-options", "pub-r",
           "router-port=r-pub")
        nb("lrp-set-gateway-chassis", "r-pub", "hv1")
        nb("lr-route-add", "r", "0.0.0.0/0", OUTSIDE)
        nb("lr-nat-add", "r", "snat", GW, "10.0.0.0/16")
        for vm, (net, hv, ip) in VMS.items():
            add_port(central, net, vm, mac_of(vm), ip)
            host = plug_vm(lab, vm, lab[hv], [(vm, mac_of(vm), ip + "/24")])
            host.cmd(f"ip route replace default via {ip.rsplit('.', 1)[0]}.1")
        central.wait_hv()
        check.wait_ping(lab["x1"], VMS["y2"][2], timeout=30)
        check.wait_ping(lab["x1"], OUTSIDE, timeout=30)
        r = throughput(lab, outside, a.iperf_seconds, rnd)
        nb("lr-nat-del", "r", "snat", "10.0.0.0/16")
        outside.cmd(f"ip route replace 10.0.0.0/16 via {GW}")
        central.wait_hv()
        check.wait_ping(lab["x1"], OUTSIDE)
        transfer(r, "no_nat", lab, lab["x1"], outside, OUTSIDE, a.iperf_seconds)
        nb("lr-nat-add", "r", "snat", GW, "10.0.0.0/16")
        outside.cmd(f"ip neigh replace {FIP} lladdr {fip_mac} dev outside-eth0 nud permanent")
        nat = ("dnat_and_snat", FIP, VMS["f2"][2], "f2", fip_mac)
        r["associate"], r["calls"], r["missed"] = associate_to_first_packet(
            outside, FIP, lambda: nb("lr-nat-add", "r", *nat),
            lambda: nb("--if-exists", "lr-nat-del", "r", "dnat_and_snat", FIP), a.samples)
        central.wait_hv()              # the last sample left the floating IP associated
        r["flows"] = {ch.name: ch.flows() for ch in chassis}
        return r


# -- report ---------------------------------------------------------------------------------------
TRANSFERS = ("same_network", "routed", "snat", "no_nat")


def summary(runs):
    """Best-of-rounds throughput (Mbit/s), pooled associate latency (ms), the most datapath
    passes per packet and flows seen."""
    if not runs:
        return None
    best = {k: max(r[k] for r in runs) / 1e6 for k in TRANSFERS}
    lat = [s * 1000 for r in runs for s in r["associate"]]
    calls = [s * 1000 for r in runs for s in r["calls"]]
    return {**{f"{k}_mbps": round(v, 1) for k, v in best.items()},
            "routed_ratio": round(best["routed"] / best["same_network"], 3),
            "snat_ratio": round(best["snat"] / best["no_nat"], 3),
            "associate_p50_ms": round(pct(lat, 50), 1), "associate_p99_ms": round(pct(lat, 99), 1),
            "associate_call_p50_ms": round(pct(calls, 50), 1),
            "associate_missed": sum(r["missed"] for r in runs),
            **{f"{k}_passes": max(r["work"][k] for r in runs) for k in TRANSFERS},
            "flows_max": max(max(r["flows"].values()) for r in runs),
            "flows": runs[-1]["flows"]}


def paired_ratios(qnet_runs, ovn_runs):
    """{transfer: qnet/OVN rate of each round}: the two sides of one round ran back to back,
    so a round's ratio is the least exposed to the machine's load drifting between rounds."""
    return {k: [round(q[k] / o[k], 3) for q, o in zip(qnet_runs, ovn_runs)] for k in TRANSFERS}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m simulations.bench_l3", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ovn", action="store_true", help="the OVN peer too (make peers)")
    p.add_argument("--rounds", type=int, default=1,
                   help="qnet and OVN this many times, who goes first alternating")
    p.add_argument("--samples", type=int, default=10, help="associate -> first packet samples")
    # 10 s: with 3 s transfers the rounds of one side spread by ±10 % here and the best-of
    # figure followed the noise (docs/l3.md, figures of 2026-12-06 evening)
    p.add_argument("--iperf-seconds", type=int, default=10, help="length of each TCP transfer")
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("needs root (namespaces, OVS daemons)")
    from mininet.log import setLogLevel
    setLogLevel("warning")
    if a.ovn:
        from simulations.peers.ovn import installed
        if not installed():
            sys.exit("OVN is not installed: make peers")
    runs = {"qnet": [], "ovn": []}
    sides = {"qnet": run_qnet, "ovn": run_ovn} if a.ovn else {"qnet": run_qnet}
    for i in range(a.rounds):
        # every other round the peer goes first: whatever the order favours (a machine
        # that warmed up, a neighbour's load that faded) falls on both sides alike
        for side in (list(sides) if i % 2 == 0 else list(sides)[::-1]):
            r = sides[side](a, i)
            runs[side].append(r)
            print(f"round {i + 1} {side}: TCP Mbit/s same network {r['same_network'] / 1e6:.0f},"
                  f" routed {r['routed'] / 1e6:.0f}, SNAT {r['snat'] / 1e6:.0f}, "
                  f"no NAT {r['no_nat'] / 1e6:.0f}", flush=True)
    result = {side: summary(r) for side, r in runs.items() if r}
    q, o = result["qnet"], result.get("ovn")
    rows = [("routed TCP across hypervisors (Mbit/s)", "routed_mbps"),
            ("same-network TCP across hypervisors (Mbit/s)", "same_network_mbps"),
            ("routed / same network", "routed_ratio"),
            ("SNAT TCP to the outside (Mbit/s)", "snat_mbps"),
            ("no-NAT TCP to the outside (Mbit/s)", "no_nat_mbps"),
            ("SNAT / no NAT", "snat_ratio"),
            ("floating IP associate -> first packet p50 (ms)", "associate_p50_ms"),
            ("floating IP associate -> first packet p99 (ms)", "associate_p99_ms"),
            ("  of which the call itself, p50 (ms)", "associate_call_p50_ms"),
            ("  samples with no reply within 7 s", "associate_missed"),
            ("flows per hypervisor (max)", "flows_max"),
            ("datapath passes per packet, same network", "same_network_passes"),
            ("datapath passes per packet, routed", "routed_passes"),
            ("datapath passes per packet, SNAT", "snat_passes"),
            ("datapath passes per packet, no NAT", "no_nat_passes")]
    print(f"{'':48} {'qnet':>10} {'OVN':>10} {'qnet/OVN':>9}")
    for label, key in rows:
        ratio = f"{q[key] / o[key]:.2f}" if o and o[key] else ""
        print(f"{label:48} {q[key]:>10} {o[key] if o else '':>10} {ratio:>9}")
    if o:
        result["ratios"] = {k: round(q[k] / o[k], 3) for _, k in rows if o[k]}
        result["round_ratios"] = paired_ratios(runs["qnet"], runs["ovn"])
        print("TCP qnet/OVN of each round (median; min-max):")
        for k, v in result["round_ratios"].items():
            print(f"  {k:14} {statistics.median(v):.2f}; {min(v):.2f}-{max(v):.2f}  ({v})")
    print("JSON " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
