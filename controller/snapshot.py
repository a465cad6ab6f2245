"""What a back-end boots from: every network, subnet, port, QoS policy, router, floating IP and
security group as the typed values of controller/logical.py, read straight from the tables in one
transaction (no API bodies, no paging: a back-end that starts wants all of them, as fast as
possible)."""
from sqlalchemy import select

from controller import logical
from controller.address_groups import address_sets
from controller.models import (BandwidthLimitRule, FloatingIP, IPAllocation, Network, Port,
                               QosPolicy, Router, RouterPort, SecurityGroup,
                               SecurityGroupPortBinding, SecurityGroupRule, Subnet)

_NETWORKS = select(Network.id, Network.segmentation_id, Network.mtu, Network.admin_state_up,
                   Network.qos_policy_id, Network.router_external,
                   Network.physical_network).order_by(Network.id)
_SUBNETS = select(Subnet.id, Subnet.network_id, Subnet.ip_version, Subnet.cidr,
                  Subnet.gateway_ip, Subnet.enable_dhcp, Subnet.dns_nameservers,
                  Subnet.host_routes).order_by(Subnet.id)
_ADDRESSES = select(IPAllocation.port_id, IPAllocation.ip_address).order_by(IPAllocation.id)
_PORTS = select(*Port.__table__.columns).order_by(Port.id)
_RULES = select(BandwidthLimitRule.qos_policy_id, BandwidthLimitRule.direction,
                BandwidthLimitRule.max_kbps, BandwidthLimitRule.max_burst_kbps)
_POLICIES = select(QosPolicy.id).order_by(QosPolicy.id)
_MEMBERSHIPS = select(SecurityGroupPortBinding.port_id, SecurityGroupPortBinding.security_group_id)
_GROUPS = select(SecurityGroup.id, SecurityGroup.project_id,
                 SecurityGroup.stateful).order_by(SecurityGroup.id)
_GROUP_RULES = select(SecurityGroupRule.id, SecurityGroupRule.security_group_id,
                      SecurityGroupRule.direction, SecurityGroupRule.ethertype,
                      SecurityGroupRule.protocol, SecurityGroupRule.port_range_min,
                      SecurityGroupRule.port_range_max, SecurityGroupRule.remote_ip_prefix,
                      SecurityGroupRule.remote_group_id, SecurityGroupRule.remote_address_group_id)
_ROUTERS = select(Router.id, Router.project_id, Router.admin_state_up, Router.zone,
                  Router.enable_snat, Router.routes).order_by(Router.id)
#: every address of every router port, as logical.make_router takes them (router id first)
ROUTER_ADDRESSES = (
    select(RouterPort.router_id, RouterPort.port_type, RouterPort.port_id,
           IPAllocation.subnet_id, Port.network_id, Port.mac_address, IPAllocation.ip_address,
           Subnet.cidr)
    .join(Port, Port.id == RouterPort.port_id)
    .join(IPAllocation, IPAllocation.port_id == Port.id)
    .join(Subnet, Subnet.id == IPAllocation.subnet_id)
    .order_by(IPAllocation.id))
_FLOATING_IPS = select(FloatingIP.id, FloatingIP.project_id, FloatingIP.router_id,
                       FloatingIP.floating_network_id, FloatingIP.floating_ip_address,
                       FloatingIP.fixed_port_id,
                       FloatingIP.fixed_ip_address).order_by(FloatingIP.id)


def snapshot(session):
    """A logical.Snapshot of everything ``session`` sees (in id order, as the API lists)."""
    networks = tuple(logical.Network(r.id, r.segmentation_id, r.mtu, r.admin_state_up,
                                     r.qos_policy_id, external=bool(r.router_external),
                                     physical_network=r.physical_network)
                     for r in session.execute(_NETWORKS))
    subnets = tuple(logical.Subnet(r.id, r.network_id, r.ip_version, r.cidr, r.gateway_ip,
                                   r.enable_dhcp, tuple(r.dns_nameservers),
                                   logical.routes_of(r.host_routes))
                    for r in session.execute(_SUBNETS))
    ips = {}
    for port_id, ip in session.execute(_ADDRESSES):
        ips.setdefault(port_id, []).append(ip)
    groups_of = {}
    for port_id, group_id in session.execute(_MEMBERSHIPS):
        groups_of.setdefault(port_id, []).append(group_id)
    ports, active_hosts = [], set()
    for r in session.execute(_PORTS):
        ports.append(logical.make_port(r.id, r.network_id, r.mac_address, ips.get(r.id, ()),
                                       r.port_security_enabled, r.allowed_address_pairs,
                                       r.admin_state_up, r.attachment, r.qos_policy_id,
                                       r.binding_profile, r.device_owner, r.project_id,
                                       groups_of.get(r.id, ())))
        if r.status == "ACTIVE" and r.binding_host:
            active_hosts.add(r.binding_host)
    rules = {}
    for r in session.execute(_RULES):
        rules.setdefault(r.qos_policy_id, []).append(r._mapping)
    policies = tuple(logical.QoSPolicy(pid, logical.limits_of_rules(rules.get(pid, ())))
                     for pid in session.scalars(_POLICIES))
    return logical.Snapshot(networks, subnets, tuple(ports), policies, frozenset(active_hosts),
                            routers(session), floating_ips(session),
                            security_groups(session))


def routers(session, router_ids=None):
    """Routers as logical.Router values, in id order (only ``router_ids`` if given)."""
    query, addresses = _ROUTERS, ROUTER_ADDRESSES
    if router_ids is not None:
        query = query.where(Router.id.in_(router_ids))
        addresses = addresses.where(RouterPort.router_id.in_(router_ids))
    by_router = {}
    for router_id, *address in session.execute(addresses):
        by_router.setdefault(router_id, []).append(address)
    return tuple(logical.make_router(r.id, r.project_id, r.admin_state_up, r.zone,
                                     r.enable_snat, r.routes, by_router.get(r.id, ()))
                 for r in session.execute(query))


def floating_ips(session):
    return tuple(logical.FloatingIP(*r) for r in session.execute(_FLOATING_IPS))


def security_groups(session):
    """Security groups as logical.SecurityGroup values with their rules, in id order."""
    group_rules = {}
    for r in session.execute(_GROUP_RULES):
        group_rules.setdefault(r.security_group_id, []).append(r._mapping)
    addresses = address_sets(session, {r["remote_address_group_id"]
                                       for rules in group_rules.values() for r in rules} - {None})
    return tuple(logical.SecurityGroup(r.id, r.project_id, r.stateful,
                                       logical.rules_of(group_rules.get(r.id, ()), addresses))
                 for r in session.execute(_GROUPS))
