"""Security groups: what they cost in flows and in time (issue 13).

    python -m simulations.bench_secgroups [--ovn] [--lab] [--members 1000]

* **flows per hypervisor**: 1,000 ports of one network in 10 groups of 100, each group
  admitting its own members (a remote-group rule, IPv4) and sending anywhere, on 10
  hypervisors of 100 ports. qnet's count is its desired state of one hypervisor (what it
  installs: apps/incremental.py); with ``--ovn`` the same logical model goes into OVN's
  northbound database as Neutron's OVN driver writes it (a port group per security group, its
  address set, ``allow-related`` ACLs, the drop-everything-else port group), 100 of the ports
  bound on a real chassis (simulations/peers/ovn.py), and its br-int's flows are counted.
* **a member added** to a group of N (100 and ``--members``): the flow-mods each switch gets,
  counted by the incremental desired state (no switch needed).
* with ``--lab`` (root), a real ``qnet serve`` and three hypervisors: **rule create ->
  enforcement** (from the API call until a TCP connection it allows succeeds), p50 of several,
  and **TCP throughput** (iperf3) between two VMs on different hypervisors with a security
  group (the default group, stateful) and without one (port security off).
"""
import argparse
import os
import statistics
import sys
import time

from apps import incremental
from controller.logical import SecurityGroup, SecurityGroupRule
from simulations.fixtures import chassis, iface, model, network, port

GROUPS, PORTS, HYPERVISORS = 10, 1000, 10


def self_referencing_group(gid):
    """Ingress from its own members and egress anywhere (IPv4): Neutron's default group."""
    return SecurityGroup(gid, "bench", True, (
        SecurityGroupRule(f"{gid}-in", "ingress", "IPv4", remote_group_id=gid),
        SecurityGroupRule(f"{gid}-out", "egress", "IPv4")))


def cloud(ports=PORTS, groups=GROUPS, hypervisors=HYPERVISORS):
    """The logical model and the chassis reports: port i in group i % groups, bound on
    hypervisor i % hypervisors."""
    m = model([network("net", 1001, cidr="10.0.0.0/16")],
              [port(f"p{i}", "net", mac(i), address(i), f"vm{i}",
                    security_groups=(f"g{i % groups}",)) for i in range(ports)])
    for g in range(groups):
        m.security_groups[f"g{g}"] = self_referencing_group(f"g{g}")
    ips = [f"172.16.0.{h + 1}" for h in range(hypervisors)]
    chs = [chassis(f"hv{h}", ips[h],
                   *(iface(f"tap{i}", 100 + i // hypervisors, f"vm{i}")
                     for i in range(ports) if i % hypervisors == h),
                   *(iface(f"vx{o}", 1 + o, type_="vxlan", remote_ip=ips[o])
                     for o in range(hypervisors) if o != h), datapath_id=h + 1)
           for h in range(hypervisors)]
    return m, chs


def mac(i):
    return "fa:16:3e:01:%02x:%02x" % divmod(i, 256)


def address(i):
    return "10.0.%d.%d" % divmod(i + 10, 256)


def qnet_flows(m, chs, with_groups=True):
    """({chassis: flow count}, {piece family: flows} of hv0) of qnet's desired state: a flow
    two pieces hold counts for the first family that holds it."""
    if not with_groups:
        m.security_groups.clear()
        for p in list(m.ports.values()):
            m.put(port(p.id, p.network_id, p.mac, p.ipv4, p.attachment))
    desired = incremental.DesiredState()
    desired.update(m, chs)
    families, seen = {}, set()
    for key, piece in sorted(desired.switches["hv0"].pieces.items()):
        fresh = {f.cookie for f in piece.flows} - seen
        seen |= fresh
        families[key[0]] = families.get(key[0], 0) + len(fresh)
    return {c: len(s.flows) for c, s in desired.switches.items()}, families


def member_added(members, hypervisors=HYPERVISORS):
    """{chassis: flow-mods} when one port joins a self-referencing group of ``members``."""
    m, chs = cloud(members, groups=1, hypervisors=hypervisors)
    desired = incremental.DesiredState()
    desired.update(m, chs)
    m.put(port("new", "net", "fa:16:3e:02:00:01", "10.0.250.1", "vm-new",
               security_groups=("g0",)))
    chs[0].interfaces["tap-new"] = iface("tap-new", 9999, "vm-new")
    deltas = desired.update(m, chs, ports={"new"}, dirty_chassis={"hv0"})
    return {c: len(d) for c, d in sorted(deltas.items())}


# -- OVN ------------------------------------------------------------------------------------
def ovn_flows(ports=PORTS, groups=GROUPS, local=PORTS // HYPERVISORS):
    """Flows on a real OVN chassis holding ``local`` of the ports, with and without ACLs."""
    from simulations.peers import ovn
    with ovn.ovn_lab(hypervisors=1, subnets=1) as (lab, central, [ch]):
        central.nbctl("ls-add", "net")
        cmds = []
        for i in range(ports):
            cmds += ["--", "lsp-add", "net", f"p{i}", "--", "lsp-set-addresses", f"p{i}",
                     f"{mac(i)} {address(i)}", "--", "lsp-set-port-security", f"p{i}",
                     f"{mac(i)} {address(i)}"]
        central.nbctl(*cmds, timeout=300)
        hv = ch.hv
        for i in range(local):
            name = f"b{i}"
            hv.vsctl("add-port", "br-int", name, "--", "set", "Interface", name,
                     "type=internal", f"external_ids:iface-id=p{i * HYPERVISORS}")
        without = _settled(ch)
        cmds = ["--", "pg-add", "neutron_pg_drop", *(f"p{i}" for i in range(ports)),
                "--", "acl-add", "neutron_pg_drop", "to-lport", "1001",
                "outport == @neutron_pg_drop && ip", "drop",
                "--", "acl-add", "neutron_pg_drop", "from-lport", "1001",
                "inport == @neutron_pg_drop && ip", "drop"]
        for g in range(groups):
            cmds += ["--", "pg-add", f"pg_g{g}", *(f"p{i}" for i in range(g, ports, groups)),
                     "--", "acl-add", f"pg_g{g}", "to-lport", "1002",
                     f"outport == @pg_g{g} && ip4 && ip4.src == $pg_g{g}_ip4",
                     "allow-related",
                     "--", "acl-add", f"pg_g{g}", "from-lport", "1002",
                     f"inport == @pg_g{g} && ip4", "allow-related"]
        central.nbctl(*cmds, timeout=300)
        return without, _settled(ch)


def _settled(ch, quiet=3.0, timeout=120):
    """The chassis' flow count once it stopped changing for ``quiet`` seconds."""
    last, since, end = -1, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < end:
        n = ch.flows()
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return n
        time.sleep(0.5)
    return last


# -- the lab ---------------------------------------------------------------------------------
def lab_figures(rules=7, seconds=5, rounds=3):
    """(p50 seconds from a rule create to a connection it allows, [each], [iperf3 Mbit/s
    with groups], [without]): ``rounds`` interleaved pairs of runs, so that the load of a
    shared machine weighs on both alike."""
    from qnetclient import Client
    from qnetclient.client import Resource
    from simulations.lab import check, seed
    from simulations.lab.nodes import kill_pid
    from simulations.lab.topo import start_lab
    from simulations.serve import QnetServer
    import tempfile
    tmp = tempfile.mkdtemp(prefix="qnet-bench-sg-")
    ctl = QnetServer(tmp, plugin="openflow", log_level="WARNING").start()
    procs = []
    try:
        with start_lab(hypervisors=3, subnets=2) as lab:
            lab.connect(ctl)
            api = Client(ctl.url, project="bench")
            groups = Resource(api, "security_group", "security_groups", path="security-groups")
            rule_api = Resource(api, "security_group_rule", "security_group_rules",
                                path="security-group-rules")
            net = api.networks.create(name="net")
            api.subnets.create(network_id=net["id"], cidr="10.0.8.0/24", ip_version=4)
            web = groups.create(name="web")
            hv1, hv2, hv3 = lab.hypervisors
            servers = {}
            for name, hv, attrs in (("client", hv1, {}), ("web", hv2, {"group": web["id"]}),
                                    ("bare1", hv1, {"off": True}),
                                    ("bare2", hv3, {"off": True}), ("mem", hv3, {})):
                [(n, p)] = seed.create_ports(api, name, ["net"])
                if "group" in attrs:
                    p = api.ports.update(p["id"], security_groups=[attrs["group"]])
                if "off" in attrs:
                    p = api.ports.update(p["id"], security_groups=[],
                                         port_security_enabled=False)
                servers[name] = seed.start_vm(lab, "bench", name, [(n, p)], hv, name)
            for s in servers.values():
                seed.wait_active(api, s)
                seed.dhcp(s)
            ports = [str(6000 + i) for i in range(rules)]
            proc = servers["web"].vm.popen([sys.executable, "-u", "-c", check.ECHO_SERVER, *ports],
                                           stdout=-1, text=True)
            procs.append(proc)
            assert proc.stdout.readline().strip() == "ready"
            took, web_ip = [], servers["web"].nics[0].ip
            for p in ports:
                assert not check.echo_answers(servers["client"].vm, web_ip, p, timeout=0.2)
                start = time.monotonic()
                rule_api.create(security_group_id=web["id"], direction="ingress",
                                ethertype="IPv4", protocol="tcp", port_range_min=int(p),
                                port_range_max=int(p))
                while not check.echo_answers(servers["client"].vm, web_ip, p, timeout=0.05):
                    if time.monotonic() - start > 10:
                        break
                took.append(time.monotonic() - start)
            with_groups, without = [], []
            for _ in range(rounds):
                with_groups.append(_iperf(servers["client"], servers["mem"], seconds, procs))
                without.append(_iperf(servers["bare1"], servers["bare2"], seconds, procs))
            return statistics.median(took), took, with_groups, without
    finally:
        for p in procs:
            kill_pid(p.pid)
        ctl.stop()


def _iperf(src, dst, seconds, procs):
    import json
    server = dst.vm.popen(["iperf3", "-s", "-1"], stdout=-1, text=True)
    procs.append(server)
    time.sleep(0.5)
    out = src.vm.cmd(f"iperf3 -J -t {seconds} -c {dst.nics[0].ip}")
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m simulations.bench_secgroups",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--members", type=int, default=1000)
    p.add_argument("--ovn", action="store_true", help="count OVN's flows too (root, OVN)")
    p.add_argument("--lab", action="store_true", help="time enforcement and TCP (root)")
    a = p.parse_args(argv)
    with_sg, families = qnet_flows(*cloud())
    without, _ = qnet_flows(*cloud(), with_groups=False)
    print(f"flows per hypervisor, {PORTS} ports in {GROUPS} self-referencing groups on "
          f"{HYPERVISORS} hypervisors:")
    print(f"  qnet: {with_sg['hv0']} ({without['hv0']} without groups: "
          f"+{with_sg['hv0'] - without['hv0']} for security groups)")
    print("  qnet by piece family (apps/pieces.py): " +
          ", ".join(f"{name} {n}" for name, n in sorted(families.items(), key=lambda i: -i[1])))
    if a.ovn:
        if os.geteuid() != 0:
            sys.exit("--ovn needs root")
        from mininet.log import setLogLevel
        setLogLevel("warning")
        ovn_without, ovn_with = ovn_flows()
        print(f"  OVN:  {ovn_with} ({ovn_without} without ACLs: +{ovn_with - ovn_without} "
              f"for ACLs and port groups)")
        print(f"  qnet / OVN: {with_sg['hv0'] / ovn_with:.2f} in all, "
              f"{(with_sg['hv0'] - without['hv0']) / (ovn_with - ovn_without):.2f} "
              f"for security groups")
    for n in sorted({100, a.members}):
        mods = member_added(n)
        print(f"a member added to a group of {n}: flow-mods per switch {mods}")
    if a.lab:
        from mininet.log import setLogLevel
        setLogLevel("warning")
        p50, each, tcp_with, tcp_without = lab_figures()
        print(f"rule create -> enforcement: p50 {p50 * 1000:.0f} ms "
              f"({', '.join(f'{t * 1000:.0f}' for t in each)} ms)")
        med_with, med_without = statistics.median(tcp_with), statistics.median(tcp_without)
        print(f"TCP (median of {len(tcp_with)} interleaved runs): {med_with:.0f} Mbit/s with a "
              f"security group ({', '.join(f'{x:.0f}' for x in tcp_with)}), "
              f"{med_without:.0f} without ({', '.join(f'{x:.0f}' for x in tcp_without)}); "
              f"ratio {med_with / med_without:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
