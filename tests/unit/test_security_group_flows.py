"""Security groups in flows (issue 13, data plane), traced through in-process switches with
conntrack: every rule shape, stateful answers, stateless groups, remote groups as conjunctions,
rule removal cutting open connections, and the O(N) flow count of a self-referencing group.

Two hypervisors, one network (VNI 1001), tunnels hv1:9 <-> hv2:9. Every check of a packet
that must be dropped sits next to one that must pass, so a firewall that drops everything (or
nothing) fails here.
"""
import dataclasses

import pytest

from apps import flows, incremental, ofmsg
from apps import pipeline as pl
from apps import secgroups as sg
from apps.model import place
from apps.ofmodel import ModelDatapath, SwitchModel
from apps.ofmodel import conntrack as ct
from tests.unit.overlay_fixtures import chassis, iface, model, network, port

TUNNEL = 9
SYN, SYN_ACK, ACK = 0x02, 0x12, 0x10
IPV4, IPV6, TCP, UDP, ICMP, ICMPV6 = 0x0800, 0x86DD, 6, 17, 1, 58


@dataclasses.dataclass(frozen=True)
class Rule:
    """A SecurityGroupRule of controller/logical.py (same fields)."""

    id: str
    direction: str
    ethertype: str
    protocol: int | None = None
    port_min: int | None = None
    port_max: int | None = None
    remote_prefix: str | None = None
    remote_group_id: str | None = None
    remote_address_group_id: str | None = None
    remote_addresses: tuple = ()


@dataclasses.dataclass(frozen=True)
class Group:
    """A SecurityGroup of controller/logical.py (same fields)."""

    id: str
    project_id: str = "demo"
    stateful: bool = True
    rules: tuple = ()


def default_group(gid="default"):
    """Neutron's default group: in from its own members, out to anywhere, both families."""
    return Group(gid, rules=(Rule(f"{gid}-in4", "ingress", "IPv4", remote_group_id=gid),
                             Rule(f"{gid}-in6", "ingress", "IPv6", remote_group_id=gid),
                             Rule(f"{gid}-out4", "egress", "IPv4"),
                             Rule(f"{gid}-out6", "egress", "IPv6")))


WEB_80 = Rule("web-80", "ingress", "IPv4", TCP, 80, 80, "0.0.0.0/0")
GROUPS = {
    "default": default_group(),
    "web": Group("web", rules=(WEB_80, Rule("web-out", "egress", "IPv4"))),
    "quiet": Group("quiet", rules=(Rule("quiet-out", "egress", "IPv4"),)),
    "dns": Group("dns", stateful=False, rules=(
        Rule("dns-in", "ingress", "IPv4", UDP, 53, 53, "10.0.0.0/24"),
        Rule("dns-out", "egress", "IPv4", UDP))),
}
# name: (hypervisor, ofport, MAC, addresses, groups, extra port fields)
PORTS = {
    "client": ("hv1", 1, "fa:16:3e:00:00:01", ("10.0.0.11", "2001:db8::11"), ("default",), {}),
    "web": ("hv1", 2, "fa:16:3e:00:00:02", ("10.0.0.12",), ("web",), {}),
    "quiet": ("hv1", 3, "fa:16:3e:00:00:03", ("10.0.0.13",), ("quiet",), {}),
    "open": ("hv1", 4, "fa:16:3e:00:00:04", ("10.0.0.14",), (), {"security": False}),
    "dns": ("hv1", 5, "fa:16:3e:00:00:05", ("10.0.0.15",), ("dns",), {}),
    "db": ("hv2", 1, "fa:16:3e:00:00:21", ("10.0.0.21", "2001:db8::21"), ("default",), {}),
    "stranger": ("hv2", 2, "fa:16:3e:00:00:22", ("10.0.0.22", "2001:db8::22"), ("quiet",), {}),
}


def build(groups=GROUPS):
    m = model([network("net", 1001)],
              [port(name, "net", mac, ips, f"vm-{name}", security_groups=gs, **extra)
               for name, (_, _, mac, ips, gs, extra) in PORTS.items()])
    m.security_groups.update(groups)
    chs = [chassis(hv, ip, *(iface(f"tap-{n}", p[1], f"vm-{n}") for n, p in PORTS.items()
                             if p[0] == hv),
                   iface("vx", TUNNEL, type_="vxlan", remote_ip=peer), datapath_id=dpid)
           for hv, ip, peer, dpid in (("hv1", "172.16.1.1", "172.16.2.1", 1),
                                      ("hv2", "172.16.2.1", "172.16.1.1", 2))]
    return m, chs


class Cloud:
    """Both switches, programmed from the model, re-programmed by diff after a change."""

    def __init__(self, groups=GROUPS):
        self.m, self.chs = build(groups)
        self.dps = {ch.system_id: ModelDatapath(SwitchModel(ch.datapath_id, ports=range(1, 10)))
                    for ch in self.chs}
        self.states = {c: flows.SwitchState({}, {}) for c in self.dps}
        self.program()

    def program(self):
        placement = place(self.m, self.chs)
        for c, dp in self.dps.items():
            new = flows.compile_chassis(c, self.m, placement)
            for msg in ofmsg.diff(dp, ofmsg.Installed.from_state(self.states[c]), new):
                dp.send_msg(msg)
            assert dp.switch.errors == []
            self.states[c] = new

    def send(self, src, dst, proto=TCP, dport=80, sport=40000, flags=SYN, v6=False):
        """Trace a packet from port ``src`` to port ``dst`` hop by hop (through the tunnel if
        they are on different switches); the ofport it reached on ``dst``'s switch, or None."""
        hv, ofport, mac, ips, _, _ = PORTS[src]
        dhv, dofport, dmac, dips, _, _ = PORTS[dst]
        pick = (lambda a: ":" in a) if v6 else (lambda a: ":" not in a)
        fields = dict(eth_src=mac, eth_dst=dmac, eth_type=IPV6 if v6 else IPV4, ip_proto=proto,
                      **{f"ipv{6 if v6 else 4}_src": next(filter(pick, ips)),
                         f"ipv{6 if v6 else 4}_dst": next(filter(pick, dips))})
        if proto == TCP:
            fields.update(tcp_src=sport, tcp_dst=dport, tcp_flags=flags)
        elif proto == UDP:
            fields.update(udp_src=sport, udp_dst=dport)
        else:
            fields[f"icmpv{6 if v6 else 4}_type"] = dport
        out = self.dps[hv].switch.trace(ofport, **fields)
        if hv != dhv:
            if not out.is_output(TUNNEL):
                return None
            out = self.dps[dhv].switch.trace(TUNNEL, tunnel_id=1001, **fields)
        return dofport if out.output_ports() == [dofport] else None

    def reaches(self, src, dst, **kw):
        return self.send(src, dst, **kw) == PORTS[dst][1]


@pytest.fixture
def cloud():
    return Cloud()


def test_default_group_members_talk_across_the_tunnel_and_a_non_member_cannot(cloud):
    assert cloud.reaches("client", "db")                        # hv1 -> hv2, member
    assert cloud.reaches("db", "client", sport=80, dport=40000, flags=SYN_ACK)   # its answer
    assert cloud.reaches("db", "client", dport=22, sport=50000)  # and the other way round
    assert not cloud.reaches("stranger", "db")                  # same network, not a member
    assert not cloud.reaches("stranger", "client", dport=22)


def test_a_tcp_80_rule_opens_exactly_port_80(cloud):
    assert cloud.reaches("client", "web", dport=80)
    assert not cloud.reaches("client", "web", dport=81, sport=40001)
    assert not cloud.reaches("client", "web", proto=UDP, dport=80)
    assert not cloud.reaches("client", "web", proto=ICMP, dport=8)
    assert cloud.reaches("stranger", "web", dport=80)           # from anywhere, across tunnels


def test_answers_come_back_without_an_ingress_rule_but_nothing_unsolicited(cloud):
    # "quiet" has no ingress rule at all: its own connection's answers reach it
    assert cloud.reaches("quiet", "web", dport=80)
    assert cloud.reaches("web", "quiet", sport=80, dport=40000, flags=SYN_ACK)
    assert cloud.reaches("web", "quiet", sport=80, dport=40000, flags=ACK)
    # a new connection towards it, and a fake answer with no connection, are not
    assert not cloud.reaches("web", "quiet", sport=80, dport=40001, flags=SYN)
    assert not cloud.reaches("stranger", "quiet", sport=80, dport=40002, flags=SYN_ACK)


def test_an_invalid_packet_is_dropped_even_where_a_rule_would_allow_it(cloud):
    assert not cloud.reaches("client", "web", dport=80, flags=ACK)     # no SYN: +inv
    assert cloud.reaches("client", "web", dport=80, flags=SYN)


def test_removing_a_rule_cuts_its_open_connections_both_ways(cloud):
    assert cloud.reaches("client", "web", dport=80)
    assert cloud.reaches("web", "client", sport=80, dport=40000, flags=SYN_ACK)
    assert cloud.reaches("client", "web", dport=80, flags=ACK)
    cloud.m.security_groups["web"] = dataclasses.replace(
        GROUPS["web"], rules=tuple(r for r in GROUPS["web"].rules if r is not WEB_80))
    cloud.program()
    assert not cloud.reaches("client", "web", dport=80, flags=ACK)
    assert not cloud.reaches("web", "client", sport=80, dport=40000, flags=ACK)
    zone = sg.zone_of(PORTS["web"][1])
    [conn] = cloud.dps["hv1"].switch.conntrack.connections(zone)
    assert conn.mark & sg.CT_MARK_BLOCKED
    # the rule back: the marked connection stays cut, a new one passes
    cloud.m.security_groups["web"] = GROUPS["web"]
    cloud.program()
    assert not cloud.reaches("client", "web", dport=80, flags=ACK)
    assert cloud.reaches("client", "web", dport=80, sport=40005)


def test_a_stateless_group_needs_explicit_rules_for_answers(cloud):
    assert cloud.reaches("client", "dns", proto=UDP, dport=53)
    assert not cloud.reaches("client", "dns", proto=UDP, dport=54)
    # dns asks an unfiltered port (its egress allows any UDP): the answer is not let in,
    # since nothing was committed and dns has no ingress rule for it; a stateful port's is
    assert cloud.reaches("dns", "open", proto=UDP, dport=123, sport=40000)
    assert not cloud.reaches("open", "dns", proto=UDP, sport=123, dport=40000)
    assert not cloud.dps["hv1"].switch.conntrack.connections(sg.zone_of(PORTS["dns"][1]))
    assert cloud.reaches("quiet", "open", proto=UDP, dport=123, sport=40000)
    assert cloud.reaches("open", "quiet", proto=UDP, sport=123, dport=40000)


def test_ipv6_rules_likewise(cloud):
    assert cloud.reaches("client", "db", v6=True)
    assert cloud.reaches("db", "client", v6=True, sport=80, dport=40000, flags=SYN_ACK)
    assert cloud.reaches("client", "db", v6=True, proto=ICMPV6, dport=128)
    assert not cloud.reaches("stranger", "db", v6=True)     # not a member
    assert not cloud.reaches("stranger", "client", v6=True, proto=ICMPV6, dport=128)


def test_ports_without_port_security_or_groups_are_not_filtered(cloud):
    assert not cloud.reaches("open", "client", dport=22)   # client admits members only
    assert cloud.reaches("client", "open", dport=22)
    assert cloud.reaches("open", "web", dport=80)
    assert not [f for f in cloud.states["hv1"].flows.values()
                if dict(f.match).get("in_port") == PORTS["open"][1] and f.table.startswith("sg")]


def test_arp_and_neighbour_discovery_reach_a_filtered_port(cloud):
    sw = cloud.dps["hv1"].switch
    hv, ofport, mac, ips, _, _ = PORTS["web"]
    arp = sw.trace(PORTS["client"][1], eth_src=PORTS["client"][2], eth_dst=mac, eth_type=0x0806,
                   arp_op=2, arp_sha=PORTS["client"][2], arp_spa="10.0.0.11",
                   arp_tha=mac, arp_tpa="10.0.0.12")
    assert arp.output_ports() == [ofport]
    na = sw.trace(PORTS["client"][1], eth_src=PORTS["client"][2], eth_dst=mac, eth_type=IPV6,
                  ipv6_src=flows.link_local(PORTS["client"][2]), ipv6_dst="fe80::1",
                  ip_proto=ICMPV6, icmpv6_type=136,
                  ipv6_nd_target=flows.link_local(PORTS["client"][2]),
                  ipv6_nd_tll=PORTS["client"][2])
    assert na.output_ports() == [ofport]


@pytest.mark.parametrize("rule,allowed,denied", [
    (Rule("r", "ingress", "IPv4", TCP, 1000, 1999), dict(dport=1000), dict(dport=2000)),
    (Rule("r", "ingress", "IPv4", TCP, 1000, 1999), dict(dport=1999), dict(dport=999)),
    (Rule("r", "ingress", "IPv4", UDP), dict(proto=UDP, dport=7), dict(proto=TCP, dport=7)),
    (Rule("r", "ingress", "IPv4", ICMP, 8, 0), dict(proto=ICMP, dport=8),
     dict(proto=ICMP, dport=13)),
    (Rule("r", "ingress", "IPv4", ICMP), dict(proto=ICMP, dport=13), dict(proto=UDP, dport=1)),
    (Rule("r", "ingress", "IPv4", remote_prefix="10.0.0.11/32"), dict(src="client"),
     dict(src="stranger")),
    (Rule("r", "ingress", "IPv4", TCP, remote_group_id="web"), dict(src="web"),
     dict(src="client")),
    (Rule("r", "ingress", "IPv4"), dict(proto=UDP, dport=9), dict(v6=True)),
    (Rule("r", "ingress", "IPv6", ICMP), dict(v6=True, proto=ICMPV6, dport=128),
     dict(v6=True, proto=TCP, dport=1)),
    # an address group: its CIDRs of the rule's family are the second clause
    (Rule("r", "ingress", "IPv4", TCP, remote_address_group_id="ag",
          remote_addresses=("10.0.0.8/29", "2001:db8::22/128")), dict(src="client"),
     dict(src="stranger")),
    (Rule("r", "ingress", "IPv4", TCP, 22, 22, remote_address_group_id="ag",
          remote_addresses=("10.0.0.11/32", "10.0.0.14/32")), dict(dport=22),
     dict(dport=23)),
    (Rule("r", "ingress", "IPv6", remote_address_group_id="ag",
          remote_addresses=("10.0.0.11/32", "2001:db8::11/128")), dict(v6=True),
     dict(proto=UDP, dport=5)),
    (Rule("r", "ingress", "IPv4", UDP, remote_address_group_id="ag",
          remote_addresses=("0.0.0.0/0",)), dict(src="stranger", proto=UDP, dport=5),
     dict(src="stranger", proto=TCP, dport=5)),
])
def test_every_rule_shape(rule, allowed, denied):
    """An ingress rule on db's only group: what it admits, and its neighbour it does not."""
    groups = {**GROUPS, "default": Group("default", rules=(
        rule, Rule("o4", "egress", "IPv4"), Rule("o6", "egress", "IPv6")))}
    cloud = Cloud(groups)

    def reaches(src="client", **kw):
        return cloud.reaches(src, "db", **kw)
    assert reaches(**allowed)
    assert not reaches(**{**denied, "sport": 40001})


# -- the flow economy of remote groups ------------------------------------------------------
def group_cloud(members, hypervisors=4):
    """``members`` ports of one network in the default group (self-referencing), spread over
    ``hypervisors`` switches, each with a tunnel to every other."""
    m = model([network("net", 1001, cidr="10.0.0.0/16")],
              [port(f"p{i}", "net", "fa:16:3e:01:%02x:%02x" % divmod(i, 256),
                    "10.0.%d.%d" % divmod(i + 10, 256), f"vm{i}", security_groups=("default",))
               for i in range(members)])
    m.security_groups["default"] = default_group()
    ips = [f"172.16.0.{h + 1}" for h in range(hypervisors)]
    chs = [chassis(f"hv{h}", ips[h],
                   *(iface(f"tap{i}", 10 + i, f"vm{i}") for i in range(members)
                     if i % hypervisors == h),
                   *(iface(f"vx{o}", 1 + o, type_="vxlan", remote_ip=ips[o])
                     for o in range(hypervisors) if o != h), datapath_id=h + 1)
           for h in range(hypervisors)]
    return m, chs


def member_flow_count(state):
    """Security-group flows of a switch but those it holds once whatever the members: the
    common flows and table misses of every switch, and one conj_id flow per group, direction
    and family."""
    tables = {t.name for t in pl.PIPELINE if t.name.startswith("sg_")}
    base = {f.cookie for f in sg.base_flows() + flows.table_miss_flows()}
    return sum(1 for c, f in state.flows.items()
               if f.table in tables and c not in base and "conj_id" not in dict(f.match))


def test_a_self_referencing_group_costs_one_flow_per_member_at_12_120_and_240():
    """O(N), not O(N^2): each member adds its address clause, one flow (IPv4 addresses only);
    the rules are the group's, held once per switch whatever the number of members."""
    count = {}
    for n in (12, 120, 240):
        m, chs = group_cloud(n)
        count[n] = member_flow_count(flows.compile_chassis("hv0", m, place(m, chs)))
    assert count[120] - count[12] == 108 and count[240] - count[120] == 120, count


def test_a_member_joining_or_leaving_changes_a_bounded_number_of_flows_per_switch():
    changes = {}
    for n in (12, 120):
        m, chs = group_cloud(n)
        desired = incremental.DesiredState()
        desired.update(m, chs)
        new = port("new", "net", "fa:16:3e:02:00:01", "10.0.250.1", "vm-new",
                   security_groups=("default",))
        m.put(new)
        chs[0].interfaces["tap-new"] = iface("tap-new", 999, "vm-new")
        joined = desired.update(m, chs, ports={"new"}, dirty_chassis={"hv0"})
        m.remove(new)
        del chs[0].interfaces["tap-new"]
        left = desired.update(m, chs, ports={"new"}, dirty_chassis={"hv0"})
        changes[n] = ({c: len(d) for c, d in joined.items()}, {c: len(d) for c, d in left.items()})
    assert changes[12] == changes[120], changes
    joined, left = changes[120]
    assert max(joined.values()) < 40 and joined == left


def test_member_flows_sit_only_where_a_port_names_their_group_and_follow_it():
    """A switch holds the address flows of group db's members only while a port bound there
    has a rule naming db: they come with the first such port (bound there, or joining a group
    that names db) and go with the last, incrementally as in a full compilation."""
    groups = {"web": Group("web", rules=(Rule("web-in", "ingress", "IPv4",
                                               remote_group_id="db"),)),
              "db": Group("db", rules=(Rule("db-out", "egress", "IPv4"),))}
    m = model([network("net", 1001)],
              [port("plain", "net", "fa:16:3e:00:00:01", "10.0.0.11", "vm-plain"),
               *(port(f"db{i}", "net", f"fa:16:3e:00:00:2{i}", f"10.0.0.2{i}", f"vm-db{i}",
                      security_groups=("db",)) for i in range(3))])
    m.security_groups.update(groups)
    hv1 = chassis("hv1", "172.16.1.1", iface("tap-plain", 1, "vm-plain"),
                  iface("vx", TUNNEL, type_="vxlan", remote_ip="172.16.2.1"), datapath_id=1)
    hv2 = chassis("hv2", "172.16.2.1",
                  *(iface(f"tap-db{i}", 1 + i, f"vm-db{i}") for i in range(3)),
                  iface("vx", TUNNEL, type_="vxlan", remote_ip="172.16.1.1"), datapath_id=2)
    desired = incremental.DesiredState()
    desired.update(m, [hv1, hv2])

    def db_members_on_hv1():
        state = desired.state("hv1")
        assert set(state.flows) == set(flows.compile_chassis("hv1", m, place(m, [hv1, hv2])).flows)
        return sorted(dict(f.match)["ipv4_src"] for f in state.flows.values()
                      if f.table == "sg_ingress_rules" and "ipv4_src" in dict(f.match))

    assert db_members_on_hv1() == []            # hv1 hosts net, but nothing there names db
    m.put(port("web", "net", "fa:16:3e:00:00:02", "10.0.0.12", "vm-web",
               security_groups=("web",)))
    hv1.interfaces["tap-web"] = iface("tap-web", 2, "vm-web")
    deltas = desired.update(m, [hv1, hv2], ports={"web"}, dirty_chassis={"hv1"})
    assert db_members_on_hv1() == ["10.0.0.20", "10.0.0.21", "10.0.0.22"]
    assert "hv2" not in deltas or not any(f.table == "sg_ingress_rules"
                                          for f in deltas["hv2"].adds)
    # "plain" joins web too: nothing changes for the members (hv1 already holds them)
    m.put(port("plain", "net", "fa:16:3e:00:00:01", "10.0.0.11", "vm-plain",
               security_groups=("web",)))
    deltas = desired.update(m, [hv1, hv2], ports={"plain"})
    assert db_members_on_hv1() == ["10.0.0.20", "10.0.0.21", "10.0.0.22"]
    assert not [f for f in deltas["hv1"].adds if "ipv4_src" in dict(f.match)]
    # the last port naming db leaves hv1 (unplugged, then the other leaves web): they go
    del hv1.interfaces["tap-web"]
    desired.update(m, [hv1, hv2], dirty_chassis={"hv1"})
    assert db_members_on_hv1() == ["10.0.0.20", "10.0.0.21", "10.0.0.22"]
    m.put(port("plain", "net", "fa:16:3e:00:00:01", "10.0.0.11", "vm-plain"))
    desired.update(m, [hv1, hv2], ports={"plain"})
    assert db_members_on_hv1() == []
    # a rule naming db appears in the group of a port bound on hv1 (the reconciler refolds
    # the members of the changed group and of the groups it names)
    m.put(port("plain", "net", "fa:16:3e:00:00:01", "10.0.0.11", "vm-plain",
               security_groups=("db",)))
    desired.update(m, [hv1, hv2], ports={"plain"})
    assert db_members_on_hv1() == []            # db names no group
    m.security_groups["db"] = Group("db", rules=(
        Rule("db-out", "egress", "IPv4"), Rule("db-in", "ingress", "IPv4", remote_group_id="db")))
    desired.update(m, [hv1, hv2], ports=set(m.ports_in_group("db")))
    assert db_members_on_hv1() == ["10.0.0.11", "10.0.0.20", "10.0.0.21", "10.0.0.22"]


def test_an_address_groups_change_reaches_the_rule_and_shared_cidrs_do_not_clash():
    """A rule follows its address group's addresses (the core hands the group's new CIDRs in
    the rule); two groups naming address groups with a CIDR in common, and a rule of each
    on ports of one switch, each admit what their own address group holds."""
    def rule(gid, addresses):
        return Rule(f"{gid}-ag", "ingress", "IPv4", TCP, remote_address_group_id=f"ag-{gid}",
                    remote_addresses=addresses)
    groups = {**GROUPS,
              "web": Group("web", rules=(rule("web", ("10.0.0.11/32", "10.0.0.21/32")),)),
              "dns": Group("dns", rules=(rule("dns", ("10.0.0.11/32",)),))}
    cloud = Cloud(groups)
    assert cloud.reaches("client", "web") and cloud.reaches("db", "web")
    assert cloud.reaches("client", "dns") and not cloud.reaches("db", "dns", sport=40001)
    assert not cloud.reaches("stranger", "web", sport=40002)
    cloud.m.security_groups["web"] = Group("web", rules=(rule("web", ("10.0.0.22/32",)),))
    cloud.program()
    assert cloud.reaches("stranger", "web", sport=40003)
    assert not cloud.reaches("client", "web", sport=40004)
    # what admitted it, for qnet trace: the conj_id flow names the address group's rule
    web = cloud.m.security_groups["web"]
    [admitting] = [f for f in cloud.states["hv1"].flows.values()
                   if dict(f.match).get("conj_id") == sg.rule_conj_id(web.rules[0])]
    assert sg.rules_behind(admitting, (web,)) == [(web, web.rules[0])]
    assert sg.describe_rule(web.rules[0]) == \
        "ingress IPv4 tcp from address group ag-web (10.0.0.22/32)"
    assert cloud.reaches("client", "dns", sport=40005)
    # an address group with no address of the rule's family admits nothing
    cloud.m.security_groups["web"] = Group("web", rules=(rule("web", ("2001:db8::/32",)),))
    cloud.program()
    assert not cloud.reaches("client", "web", sport=40006)
    assert not cloud.reaches("stranger", "web", sport=40007)


def test_groups_and_group_sets_whose_hashes_collide_keep_apart(monkeypatch):
    """Every conjunction id and every group set's id hashes to 7 here: the first key keeps 7,
    the others get salted hashes, so a member of "quiet" is not taken for a member of
    "default", nor the port of "quiet" given the rules of "web" (without the salting both
    happen)."""
    def colliding(text):          # salted keys ("1|...") hash as usual
        return sg._hash32(text) if text[0].isdigit() else 7
    monkeypatch.setattr(sg, "CONJ_IDS", sg.Ids(colliding))
    monkeypatch.setattr(sg, "SET_IDS", sg.Ids(colliding))
    assert sg.conj_id("default", "ingress", IPV4) == 7
    assert sg.conj_id("quiet", "ingress", IPV4) not in (7, 0)
    # quiet admits its own members too, so its members' address flows are on both switches
    cloud = Cloud({**GROUPS, "quiet": Group("quiet", rules=(
        Rule("quiet-out", "egress", "IPv4"),
        Rule("quiet-in", "ingress", "IPv4", remote_group_id="quiet")))})
    assert cloud.reaches("client", "db")                   # members of default still meet
    assert not cloud.reaches("stranger", "db")             # quiet's member is no member
    assert cloud.reaches("client", "web")                  # web opens 80 ...
    assert not cloud.reaches("client", "quiet")            # ... quiet does not
