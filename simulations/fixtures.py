"""Small worlds for benches and data-plane tests: typed logical models (the values of
controller/logical.py) and the chassis reports of hypervisors (what apps/chassis.py makes of
OVSDB).

Benches build their clouds from these, and the unit tests use the same builders, so what a
test checks is what a bench measures. Defaults are those of a fresh API resource (DHCP on,
admin up, port security on, MTU 1450).
"""
from types import SimpleNamespace

from os_ken.lib.packet import packet

from apps.model import LogicalModel
from controller.logical import UNBOUND, Network, Port, Subnet, by_version


def network(net_id, vni, dhcp=True, admin_up=True, cidr="10.0.0.0/24", gateway="10.0.0.1",
            mtu=1450, qos_policy_id=None):
    """A network and its one IPv4 subnet ("sub-" + its id)."""
    return (Network(net_id, vni, mtu, admin_up, qos_policy_id),
            Subnet("sub-" + net_id, net_id, 4, cidr, gateway, dhcp))


def port(port_id, net_id, mac, ip, attachment=None, security=True, pairs=(), admin_up=True,
         qos_policy_id=None, binding=UNBOUND, router=False, security_groups=()):
    """A port with at most one fixed address ``ip`` (IPv4 or IPv6; None: none), or several
    (a tuple), in ``security_groups`` (ids)."""
    ips = (ip,) if isinstance(ip, str) else tuple(ip or ())
    return Port(port_id, net_id, mac, *by_version(ips), security, tuple(pairs),
                admin_up, attachment, qos_policy_id, binding, router,
                security_groups=tuple(sorted(security_groups)) if security else ())


def model(networks, ports):
    """A LogicalModel of ``networks`` ((Network, Subnet) pairs, as ``network`` gives them)
    and ``ports``."""
    m = LogicalModel()
    for net, sub in networks:
        m.put(net)
        m.put(sub)
    for p in ports:
        m.put(p)
    return m


def iface(name, ofport, iface_id=None, type_="", remote_ip=None, project_id=None):
    """An interface of a chassis report: a VM's (``iface_id`` its attachment, declared for
    ``project_id``) or a tunnel's (``type_`` "vxlan")."""
    return SimpleNamespace(name=name, ofport=ofport, iface_id=iface_id, type=type_,
                           remote_ip=remote_ip, project_id=project_id)


def chassis(system_id, tunnel_ip, *interfaces, datapath_id=1):
    """A connected chassis report with ``interfaces``."""
    return SimpleNamespace(system_id=system_id, tunnel_ip=tunnel_ip, datapath_id=datapath_id,
                           connected=True, interfaces={i.name: i for i in interfaces})


def serialize(*layers):
    """The bytes of a frame made of os-ken packet ``layers`` (ethernet first)."""
    pkt = packet.Packet()
    for layer in layers:
        pkt.add_protocol(layer)
    pkt.serialize()
    return bytes(pkt.data)
