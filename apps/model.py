"""The OpenFlow back-end's view of the world, as plain values.

``LogicalModel`` mirrors the tenant model (networks, subnets, ports, QoS policies) from the core's
Change events;
``Placement`` says where ports are bound and which tunnel leads where, derived from what the
switches report (chassis). Both are what ``flows.compile_chassis`` needs, and nothing more.
"""
import dataclasses

import netaddr

from tunnel.mesh import tunnel_tag


@dataclasses.dataclass(frozen=True)
class NetworkView:
    id: str
    vni: int
    mtu: int
    admin_up: bool
    dhcp: bool           # has at least one DHCP-enabled IPv4 subnet
    qos_policy_id: str | None = None


@dataclasses.dataclass(frozen=True)
class PortView:
    id: str
    network_id: str
    mac: str
    ipv4: tuple
    ipv6: tuple
    security: bool
    pairs: tuple          # ((mac, ip or cidr), ...)
    admin_up: bool
    attachment: str | None
    qos_policy_id: str | None = None
    #: binding:profile (admin-set); fabric mode binds by its datapath_id and port name/number
    profile: dict = dataclasses.field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_dict(cls, p):
        ips = [i["ip_address"] for i in p["fixed_ips"]]
        return cls(id=p["id"], network_id=p["network_id"], mac=p["mac_address"],
                   ipv4=tuple(i for i in ips if netaddr.IPAddress(i).version == 4),
                   ipv6=tuple(i for i in ips if netaddr.IPAddress(i).version == 6),
                   security=p["port_security_enabled"],
                   pairs=tuple((a["mac_address"], a["ip_address"])
                               for a in p["allowed_address_pairs"]),
                   admin_up=p["admin_state_up"], attachment=p["attachment"],
                   profile=dict(p.get("binding:profile") or {}),
                   qos_policy_id=p.get("qos_policy_id"))


class LogicalModel:
    """Networks, subnets, ports and QoS policies by id, kept current from the core's changes."""

    def __init__(self):
        self.network_dicts, self.subnets, self.ports = {}, {}, {}
        #: policy id -> {direction: (max_kbps, max_burst_kbps)}
        self.qos_policies = {}
        self.networks = {}
        self._ports_by_net = {}
        self.by_attachment = {}
        #: chassis that had ACTIVE ports when the model was loaded from the database
        self.hosts_at_load = set()

    @classmethod
    def load(cls, core, ctx):
        model = cls()
        for net in core.networks.list(ctx)[0]:
            model.put("network", net)
        for sub in core.subnets.list(ctx)[0]:
            model.put("subnet", sub)
        for port in core.ports.list(ctx)[0]:
            model.put("port", port)
            if port["status"] == "ACTIVE" and port["binding:host_id"]:
                model.hosts_at_load.add(port["binding:host_id"])
        for policy in core.qos.list(ctx)[0]:
            model.put("qos_policy", policy)
        return model

    def apply(self, change):
        """Fold one core Change in; returns the ids of the networks it touches."""
        if change.resource == "interface":
            return set()
        if change.new is None:
            self.remove(change.resource, change.old)
        else:
            self.put(change.resource, change.new)
        if change.resource == "qos_policy":
            return {self.ports[p].network_id
                    for p in self.ports_with_policy(change.current["id"])}
        key = "id" if change.resource == "network" else "network_id"
        return {d[key] for d in (change.old, change.new) if d is not None}

    def put(self, resource, item):
        if resource == "qos_policy":
            self.qos_policies[item["id"]] = {
                r["direction"]: (r["max_kbps"], r["max_burst_kbps"]) for r in item["rules"]}
        elif resource == "network":
            self.network_dicts[item["id"]] = item
            self._refresh_network(item["id"])
        elif resource == "subnet":
            self.subnets[item["id"]] = item
            self._refresh_network(item["network_id"])
        elif resource == "port":
            old = self.ports.get(item["id"])
            if old is not None:
                self._unindex(old)
            port = PortView.from_dict(item)
            self.ports[port.id] = port
            self._ports_by_net.setdefault(port.network_id, {})[port.id] = port
            if port.attachment is not None:
                self.by_attachment[port.attachment] = port

    def remove(self, resource, item):
        if resource == "qos_policy":
            self.qos_policies.pop(item["id"], None)
        elif resource == "network":
            self.network_dicts.pop(item["id"], None)
            self.networks.pop(item["id"], None)
            self._ports_by_net.pop(item["id"], None)
        elif resource == "subnet":
            self.subnets.pop(item["id"], None)
            self._refresh_network(item["network_id"])
        elif resource == "port":
            port = self.ports.pop(item["id"], None)
            if port is not None:
                self._unindex(port)

    def _unindex(self, port):
        self._ports_by_net.get(port.network_id, {}).pop(port.id, None)
        if port.attachment is not None and self.by_attachment.get(port.attachment) is port:
            del self.by_attachment[port.attachment]

    def _refresh_network(self, net_id):
        net = self.network_dicts.get(net_id)
        if net is None:
            return
        dhcp = any(s["network_id"] == net_id and s["enable_dhcp"] and s["ip_version"] == 4
                   for s in self.subnets.values())
        self.networks[net_id] = NetworkView(net_id, net["provider:segmentation_id"], net["mtu"],
                                            net["admin_state_up"], dhcp,
                                            net.get("qos_policy_id"))

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
        """{direction: (max_kbps, max_burst_kbps)} that apply to ``port`` (empty: none)."""
        return self.qos_policies.get(self.policy_of(port), {})

    def dhcp_subnet(self, port):
        """The DHCP-enabled IPv4 subnet that holds ``port``'s first IPv4 address."""
        for sub in self.subnets.values():
            if sub["network_id"] == port.network_id and sub["enable_dhcp"] and \
                    sub["ip_version"] == 4 and port.ipv4 and \
                    netaddr.IPAddress(port.ipv4[0]) in netaddr.IPNetwork(sub["cidr"]):
                return sub
        return None


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
    """Bind ports to interfaces by iface-id, and map tunnel ports to the chassis they reach.

    ``chassis`` is an iterable of objects with ``system_id``, ``tunnel_ip`` and ``interfaces``
    (``name -> Interface(ofport, iface_id, type, remote_ip)``), as reported by the switches.
    An interface id reported by two chassis binds on the first in system-id order.
    """
    bound, tunnels = {}, {}
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
            port = model.by_attachment.get(iface.iface_id) if iface.iface_id else None
            if port is not None and port.id not in bound:
                bound[port.id] = (ch.system_id, iface.ofport)
    return Placement(bound, tunnels, {c: tunnel_tag(ip) for ip, c in by_ip.items()})
