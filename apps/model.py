"""The OpenFlow back-end's view of the world, as plain values.

``LogicalModel`` mirrors the tenant model (networks, subnets, ports, QoS policies, routers and
floating IPs: the typed values of controller/logical.py) from the core's Change events;
``Placement`` says where ports are bound and which tunnel leads where, derived from what the
switches report (chassis). Both are what ``flows.compile_chassis`` needs, and nothing more.
"""
import dataclasses

import netaddr

from apps import secgroups
from controller import binding
from controller.logical import (FloatingIP, Network, Port, QoSPolicy, Router, SecurityGroup,
                                Subnet)
from tunnel.mesh import tunnel_tag


class LogicalModel:
    """Networks, subnets, ports, QoS policies, routers and floating IPs by id (the typed
    values of controller/logical.py), kept current from the core's changes."""

    def __init__(self):
        self.subnets, self.ports, self.qos_policies = {}, {}, {}
        self.routers, self.floating_ips = {}, {}
        #: security group id -> SecurityGroup (its rules and stateful flag)
        self.security_groups = {}
        #: network id -> Network, with ``dhcp`` filled in from its subnets
        self.networks = {}
        self._networks_as_given = {}
        self._ports_by_net = {}
        #: chassis that had ACTIVE ports when the model was loaded from the database
        self.hosts_at_load = set()
        self._put = {Network: self._put_network, Subnet: self._put_subnet,
                     Port: self._put_port, QoSPolicy: self._put_qos_policy,
                     Router: self._put_by_id(self.routers),
                     FloatingIP: self._put_by_id(self.floating_ips),
                     SecurityGroup: self._put_by_id(self.security_groups)}
        self._remove = {Network: self._remove_network, Subnet: self._remove_subnet,
                        Port: self._remove_port, QoSPolicy: self._remove_qos_policy,
                        Router: self._remove_by_id(self.routers),
                        FloatingIP: self._remove_by_id(self.floating_ips),
                        SecurityGroup: self._remove_by_id(self.security_groups)}

    @classmethod
    def load(cls, core):
        """The model of everything the core holds (``Core.logical_snapshot``)."""
        snap = core.logical_snapshot()
        model = cls()
        for item in (*snap.networks, *snap.subnets, *snap.ports, *snap.qos_policies,
                     *snap.routers, *snap.floating_ips, *snap.security_groups):
            model.put(item)
        model.hosts_at_load = set(snap.active_hosts)
        return model

    def apply(self, change):
        """Fold one core Change in; returns the ids of the networks it touches."""
        if change.resource == "interface":
            return set()
        if change.after is None:
            self.remove(change.before)
        else:
            self.put(change.after)
        if isinstance(change.subject, QoSPolicy):
            return {self.ports[p].network_id for p in self.ports_with_policy(change.subject.id)}
        if isinstance(change.subject, Router):
            return {i.network_id for v in (change.before, change.after) if v is not None
                    for i in (*v.interfaces, *filter(None, [v.gateway]))}
        if isinstance(change.subject, SecurityGroup):
            named = {r.remote_group_id for g in (change.before, change.after) if g is not None
                     for r in g.rules} - {None}
            return {self.ports[p].network_id for g in named | {change.subject.id}
                    for p in self.ports_in_group(g)}
        if isinstance(change.subject, FloatingIP):
            return {n for v in (change.before, change.after) if v is not None
                    for n in (v.network_id, getattr(self.ports.get(v.port_id), "network_id",
                                                    None)) if n is not None}
        return {v.id if isinstance(v, Network) else v.network_id
                for v in (change.before, change.after) if v is not None}

    def put(self, item):
        """Add or replace a Network, Subnet, Port, QoSPolicy, Router or FloatingIP."""
        self._put[type(item)](item)

    def remove(self, item):
        self._remove[type(item)](item)

    @staticmethod
    def _put_by_id(table):
        return lambda item: table.__setitem__(item.id, item)

    @staticmethod
    def _remove_by_id(table):
        return lambda item: table.pop(item.id, None)

    def _put_qos_policy(self, policy):
        self.qos_policies[policy.id] = policy

    def _remove_qos_policy(self, policy):
        self.qos_policies.pop(policy.id, None)

    def _put_network(self, net):
        self._networks_as_given[net.id] = net
        self._refresh_network(net.id)

    def _remove_network(self, net):
        self._networks_as_given.pop(net.id, None)
        self.networks.pop(net.id, None)
        self._ports_by_net.pop(net.id, None)

    def _put_subnet(self, sub):
        self.subnets[sub.id] = sub
        self._refresh_network(sub.network_id)

    def _remove_subnet(self, sub):
        self.subnets.pop(sub.id, None)
        self._refresh_network(sub.network_id)

    def _put_port(self, port):
        old = self.ports.get(port.id)
        if old is not None:
            self._unindex(old)
        self.ports[port.id] = port
        self._ports_by_net.setdefault(port.network_id, {})[port.id] = port

    def _remove_port(self, port):
        port = self.ports.pop(port.id, None)
        if port is not None:
            self._unindex(port)

    def _unindex(self, port):
        self._ports_by_net.get(port.network_id, {}).pop(port.id, None)

    def _refresh_network(self, net_id):
        net = self._networks_as_given.get(net_id)
        if net is None:
            return
        dhcp = any(s.network_id == net_id and s.dhcp and s.ip_version == 4
                   for s in self.subnets.values())
        self.networks[net_id] = net if net.dhcp == dhcp else dataclasses.replace(net, dhcp=dhcp)

    def ports_on_network(self, net_id):
        return sorted(self._ports_by_net.get(net_id, {}).values(), key=lambda p: p.id)

    def policy_of(self, port):
        """The QoS policy that applies to ``port``: its own, else its network's."""
        if port.qos_policy_id is not None:
            return port.qos_policy_id
        net = self.networks.get(port.network_id)
        return net.qos_policy_id if net is not None else None

    def ports_with_policy(self, policy_id):
        """Ids of the ports ``policy_id`` applies to (their own, or their network's)."""
        return [p.id for p in self.ports.values() if self.policy_of(p) == policy_id]

    def limits_of(self, port):
        """The BandwidthLimits that apply to ``port`` (empty: none)."""
        policy = self.qos_policies.get(self.policy_of(port))
        return policy.bandwidth_limits if policy is not None else ()

    def groups_of(self, port):
        """The SecurityGroups of ``port`` that the model holds, in the port's order."""
        return tuple(self.security_groups[g] for g in port.security_groups
                     if g in self.security_groups)

    def ports_in_group(self, group_id):
        """Ids of the ports that list ``group_id`` among their security groups."""
        return [p.id for p in self.ports.values() if group_id in p.security_groups]

    def references_to(self, port):
        """{(group id, direction, ethertype)} of the rules that name a group of ``port`` as
        their remote group (apps/secgroups.py): where its addresses are looked for."""
        if not port.security_groups:
            return frozenset()
        return secgroups.references(self.security_groups.values(), port.security_groups)

    def inputs_of(self, port):
        """What a port's pieces read beyond the port itself (apps/pieces.py)."""
        return PortInputs(self.limits_of(port), self.groups_of(port), self.references_to(port))

    def dhcp_subnet(self, port):
        """The DHCP-enabled IPv4 subnet that holds ``port``'s first IPv4 address."""
        for sub in self.subnets.values():
            if sub.network_id == port.network_id and sub.dhcp and sub.ip_version == 4 and \
                    port.ipv4 and netaddr.IPAddress(port.ipv4[0]) in netaddr.IPNetwork(sub.cidr):
                return sub
        return None


@dataclasses.dataclass(frozen=True)
class PortInputs:
    """What the pieces of a port read from other resources: its bandwidth limits (QoS
    policy), its security groups (with their rules) and the rules that name them. Equal
    inputs: nothing to rebuild."""

    limits: tuple = ()
    groups: tuple = ()
    #: the ways rules look for it as a member of its groups (apps/model.py references_to)
    referenced: frozenset = frozenset()
    #: its addresses as they arrive through routers (apps/secgroups.py RoutedLeg); filled in
    #: by the overlay's desired state, which knows the routers (apps/incremental.py)
    legs: tuple = ()


@dataclasses.dataclass
class Placement:
    """Where things are: ``bound[port_id] = (chassis_id, ofport)``,
    ``tunnels[chassis_id][remote_chassis_id] = ofport of the tunnel port on chassis_id``, and
    ``tags[chassis_id]``: the tunnel tag other switches know it by (tunnel/mesh.py)."""

    bound: dict
    tunnels: dict
    tags: dict = dataclasses.field(default_factory=dict)

    def networks_on(self, chassis_id, model):
        """Networks with an admin-up port bound on ``chassis_id``: the ones it hosts."""
        nets = set()
        for port_id, (host, _) in self.bound.items():
            port = model.ports.get(port_id)
            if host == chassis_id and port is not None and port.network_id in model.networks \
                    and model.networks[port.network_id].admin_up:
                nets.add(port.network_id)
        return nets


def place(model, chassis):
    """Bind ports to interfaces by iface-id (and declared project: controller/binding.py), and
    map tunnel ports to the chassis they reach.

    ``chassis`` is an iterable of objects with ``system_id``, ``tunnel_ip`` and ``interfaces``
    (``name -> Interface(ofport, iface_id, type, remote_ip, project_id)``), as reported by the
    switches. An interface id reported by two chassis binds on the first in system-id order.
    """
    bound, tunnels, claims = {}, {}, {}
    chassis = sorted(chassis, key=lambda c: c.system_id)
    by_ip = {c.tunnel_ip: c.system_id for c in chassis if c.tunnel_ip}
    for ch in chassis:
        for iface in ch.interfaces.values():
            if not iface.ofport or iface.ofport < 0:
                continue
            if iface.type == "vxlan":
                remote = by_ip.get(iface.remote_ip)
                if remote is not None:
                    tunnels.setdefault(ch.system_id, {})[remote] = iface.ofport
                continue
            if iface.iface_id:
                binding.add_claim(claims, iface.iface_id, iface.project_id, ch.system_id,
                                  iface.ofport)
    for port in model.ports.values():
        holders, _ = binding.holders_of(port, claims)
        if holders:
            host = min(holders)
            bound[port.id] = (host, holders[host])
    return Placement(bound, tunnels, {c: tunnel_tag(ip) for ip, c in by_ip.items()})
