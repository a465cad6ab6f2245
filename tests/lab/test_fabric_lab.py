"""Fabric mode end to end: ``qnet serve --mode fabric`` discovers plain Mininet OVS switches by
LLDP and isolates two tenants' three networks across them with flow rules only.

tree (depth 2, fanout 3): hosts on different leaves; same-network pairs ping and carry TCP,
every other pair is cut off even with the right MAC pinned in its ARP table.
mesh (a ring plus a chord): broadcast does not storm around the loops, cutting the link a
ping is using reroutes it (the outage is printed), and restarting the controller does not
interrupt it.
"""
import os
import time

import pytest

from qnetclient import Client
from simulations.lab import check
from simulations.serve import QnetServer

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="!!! LAB TESTS SKIPPED: not root (namespaces, OVS daemons) !!!")



@pytest.fixture(scope="module")
def fabric_lab(tmp_path_factory, request):
    """(net, admin api, members, restart): ``restart()`` stops ``qnet serve`` and starts it
    again on the same ports and database. One fabric per shape, shared by its tests."""
    from simulations.lab.fabric import (LINKS, fabric_scenario, pin_neighbours, start_fabric,
                                        wait_ready)
    shape = request.param
    server = QnetServer(tmp_path_factory.mktemp(f"fabric-{shape}"), plugin="openflow",
                        extra=["--mode", "fabric"]).start()

    def restart(pause=1.0):
        server.stop()
        time.sleep(pause)
        server.start()
    try:
        admin = Client(server.url, project="ops", admin=True)
        with start_fabric(shape, controller=f"127.0.0.1:{server.ofp_port}") as net:
            members = fabric_scenario(net, admin, shape)
            wait_ready(admin, members, LINKS[shape])
            pin_neighbours(members)
            yield net, admin, members, restart
    finally:
        server.stop()


@pytest.mark.parametrize("fabric_lab", ["tree"], indirect=True)
def test_tree_same_network_pairs_talk_and_nothing_else(fabric_lab):
    from simulations.lab.fabric import reachability
    net, admin, members, _ = fabric_lab
    by_host = {m.host.name: m for m in members}
    matrix = reachability(members)
    by_label = {m.label: m for m in members}
    expected = {(a, b): by_label[a].network == by_label[b].network for a, b in matrix}
    assert matrix == expected
    h1, h7 = by_host["h1"], by_host["h7"]          # a-web on leaves s2 and s4
    assert check.tcp_transfer(h1.host, h7.host, h7.ip)
    unbound = net.get("h6")                        # no port: nothing gets in or out
    unbound.cmd("ip addr add 10.0.0.99/24 dev %s" % unbound.defaultIntf().name)
    assert not check.ping(unbound, h1.ip)


@pytest.mark.parametrize("fabric_lab", ["mesh"], indirect=True)
def test_mesh_no_storm_failover_and_controller_restart(fabric_lab):
    from simulations.lab.fabric import outage_during, switch_packets
    net, admin, members, restart = fabric_lab
    by_host = {m.host.name: m for m in members}
    h1, h5 = by_host["h1"], by_host["h5"]          # a-web on s1 and s3: the chord s1-s3
    before = switch_packets(net)
    h1.host.cmd("ping -n -b -c 20 -i 0.05 10.0.0.255 >/dev/null 2>&1")
    h1.host.cmd("sleep 2")
    received = switch_packets(net) - before
    # 20 broadcasts over a 4-switch tree plus LLDP (1/s per port): hundreds, not a storm
    print(f"\nswitch ports received {received} packets in ~3 s after 20 broadcasts")
    assert 20 <= received < 1000
    topo = admin.topology()
    route = next(n for n in topo["networks"] if by_host["h1"].port_id in
                 {p["port_id"] for p in topo["ports"] if p["network_id"] == n["network_id"]})
    assert [f"{1:016x}", f"{3:016x}"] in route["links"]
    gap, after, _ = outage_during(h1.host, h5.ip,
                                  lambda: net.configLinkStatus("s1", "s3", "down"))
    print(f"outage when s1-s3 went down: {gap * 1000:.0f} ms; {after} replies after the cut")
    assert after > 50                               # traffic resumed on another path
    assert check.ping(by_host["h3"].host, by_host["h8"].ip)      # a-db still fine
    assert not check.ping(h1.host, by_host["h2"].ip)             # and still isolated
    # A controller restart reads the switches back and prunes nothing before LLDP has found
    # the links again: traffic (now on the detour) keeps flowing.
    _, after, lost = outage_during(h1.host, h5.ip, restart, before=1.0, after=5.0,
                                   interval=0.05)
    print(f"ping every 50 ms across a controller restart: {lost} lost")
    assert lost == 0 and after > 50


def _links(topology):
    return sorted((lk["a"]["datapath_id"], lk["a"]["port"], lk["b"]["datapath_id"],
                   lk["b"]["port"], lk["status"]) for lk in topology["links"])


def _heard_lldp(host, path):
    """One LLDP frame the controller sent out of ``host``'s switch port, as the host got it."""
    from os_ken.lib import pcaplib
    host.cmd(f"timeout 5 tcpdump -i {host.defaultIntf().name} -c 1 -U -w {path} "
             "ether proto 0x88cc >/dev/null 2>&1")
    with open(path, "rb") as f:
        frames = [buf for _, buf in pcaplib.Reader(f)]
    assert frames, f"{host.name} heard no LLDP from its switch"
    return frames[0]


def _forged_lldp(dpid, port_no, signature=None):
    """A frame shaped like the controller's (topology/lldp.py) claiming switch ``dpid`` port
    ``port_no``: unsigned, or carrying ``signature`` (copied from a real frame)."""
    from os_ken.lib.packet import lldp, packet
    from topology import lldp as signed
    real = packet.Packet(signed.build(os.urandom(32), dpid, port_no))
    tlvs = []
    for tlv in real.get_protocol(lldp.lldp).tlvs:
        if isinstance(tlv, lldp.OrganizationallySpecific):
            if signature is None:
                continue
            tlv.info = signature
        tlvs.append(tlv)
    forged = packet.Packet()
    forged.add_protocol(real.protocols[0])
    forged.add_protocol(lldp.lldp(tlvs))
    forged.serialize()
    return bytes(forged.data)


@pytest.mark.parametrize("fabric_lab", ["tree"], indirect=True)
def test_tree_forged_lldp_from_hosts_changes_no_link(fabric_lab, tmp_path):
    """Hosts send LLDP for 3 s claiming to be a switch (s1's end of the s1-s3 link, or a new
    switch), unsigned or with the signature of a real frame the unbound host heard, plus that
    real frame replayed: no link appears or changes, the links stay UP, traffic flows."""
    import subprocess
    import sys
    from os_ken.lib.packet import lldp, packet
    from tests.lab.test_port_security_lab import _SEND
    from topology.lldp import SIGNATURE_OUI
    net, admin, members, _ = fabric_lab
    by_host = {m.host.name: m for m in members}
    before = _links(admin.topology())
    assert len(before) == 3 and {lk[4] for lk in before} == {"UP"}, before
    rogue, bound = net.get("h6"), by_host["h1"].host    # an unbound port of s3, a bound one
    real = _heard_lldp(rogue, str(tmp_path / "heard.pcap"))
    signature = next(t.info for t in packet.Packet(real).get_protocol(lldp.lldp).tlvs
                     if isinstance(t, lldp.OrganizationallySpecific) and t.oui == SIGNATURE_OUI)
    s1_to_s3 = next((int(a, 16), pa) if a == f"{1:016x}" else (int(b, 16), pb)
                    for a, pa, b, pb, _ in before if f"{3:016x}" in (a, b))
    frames = [real] + [_forged_lldp(dpid, port_no, sig) for dpid, port_no in
                       (s1_to_s3, (0x99, 1)) for sig in (None, signature)]
    h7 = by_host["h7"]                                  # a-web, like h1: s2 -> s1 -> s4
    pinger = by_host["h1"].host.popen(["ping", "-n", "-i", "0.1", "-c", "40", "-W", "1", h7.ip],
                                      stdout=subprocess.PIPE, text=True)
    senders = [h.popen([sys.executable, "-c", _SEND, h.defaultIntf().name, "20", "60",
                        *(f.hex() for f in frames)], stdout=subprocess.PIPE, text=True)
               for h in (rogue, bound)]
    seen = []
    while any(p.poll() is None for p in senders):
        seen.append(_links(admin.topology()))
        time.sleep(0.3)
    sent = sum(int(p.communicate(timeout=30)[0].split()[2]) * len(frames) for p in senders)
    time.sleep(1.5)                                     # an LLDP round after the last forgery
    seen.append(_links(admin.topology()))
    out, _ = pinger.communicate(timeout=30)
    print(f"\n{sent} forged LLDP frames from h6 and h1; links seen: "
          f"{[s for s in seen if s != before] or 'unchanged'}; ping h1 -> h7: "
          f"{out.strip().splitlines()[-2]}")
    assert sent >= 2 * 60 * len(frames)
    assert all(links == before for links in seen), [s for s in seen if s != before]
    assert " 40 received" in out, out
