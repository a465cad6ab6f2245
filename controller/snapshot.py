"""What a back-end boots from: every network, subnet, port and QoS policy as the typed values of
controller/logical.py, read straight from the tables in one transaction (no API bodies, no
paging: a back-end that starts wants all of them, as fast as possible)."""
from sqlalchemy import select

from controller import logical
from controller.models import BandwidthLimitRule, IPAllocation, Network, Port, QosPolicy, Subnet

_NETWORKS = select(Network.id, Network.segmentation_id, Network.mtu, Network.admin_state_up,
                   Network.qos_policy_id).order_by(Network.id)
_SUBNETS = select(Subnet.id, Subnet.network_id, Subnet.ip_version, Subnet.cidr,
                  Subnet.gateway_ip, Subnet.enable_dhcp, Subnet.dns_nameservers,
                  Subnet.host_routes).order_by(Subnet.id)
_ADDRESSES = select(IPAllocation.port_id, IPAllocation.ip_address).order_by(IPAllocation.id)
_PORTS = select(*Port.__table__.columns).order_by(Port.id)
_RULES = select(BandwidthLimitRule.qos_policy_id, BandwidthLimitRule.direction,
                BandwidthLimitRule.max_kbps, BandwidthLimitRule.max_burst_kbps)
_POLICIES = select(QosPolicy.id).order_by(QosPolicy.id)


def snapshot(session):
    """A logical.Snapshot of everything ``session`` sees (in id order, as the API lists)."""
    networks = tuple(logical.Network(r.id, r.segmentation_id, r.mtu, r.admin_state_up,
                                     r.qos_policy_id) for r in session.execute(_NETWORKS))
    subnets = tuple(logical.Subnet(r.id, r.network_id, r.ip_version, r.cidr, r.gateway_ip,
                                   r.enable_dhcp, tuple(r.dns_nameservers),
                                   logical.routes_of(r.host_routes))
                    for r in session.execute(_SUBNETS))
    ips = {}
    for port_id, ip in session.execute(_ADDRESSES):
        ips.setdefault(port_id, []).append(ip)
    ports, active_hosts = [], set()
    for r in session.execute(_PORTS):
        ports.append(logical.make_port(r.id, r.network_id, r.mac_address, ips.get(r.id, ()),
                                       r.port_security_enabled, r.allowed_address_pairs,
                                       r.admin_state_up, r.attachment, r.qos_policy_id,
                                       r.binding_profile, r.device_owner, r.project_id))
        if r.status == "ACTIVE" and r.binding_host:
            active_hosts.add(r.binding_host)
    rules = {}
    for r in session.execute(_RULES):
        rules.setdefault(r.qos_policy_id, []).append(r._mapping)
    policies = tuple(logical.QoSPolicy(pid, logical.limits_of_rules(rules.get(pid, ())))
                     for pid in session.scalars(_POLICIES))
    return logical.Snapshot(networks, subnets, tuple(ports), policies, frozenset(active_hosts))
