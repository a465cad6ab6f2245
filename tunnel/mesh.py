"""Which VXLAN tunnels each switch needs: only between switches that share a network.

A full mesh between all N switches costs N*(N-1) tunnel ports whatever the tenants do; tunnels
only where two switches host ports of the same network cost nothing for switches that never
talk, and the set follows the ports as they move.
"""
import ipaddress


def tunnel_port_name(remote_ip):
    """A stable interface name (<= 15 chars) for the tunnel towards ``remote_ip``."""
    return "qvx" + ipaddress.ip_address(remote_ip).packed.hex()[-12:]


def chassis_networks(model, bound):
    """chassis_id -> set of network ids it hosts (an admin-up port bound there)."""
    out = {}
    for port_id, (chassis_id, _) in bound.items():
        port = model.ports.get(port_id)
        if port is not None and port.network_id in model.networks and \
                model.networks[port.network_id].admin_up:
            out.setdefault(chassis_id, set()).add(port.network_id)
    return out


def wanted_tunnels(model, bound, tunnel_ips):
    """chassis_id -> {tunnel port name: remote tunnel ip} for every chassis in ``tunnel_ips``."""
    hosted = chassis_networks(model, bound)
    wanted = {c: {} for c in tunnel_ips}
    for a, ip_a in tunnel_ips.items():
        for b, ip_b in tunnel_ips.items():
            if a != b and ip_a and ip_b and hosted.get(a, set()) & hosted.get(b, set()):
                wanted[a][tunnel_port_name(ip_b)] = ip_b
    return wanted
