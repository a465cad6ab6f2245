"""Small logical models and chassis reports for data-plane unit tests."""
from types import SimpleNamespace

from apps.model import LogicalModel


def network(net_id, vni, dhcp=True, admin_up=True):
    return ({"id": net_id, "provider:segmentation_id": vni, "mtu": 1450,
             "admin_state_up": admin_up},
            {"id": "sub-" + net_id, "network_id": net_id, "enable_dhcp": dhcp,
             "ip_version": 4, "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1",
             "dns_nameservers": [], "host_routes": []})


def port(port_id, net_id, mac, ip, attachment=None, security=True, pairs=(), admin_up=True):
    return {"id": port_id, "network_id": net_id, "mac_address": mac,
            "fixed_ips": [{"subnet_id": "sub-" + net_id, "ip_address": ip}] if ip else [],
            "port_security_enabled": security,
            "allowed_address_pairs": [{"mac_address": m, "ip_address": a} for m, a in pairs],
            "admin_state_up": admin_up, "attachment": attachment}


def model(networks, ports):
    m = LogicalModel()
    for net, sub in networks:
        m.put("network", net)
        m.put("subnet", sub)
    for p in ports:
        m.put("port", p)
    return m


def iface(name, ofport, iface_id=None, type_="", remote_ip=None):
    return SimpleNamespace(name=name, ofport=ofport, iface_id=iface_id, type=type_,
                           remote_ip=remote_ip)


def chassis(system_id, tunnel_ip, *interfaces, datapath_id=1):
    return SimpleNamespace(system_id=system_id, tunnel_ip=tunnel_ip, datapath_id=datapath_id,
                           connected=True, interfaces={i.name: i for i in interfaces})


def two_hypervisors(extra_ports=()):
    """vm1 on hv1 (ofport 1) and vm2 on hv2 (ofport 1), one network (VNI 1001); tunnels hv1:5,
    hv2:7."""
    m = model([network("net", 1001)],
              [port("p1", "net", "fa:16:3e:00:00:01", "10.0.0.11", "vm1"),
               port("p2", "net", "fa:16:3e:00:00:02", "10.0.0.12", "vm2"), *extra_ports])
    hv1 = chassis("hv1", "172.16.1.1", iface("tap1", 1, "vm1"),
                  iface("qvx1", 5, type_="vxlan", remote_ip="172.16.2.1"), datapath_id=1)
    hv2 = chassis("hv2", "172.16.2.1", iface("tap2", 1, "vm2"),
                  iface("qvx2", 7, type_="vxlan", remote_ip="172.16.1.1"), datapath_id=2)
    return m, [hv1, hv2]
