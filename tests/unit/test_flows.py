"""Flow compilation for small models: the exact flows, the pipeline contract, and the diff."""
from types import SimpleNamespace

import pytest
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps import flows, meters, ofmsg
from apps import pipeline as pl
from apps.model import place
from tests.unit.overlay_fixtures import chassis, iface, model, network, port, two_hypervisors
from tunnel.mesh import tunnel_tag

DP = SimpleNamespace(id=1, ofproto=ofp, ofproto_parser=parser)


def by_table(state):
    out = {}
    for f in state.flows.values():
        out.setdefault(f.table, []).append(f)
    return out


def test_two_hypervisors_exact_flows_on_hv1():
    m, chs = two_hypervisors()
    placement = place(m, chs)
    assert placement.bound == {"p1": ("hv1", 1), "p2": ("hv2", 1)}
    assert placement.tunnels == {"hv1": {"hv2": 5}, "hv2": {"hv1": 7}}
    t = by_table(flows.compile_chassis("hv1", m, placement))
    meta = (1001, pl.METADATA_MASK)
    hv2_tag = tunnel_tag("172.16.2.1")
    assert [(f.match, f.instructions) for f in t["tunnel_out"]] == [
        (((pl.TUNNEL_DEST_REG, hv2_tag),), (("apply", (("output", 5),)),))]
    assert {(f.match, f.instructions) for f in t["classify"]} == {
        ((("in_port", 1),), (("metadata", 1001, pl.METADATA_MASK), ("goto", "port_security"))),
        ((("in_port", 5),), (("goto", "tunnel_in"),)),
    }
    assert [(f.match, f.instructions) for f in t["tunnel_in"]] == [
        ((("tunnel_id", 1001),),
         (("metadata", 1001 | pl.FROM_TUNNEL, pl.METADATA_MASK), ("goto", "l2_lookup")))]
    l2 = {(f.priority, f.match): f.instructions for f in t["l2_lookup"]}
    assert l2 == {
        (100, (("eth_dst", "fa:16:3e:00:00:01"), ("metadata", (1001, pl.VNI_MASK)))):
            (("apply", (("output", 1),)),),
        (100, (("eth_dst", "fa:16:3e:00:00:02"), ("metadata", meta))):
            (("apply", (("set", "tunnel_id", 1001), ("set", "reg0", hv2_tag))),
             ("goto", "tunnel_out")),
        (50, (("eth_dst", flows.BROADCAST_MASK), ("metadata", meta))):
            (("apply", (("group", 2002),)),),
        (50, (("eth_dst", flows.BROADCAST_MASK),
              ("metadata", (1001 | pl.FROM_TUNNEL, pl.METADATA_MASK)))):
            (("apply", (("group", 2003),)),),
    }
    # ARP answered for both ports' addresses; DHCP to the controller, through the switch's
    # packet-in meter; misses continue
    assert sorted(dict(f.match)["arp_tpa"] for f in t["arp_responder"] if f.priority) == \
        ["10.0.0.11", "10.0.0.12"]
    assert [f.instructions for f in t["dhcp"] if f.priority] == [
        (("meter", meters.PACKET_IN_METERS), ("apply", (("output", "controller"),)))]
    assert {(f.table, f.instructions)
            for f in t["arp_responder"] + t["router_in"] + t["dhcp"] + t["egress_guard"]
            if not f.priority} == {("arp_responder", (("goto", "router_in"),)),
                                   ("router_in", (("goto", "dhcp"),)),
                                   ("dhcp", (("goto", "l2_lookup"),)),
                                   ("egress_guard", (("goto", "sg_egress"),))}
    groups = flows.compile_chassis("hv1", m, placement).groups
    assert groups[2002].buckets == ((("output", 1),), (("set", "tunnel_id", 1001), ("output", 5)))
    assert groups[2003].buckets == ((("output", 1),),)


def test_port_security_flows_allow_only_own_addresses():
    m, chs = two_hypervisors()
    t = by_table(flows.compile_chassis("hv1", m, place(m, chs)))
    allowed = {tuple((k, v) for k, v in f.match if k not in ("in_port",))
               for f in t["port_security"]}
    mac = "fa:16:3e:00:00:01"
    assert (("eth_src", mac), ("eth_type", 0x0800), ("ipv4_src", "10.0.0.11")) in allowed
    assert (("arp_sha", mac), ("arp_spa", "10.0.0.11"), ("eth_src", mac),
            ("eth_type", 0x0806)) in allowed
    assert all(dict(m_).get("eth_src") == mac for m_ in allowed)
    assert not any(dict(m_).get("ipv4_src") not in (None, "10.0.0.11", "0.0.0.0")
                   for m_ in allowed)


def test_no_port_security_and_address_pairs():
    m = model([network("net", 7)], [
        port("open", "net", "fa:16:3e:00:00:0a", "10.0.0.10", "a", security=False),
        port("vip", "net", "fa:16:3e:00:00:0b", "10.0.0.11", "b",
             pairs=[("fa:16:3e:00:00:0b", "10.0.0.100")])])
    ch = chassis("hv", "172.16.1.1", iface("ta", 1, "a"), iface("tb", 2, "b"))
    ps = by_table(flows.compile_chassis("hv", m, place(m, [ch])))["port_security"]
    # the open port: anything, its DHCP client packets through its DHCP meter
    assert sorted((f.priority, f.match, f.instructions) for f in ps
                  if dict(f.match)["in_port"] == 1) == [
        (50, (("in_port", 1),), (("goto", "arp_responder"),)),
        (flows.PRIO_DHCP_CLIENT, (("eth_type", 0x0800), ("in_port", 1), ("ip_proto", 17),
                                  ("udp_dst", 67), ("udp_src", 68)),
         (("meter", meters.PACKET_IN_METERS | 1), ("goto", "arp_responder")))]
    assert any(dict(f.match).get("ipv4_src") == "10.0.0.100" for f in ps)


def test_isolation_unrelated_networks_and_unbound_ports_compile_nothing():
    m = model([network("a", 1), network("b", 2)],
              [port("pa", "a", "fa:16:3e:00:00:01", "10.0.0.2", "va"),
               port("pb", "b", "fa:16:3e:00:00:02", "10.0.0.2", "vb"),
               port("down", "a", "fa:16:3e:00:00:03", "10.0.0.3", "vd", admin_up=False)])
    ch = chassis("hv", "172.16.1.1", iface("t1", 1, "va"), iface("t3", 3, "vd"))
    state = flows.compile_chassis("hv", m, place(m, [ch]))
    vnis = {dict(f.match)["metadata"][0] & pl.VNI_MASK for f in state.flows.values()
            if "metadata" in dict(f.match)}
    assert vnis == {1}  # network b is not hosted here: none of its flows
    assert not any(dict(f.match).get("in_port") == 3 for f in state.flows.values())


def test_every_flow_respects_the_pipeline():
    m, chs = two_hypervisors()
    for f in flows.compile_chassis("hv1", m, place(m, chs)).flows.values():
        pl.check_flow(f)
    with pytest.raises(pl.PipelineError):
        flows.flow("l2_lookup", 1, {}, flows.goto("classify"))
    with pytest.raises(pl.PipelineError):
        flows.flow("nonsense", 1, {})


def test_cookies_are_stable_and_content_addressed():
    m, chs = two_hypervisors()
    a = flows.compile_chassis("hv1", m, place(m, chs))
    b = flows.compile_chassis("hv1", m, place(m, chs))
    assert set(a.flows) == set(b.flows)
    assert all(c & pl.COOKIE_PREFIX_MASK == pl.COOKIE_PREFIX for c in a.flows)
    m2, chs2 = two_hypervisors()
    chs2[0].interfaces["tap1"].ofport = 9  # the VM moved to another OpenFlow port
    c = flows.compile_chassis("hv1", m2, place(m2, chs2))
    assert set(a.flows) != set(c.flows)


def test_diff_sends_only_the_difference_then_nothing():
    m, chs = two_hypervisors()
    state = flows.compile_chassis("hv1", m, place(m, chs))
    first = ofmsg.diff(DP, ofmsg.Installed(), state)
    assert sum(isinstance(x, parser.OFPFlowMod) for x in first) == len(state.flows)
    assert sum(isinstance(x, parser.OFPGroupMod) for x in first) == 2
    assert isinstance(first[-1], parser.OFPBarrierRequest)
    kinds = [type(x).__name__ for x in first]
    assert kinds.index("OFPGroupMod") < kinds.index("OFPFlowMod")  # groups before their users
    assert ofmsg.diff(DP, ofmsg.Installed.from_state(state), state) == []
    # a third port appears: only its flows are added, nothing is deleted
    m3, chs3 = two_hypervisors([port("p3", "net", "fa:16:3e:00:00:03", "10.0.0.13", "vm3")])
    chs3[0].interfaces["tap3"] = iface("tap3", 3, "vm3")
    new = flows.compile_chassis("hv1", m3, place(m3, chs3))
    msgs = ofmsg.diff(DP, ofmsg.Installed.from_state(state), new)
    mods = [x for x in msgs if isinstance(x, parser.OFPFlowMod)]
    assert mods and all(x.command == ofp.OFPFC_ADD for x in mods)
    assert len(mods) == len(set(new.flows) - set(state.flows))
    assert sum(isinstance(x, parser.OFPGroupMod) and x.command == ofp.OFPGC_MODIFY
               for x in msgs) == 2  # flood groups gain port 3


def test_diff_deletes_stale_flows_by_exact_cookie():
    m, chs = two_hypervisors()
    state = flows.compile_chassis("hv1", m, place(m, chs))
    m.remove(m.ports["p2"])
    smaller = flows.compile_chassis("hv1", m, place(m, chs))
    msgs = ofmsg.diff(DP, ofmsg.Installed.from_state(state), smaller)
    deletes = [x for x in msgs if isinstance(x, parser.OFPFlowMod)]
    assert deletes and all(x.command == ofp.OFPFC_DELETE_STRICT and
                           x.cookie_mask == ofmsg.ALL_ONES for x in deletes)
    assert {x.cookie for x in deletes} == set(state.flows) - set(smaller.flows)


def test_unpruned_diff_keeps_stale_flows_and_remembers_them():
    """While a restarted controller's view is partial (hv2 not back yet), hv1 keeps its
    flows towards hv2's port; once pruning resumes they go, exactly those."""
    m, chs = two_hypervisors()
    full = flows.compile_chassis("hv1", m, place(m, chs))
    partial = flows.compile_chassis("hv1", m, place(m, chs[:1]))   # hv2 unknown
    stale = set(full.flows) - set(partial.flows)
    assert stale                                      # the route to p2 on hv2, at least
    held = ofmsg.Installed.from_state(full)
    msgs = ofmsg.diff(DP, held, partial, prune=False)
    assert not any(isinstance(x, parser.OFPFlowMod) and x.command != ofp.OFPFC_ADD
                   for x in msgs)
    assert not any(isinstance(x, parser.OFPGroupMod) and x.command == ofp.OFPGC_DELETE
                   for x in msgs)
    after = ofmsg.Installed.from_state(partial, kept=held)
    assert set(after.flows) == set(full.flows)
    deletes = [x for x in ofmsg.diff(DP, after, partial) if isinstance(x, parser.OFPFlowMod)]
    assert {x.cookie for x in deletes} == stale
    assert all(x.command == ofp.OFPFC_DELETE_STRICT for x in deletes)


def test_messages_serialize():
    m, chs = two_hypervisors()
    for msg in ofmsg.diff(DP, ofmsg.Installed(), flows.compile_chassis("hv1", m, place(m, chs))):
        msg.datapath = DP
        msg.serialize()
        assert msg.buf


def test_fast_match_encoding_is_byte_for_byte_what_ofpmatch_builds():
    m = model([network("net", 7)], [
        port("a", "net", "fa:16:3e:00:00:0a", "10.0.0.10", "a"),
        port("b", "net", "fa:16:3e:00:00:0b", "2001:db8::b", "b",
             pairs=[("fa:16:3e:00:00:0c", "10.0.0.0/28")])])
    chs = [chassis("hv1", "172.16.1.1", iface("ta", 1, "a"),
                   iface("qvx", 4, type_="vxlan", remote_ip="172.16.2.1")),
           chassis("hv2", "172.16.2.1", iface("tb", 1, "b"),
                   iface("qvx", 4, type_="vxlan", remote_ip="172.16.1.1"))]
    for f in flows.compile_chassis("hv1", m, place(m, chs)).flows.values():
        fast, slow = bytearray(), bytearray()
        ofmsg.encode_match(DP, f.match).serialize(fast, 0)
        parser.OFPMatch(**dict(f.match)).serialize(slow, 0)
        assert fast == slow, f
    for odd in [(("eth_src", "FA:16:3E:00:00:01"),), (("arp_tpa", "10.0.0.1"), ("eth_type", 2054)),
                (("eth_type", 2048), ("ipv4_src", ("10.0.0.7", "255.255.255.0")))]:
        fast, slow = bytearray(), bytearray()
        ofmsg.encode_match(DP, odd).serialize(fast, 0)
        parser.OFPMatch(**dict(odd)).serialize(slow, 0)
        assert fast == slow, odd


def test_a_flow_sent_to_many_switches_is_encoded_once(monkeypatch):
    m, chs = two_hypervisors()
    flow = next(iter(flows.compile_chassis("hv1", m, place(m, chs)).flows.values()))
    other = SimpleNamespace(id=2, ofproto=ofp, ofproto_parser=parser)
    encoded = []
    real = ofmsg.add_flow_bytes
    monkeypatch.setattr(ofmsg, "add_flow_bytes", lambda dp, f: encoded.append(f) or real(dp, f))
    ofmsg._RECENT_ADDS.bufs.clear()
    delta = ofmsg.Delta(adds=[flow])
    assert list(ofmsg.wire(DP, delta)) == list(ofmsg.wire(other, delta))
    assert encoded == [flow]


@pytest.mark.parametrize("mac", ["fa:16:3e:00:00:00", "02:00:00:00:00:00", "00:00:00:00:00:01",
                                 "FA:16:3E:AB:CD:EF", "ff:ff:ff:ff:ff:ff", "02:00:00:ff:fe:00",
                                 "fa-16-3e-00-00-01", "00:01:00:00:00:00"])
def test_a_link_local_address_is_netaddrs_text_of_it(mac):
    """flows.link_local packs the EUI-64 itself; its text must be netaddr's (it is a match
    value, and a flow's cookie is a hash of its text)."""
    import netaddr
    assert flows.link_local(mac) == str(netaddr.EUI(mac).ipv6_link_local())


@pytest.mark.parametrize("address", ["10.0.0.5", "0.0.0.0", "255.255.255.255", "10.0.0.0/24",
                                     "0.0.0.0/0", "10.0.0.5/32", "fd00::1", "fd00::/64",
                                     "FD00:0:0::1", "1:0:2:3:4:5:6:7", "1:0:0:2:0:0:3:4",
                                     "::ffff:10.0.0.1", "::1", "::", "fe80::ff:fe00:0"])
def test_a_masked_match_value_is_what_netaddr_gives(address):
    """flows._masked keeps an address netaddr would write the same way without asking it."""
    import netaddr
    net = netaddr.IPNetwork(address)
    assert flows._masked(address) == (str(net.ip) if net.size == 1
                                      else (str(net.network), str(net.netmask)))


def test_inet_ntop_writes_ipv6_as_netaddr_does():
    """What ``_masked`` relies on, over many addresses (zero runs of every length and place)."""
    import random
    import socket

    import netaddr
    rnd = random.Random(7)
    for _ in range(20000):
        words = [rnd.choice([0, 0, 0, 1, 0xfe80, rnd.randrange(1 << 16)]) for _ in range(8)]
        text = socket.inet_ntop(socket.AF_INET6, b"".join(w.to_bytes(2, "big") for w in words))
        if "." not in text:
            assert str(netaddr.IPAddress(text)) == text
