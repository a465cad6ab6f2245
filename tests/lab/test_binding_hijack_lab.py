"""Interface hijack on real Open vSwitch (issue 11, binding authority; docs/security.md).

Project B names A's interface id (the attachment string A's VM's interface carries,
``nova.example.com/<A>/server/<name>/eth0``) on a port of its own network, with port security
off so that anything bound to it could send there. B claims it before A attaches, or while A is
detached and then re-attaches. tcpdump in B's VM on B's network must never see a frame of A's
VMs (ping between them, broadcast pings and ARP for unknown addresses) while it does see B's
own broadcasts, and A's VM keeps working. An interface that claims an attachment without
declaring its project (``qnet-project-id``) binds nothing and its port says why.
"""
import os

import pytest

from qnetclient import Client
from simulations.lab import seed
from simulations.lab.nodes import wait_for
from simulations.serve import QnetServer
from tests.lab.test_port_security_lab import Capture

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="!!! LAB TESTS SKIPPED: not root (namespaces, OVS daemons) !!!")

A, B = "tenant-a", "tenant-b"
CIDR = "10.0.7.0/24"                 # the same for both projects' networks
NET = {A: "a-net", B: "b-net"}


@pytest.fixture(scope="module")
def tenants(tmp_path_factory):
    """A's ``apeer`` on hv2; B's ``bspy`` on hv1 (where A's victims go) and ``bpeer`` on hv2."""
    from simulations.lab.topo import start_lab
    tmp = tmp_path_factory.mktemp("hijack")
    ctl = QnetServer(tmp, plugin="openflow", log_level="INFO").start()
    try:
        with start_lab(hypervisors=2, subnets=2) as lab:
            lab.connect(ctl)
            clients = {t: Client(ctl.url, project=t) for t in (A, B)}
            for t, client in clients.items():
                net = client.networks.create(name=NET[t])
                client.subnets.create(network_id=net["id"], cidr=CIDR, ip_version=4)
            hv1, hv2 = lab.hypervisors
            servers = {}
            for tenant, name, hv in ((A, "apeer", hv2), (B, "bspy", hv1), (B, "bpeer", hv2)):
                servers[name] = boot(lab, clients[tenant], tenant, name, hv)
            admin = Client(ctl.url, project="ops", admin=True)
            yield lab, clients, admin, servers, tmp
    finally:
        ctl.stop()


def boot(lab, client, tenant, name, hv, ports=None):
    """A server of ``tenant`` on its network, plugged by seed.start_vm (declared for its
    project), ACTIVE and configured by DHCP."""
    ports = ports or seed.create_ports(client, name, [NET[tenant]])
    server = seed.start_vm(lab, tenant, name, ports, hv, name)
    seed.wait_active(client, server)
    return seed.dhcp(server)


def b_claims(clients, attachment):
    """B's port on B's network naming ``attachment``, port security off: whatever bound it
    would send straight into B's network. Accepted (no 409 either way: attachments are
    scoped to their project)."""
    b = clients[B]
    port = b.ports.create(network_id=b.networks.find(NET[B])["id"], name="claim",
                          port_security_enabled=False)
    return b.ports.attach(port["id"], attachment)


def a_traffic(victim, peer):
    """What A's victim sends: a ping to its peer, broadcast pings, ARP for an unknown
    address (flooded, since no port holds it). True when the ping to the peer passed."""
    nic = victim.nics[0]
    victim.vm.cmd(f"ip neigh flush dev {nic.intf}")
    victim.vm.cmd("ping -n -b -c 3 -i 0.2 -W 1 10.0.7.255")
    victim.vm.cmd("ping -n -c 2 -i 0.2 -W 1 10.0.7.250")
    return seed.ping(victim, peer.nics[0].ip, count=3)


class Spy:
    """tcpdump in B's spy VM: one capture per source MAC watched."""

    def __init__(self, spy, macs, tmp, tag):
        self.caps = {who: Capture(spy, spy.nics[0], mac, str(tmp / f"{tag}-{who}.pcap"))
                     for who, mac in macs.items()}

    def stop(self):
        return {who: len(cap.stop()) for who, cap in self.caps.items()}


def watch(servers, victim_mac, tmp, tag):
    """Capture, in B's spy, what comes from A's victim and peer and (the control) B's peer."""
    macs = {"victim": victim_mac,
            "apeer": servers["apeer"].nics[0].port["mac_address"],
            "bpeer": servers["bpeer"].nics[0].port["mac_address"]}
    return Spy(servers["bspy"], macs, tmp, tag)


def b_broadcasts(servers):
    """The capture's control: B's own broadcast must reach B's spy."""
    servers["bpeer"].vm.cmd("ping -n -b -c 3 -i 0.2 -W 1 10.0.7.255")


@pytest.mark.parametrize("order", ["b-first", "a-detached"])
def test_b_claiming_a_interface_id_gets_none_of_a_traffic(tenants, order):
    lab, clients, admin, servers, tmp = tenants
    hv1 = lab.hypervisors[0]
    name = f"vic{order[0]}"
    attachment = seed.interface_id(A, name, 0)       # what A's VM's interface will carry
    if order == "b-first":
        claim = b_claims(clients, attachment)
        ports = seed.create_ports(clients[A], name, [NET[A]])    # A's attach is not refused
        assert ports[0][1]["attachment"] == attachment
        spy = watch(servers, ports[0][1]["mac_address"], tmp, order)
        victim = boot(lab, clients[A], A, name, hv1, ports)
        passed = a_traffic(victim, servers["apeer"])
    else:
        victim = boot(lab, clients[A], A, name, hv1)
        port_id = victim.nics[0].port["id"]
        spy = watch(servers, victim.nics[0].port["mac_address"], tmp, order)
        assert a_traffic(victim, servers["apeer"])
        clients[A].ports.detach(port_id)
        wait_for(lambda: clients[A].ports.get(port_id)["status"] == "DOWN", timeout=10,
                 what="A's port DOWN after detach")
        claim = b_claims(clients, attachment)
        a_traffic(victim, servers["apeer"])           # A's VM still sends while detached
        clients[A].ports.attach(port_id, attachment)
        seed.wait_active(clients[A], victim)
        passed = wait_for(lambda: a_traffic(victim, servers["apeer"]), timeout=10,
                          what="A's ping after re-attach")
    b_broadcasts(servers)
    seen = spy.stop()
    print(f"\n{order}: B's spy saw {seen}")
    assert seen["bpeer"] > 0, "the spy's capture saw not even B's own broadcast"
    assert seen["victim"] == 0 and seen["apeer"] == 0, seen
    assert passed                                     # A's VM keeps working
    assert seed.ping(victim, servers["apeer"].nics[0].ip, count=3)
    # B's claim bound nothing: no interface is declared for B with A's id
    assert admin.ports.get(claim["id"])["status"] == "DOWN"
    assert admin.ports.get(claim["id"])["binding:vif_type"] == "unbound"


def test_undeclared_attachment_claim_binds_nothing_and_says_why(tenants):
    lab, clients, admin, servers, _ = tenants
    a = clients[A]
    (net, port), = seed.create_ports(a, "anon", [NET[A]])
    # plugged like any VM, but the hypervisor does not say which project it is for
    anon = seed.start_vm(lab, A, "anon", [(net, {**port, "project_id": None})],
                         lab.hypervisors[0], "anon")
    wait_for(lambda: admin.ports.get(port["id"])["binding_error"], timeout=10,
             what="binding_error on the undeclared claim's port")
    shown = admin.ports.get(port["id"])
    print("\nundeclared claim:", shown["status"], shown["binding:vif_type"],
          shown["binding_error"])
    assert shown["status"] == "DOWN" and shown["binding:vif_type"] == "binding_failed"
    assert "qnet-project-id" in shown["binding_error"]
    nic = anon.nics[0]
    anon.vm.cmd(f"ip addr add {nic.fixed_ip}/24 dev {nic.intf}")
    assert not seed.ping(anon, servers["apeer"].nics[0].ip, count=3)
