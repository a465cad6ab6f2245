"""Which VXLAN tunnels each switch needs: only between switches that share a network.

A full mesh between all N switches costs N*(N-1) tunnel ports whatever the tenants do; tunnels
only where two switches host ports of the same network cost nothing for switches that never
talk, and the set follows the ports as they move.
"""
import hashlib
import ipaddress


def tunnel_port_name(remote_ip):
    """Stable tunnel port name for a peer: "qvx" + the IPv4 address in hex ("qvxac100101").

    Linux/OVS interface names are limited to 15 characters, so the address must be encoded
    compactly; deriving the name from the peer (not from a counter) makes it the same on
    every run and every controller, so a restarted controller finds its ports again. IPv6
    peers get "qvx6" + 11 hex digits of a hash (collisions are astronomically unlikely).
    """
    ip = ipaddress.ip_address(remote_ip)
    if ip.version == 4:
        return "qvx%08x" % int(ip)
    return "qvx6" + hashlib.sha256(ip.packed).hexdigest()[:11]


def tunnel_tag(tunnel_ip):
    """A 32-bit name for a switch, the same on every switch and controller run: its IPv4 tunnel
    address as an integer (an IPv6 one is hashed; a collision is astronomically unlikely)."""
    ip = ipaddress.ip_address(tunnel_ip)
    if ip.version == 4:
        return int(ip)
    return int.from_bytes(hashlib.sha256(ip.packed).digest()[:4], "big")


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
