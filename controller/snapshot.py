"""What a back-end boots from: every network, subnet, port, QoS policy and security group as the
typed values of controller/logical.py, read straight from the tables in one transaction (no API
bodies, no paging: a back-end that starts wants all of them, as fast as possible)."""
from sqlalchemy import select

from controller import logical
from controller.models import (BandwidthLimitRule, IPAllocation, Network, Port, QosPolicy,
                               SecurityGroup, SecurityGroupPortBinding, SecurityGroupRule, Subnet)

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
_MEMBERSHIPS = select(SecurityGroupPortBinding.port_id, SecurityGroupPortBinding.security_group_id)
_GROUPS = select(SecurityGroup.id, SecurityGroup.project_id,
                 SecurityGroup.stateful).order_by(SecurityGroup.id)
_GROUP_RULES = select(SecurityGroupRule.id, SecurityGroupRule.security_group_id,
                      SecurityGroupRule.direction, SecurityGroupRule.ethertype,
                      SecurityGroupRule.protocol, SecurityGroupRule.port_range_min,
                      SecurityGroupRule.port_range_max, SecurityGroupRule.remote_ip_prefix,
                      SecurityGroupRule.remote_group_id)


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
                            security_groups=_security_groups(session))


def _security_groups(session):
    group_rules = {}
    for r in session.execute(_GROUP_RULES):
        group_rules.setdefault(r.security_group_id, []).append(r._mapping)
    return tuple(logical.SecurityGroup(r.id, r.project_id, r.stateful,
                                       logical.rules_of(group_rules.get(r.id, ())))
                 for r in session.execute(_GROUPS))
