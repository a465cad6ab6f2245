"""The logical model as back-ends see it: typed values, and the one place that builds them.

The API speaks in Neutron's attribute names (``binding:profile``, ``provider:segmentation_id``,
``fixed_ips``, ...); a back-end should not have to. The core hands a plug-in these values instead
(``Change.before`` / ``Change.after``, and ``Core.logical_snapshot`` when it boots), so this module
is where API names stop: everything below ``rest/`` and ``controller/`` reads attributes of the
classes here, which carry only what switch programming needs, already validated and normalised.

They are frozen (a back-end may keep and share them, and equal values mean "nothing to redo")
and slotted (a back-end holds one per port: 100,000 of them in simulations/bench_scale.py).
A new resource (a router, a security group) is added the same way: a class here, a ``_from_api``
translator registered in ``FROM_API``, and its rows read in controller/snapshot.py. (This module
imports no database code: a back-end that only takes values does not load SQLAlchemy.)
"""
import dataclasses


# -- the values --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class Network:
    id: str
    vni: int
    mtu: int
    admin_up: bool
    qos_policy_id: str | None = None
    #: has at least one DHCP-enabled IPv4 subnet: the core reports a network without its
    #: subnets, so the back-end's model that holds them fills this in (dataclasses.replace)
    dhcp: bool = False
    #: ``router:external``: routers may have their gateway on it, floating IPs come from it
    external: bool = False
    #: a flat provider network's physical network (``provider:physical_network``): reached
    #: through the hypervisor's bridge mapping of that name instead of tunnels; None: VXLAN
    physical_network: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Subnet:
    id: str
    network_id: str
    ip_version: int
    cidr: str
    gateway: str | None
    dhcp: bool
    dns: tuple = ()              # name server addresses
    routes: tuple = ()           # ((destination cidr, next hop), ...) handed out by DHCP


@dataclasses.dataclass(frozen=True, slots=True)
class Binding:
    """The switch port an admin bound a port to (fabric mode binds by it; overlay mode binds
    by attachment and ignores it): a datapath id and a port number or name. ``invalid`` says
    why a binding that tries to name a switch port does not (fabric mode refuses the port)."""

    datapath_id: int | None = None
    port_number: int | None = None
    port_name: str | None = None
    invalid: str | None = None

    @property
    def switch_port(self):
        """(datapath id, port number or name), or None when it names no switch port."""
        if self.datapath_id is None or self.invalid is not None:
            return None
        return self.datapath_id, (self.port_number if self.port_number is not None
                                  else self.port_name)


UNBOUND = Binding()


@dataclasses.dataclass(frozen=True, slots=True)
class Port:
    id: str
    network_id: str
    mac: str
    ipv4: tuple                  # fixed addresses, in allocation order
    ipv6: tuple
    security: bool               # port security: only its own addresses may send
    pairs: tuple                 # allowed address pairs: ((mac, ip or cidr), ...)
    admin_up: bool
    attachment: str | None       # the interface plugged in (overlay mode binds by it)
    qos_policy_id: str | None = None
    #: not part of a port's equality: it says where a port goes, not which flows it needs
    #: (code that places ports compares it on its own)
    binding: Binding = dataclasses.field(default=UNBOUND, compare=False)
    #: a router's interface (device owner ``network:router...``): it may send IPv6 router
    #: advertisements and redirects, which port security drops from every other port
    router: bool = False
    #: the owner: an attachment binds only an interface declared for it (controller/binding.py)
    project_id: str | None = None
    #: ids of the SecurityGroups whose rules filter the port, sorted; always empty when port
    #: security is off. A port with security on and no group is filtered by no rule that
    #: allows anything (Neutron's rule: nothing in, nothing out); a router's interface
    #: (``router``) gets no group, as Neutron's trusted ``network:*`` ports.
    security_groups: tuple = ()


@dataclasses.dataclass(frozen=True, slots=True)
class BandwidthLimit:
    """A rate limit in one direction: ``egress`` (what the port's interface sends) or
    ``ingress``; ``max_burst_kbps`` 0 means the default burst (apps/meters.py)."""

    direction: str
    max_kbps: int
    max_burst_kbps: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class QoSPolicy:
    id: str
    bandwidth_limits: tuple = ()     # BandwidthLimit, at most one per direction, sorted


@dataclasses.dataclass(frozen=True, slots=True)
class SecurityGroupRule:
    """One allow rule of a security group (what no rule allows is dropped).

    ``direction`` "ingress" (to the group's ports) or "egress" (from them); ``ethertype``
    "IPv4" or "IPv6"; ``protocol`` an IP protocol number, None for any; ``port_min`` /
    ``port_max`` the destination port range for TCP, UDP, SCTP, DCCP and UDP-Lite (None: any
    port), and for ICMP (1) and ICMPv6 (58) the ICMP type and code (None: any); at most one of
    ``remote_prefix`` (a CIDR of the rule's family; None: anywhere), ``remote_group_id``
    (the addresses of that group's member ports) and ``remote_address_group_id`` (an address
    group: its CIDRs, resolved by the core into ``remote_addresses``, both families, sorted)
    says who the peer may be.
    """

    id: str
    direction: str
    ethertype: str
    protocol: int | None = None
    port_min: int | None = None
    port_max: int | None = None
    remote_prefix: str | None = None
    remote_group_id: str | None = None
    remote_address_group_id: str | None = None
    remote_addresses: tuple = ()


@dataclasses.dataclass(frozen=True, slots=True)
class SecurityGroup:
    """A project's firewall: its member ports are the Ports that list its id in
    ``security_groups``. ``stateful`` (Neutron's default): replies of an allowed connection
    pass without a rule of their own; a stateless group needs explicit rules both ways."""

    id: str
    project_id: str
    stateful: bool = True
    rules: tuple = ()            # SecurityGroupRule, sorted by id


@dataclasses.dataclass(frozen=True, slots=True)
class RouterInterface:
    """One address of a router on one subnet: the router's port there (a port with device
    owner ``network:router_interface``, or ``network:router_gateway`` for the gateway), its
    MAC, the address (the subnet's gateway when attached by subnet) and the subnet's CIDR."""

    port_id: str
    subnet_id: str
    network_id: str
    mac: str
    ip: str
    cidr: str


@dataclasses.dataclass(frozen=True, slots=True)
class Router:
    """A virtual router. ``zone`` is its own number 1..32767, unique among routers (its
    conntrack zone is derived from it); ``snat`` says whether traffic leaving through the
    gateway is source-NATed to the gateway address; ``interfaces`` are RouterInterfaces
    sorted by (subnet, port); ``gateway`` a RouterInterface on the external network or None;
    ``routes`` the extra routes ((destination cidr, next hop), ...)."""

    id: str
    project_id: str
    admin_up: bool
    zone: int
    snat: bool
    interfaces: tuple = ()
    gateway: RouterInterface | None = None
    routes: tuple = ()


@dataclasses.dataclass(frozen=True, slots=True)
class FloatingIP:
    """An address of an external network (``network_id``) that stands for ``fixed_ip`` of
    port ``port_id`` through router ``router_id`` (both None when not associated)."""

    id: str
    project_id: str
    router_id: str | None
    network_id: str
    floating_ip: str
    port_id: str | None = None
    fixed_ip: str | None = None


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Everything a back-end mirrors, read in one transaction (controller/snapshot.py)."""

    networks: tuple
    subnets: tuple
    ports: tuple
    qos_policies: tuple
    #: hosts where ports were last reported ACTIVE: who a restarted back-end should hear from
    active_hosts: frozenset
    routers: tuple = ()
    floating_ips: tuple = ()
    security_groups: tuple = ()


# -- building them -----------------------------------------------------------------------------
def make_port(id_, network_id, mac, ips, security, pairs, admin_up, attachment, qos_policy_id,
              profile, device_owner="", project_id=None, security_groups=()):
    """A Port from the values the API and the database hold (``ips`` in allocation order,
    ``pairs`` as {"mac_address", "ip_address"} records, ``profile`` the binding profile,
    ``security_groups`` group ids in any order)."""
    return Port(id_, network_id, mac, *by_version(ips), security,
                tuple((p["mac_address"], p["ip_address"]) for p in pairs), admin_up, attachment,
                qos_policy_id, binding_of(profile), is_router_owner(device_owner), project_id,
                tuple(sorted(security_groups)) if security else ())


ROUTER_INTERFACE = "network:router_interface"
ROUTER_GATEWAY = "network:router_gateway"


def make_router(id_, project_id, admin_up, zone, snat, routes, addresses):
    """A Router from its row's values (``routes`` as {"destination", "nexthop"} records) and
    ``addresses``: (port type, port id, subnet id, network id, mac, ip, cidr) of each address
    of its ports, the type ROUTER_INTERFACE or ROUTER_GATEWAY. The gateway is the gateway
    port's first IPv4 address (else its first address)."""
    interfaces, gateways = [], []
    for kind, port_id, subnet_id, network_id, mac, ip, cidr in addresses:
        (gateways if kind == ROUTER_GATEWAY else interfaces).append(
            RouterInterface(port_id, subnet_id, network_id, mac, ip, cidr))
    gateways.sort(key=lambda i: ":" in i.ip)
    return Router(id_, project_id, admin_up, zone, snat,
                  tuple(sorted(interfaces, key=lambda i: (i.subnet_id, i.port_id))),
                  gateways[0] if gateways else None, routes_of(routes))


def is_router_owner(device_owner):
    """Whether a port's ``device_owner`` makes it a router's interface (Neutron's
    ``network:router_interface``, ``network:router_gateway``, ``..._distributed``, ...)."""
    return (device_owner or "").startswith("network:router")


def by_version(ips):
    """(IPv4 addresses, IPv6 addresses) of validated ``ips``, each in the order given."""
    return tuple(i for i in ips if ":" not in i), tuple(i for i in ips if ":" in i)


def routes_of(records):
    """Host routes as ((destination cidr, next hop), ...) from {"destination", "nexthop"}
    records (API bodies and the subnets table hold the same records)."""
    return tuple((r["destination"], r["nexthop"]) for r in records)


def binding_of(profile):
    """The Binding a ``binding:profile`` asks for: ``datapath_id`` an integer or a hex string
    ("0000000000000001", "0x1"), with exactly one of ``port_number`` (a positive integer) and
    ``port_name``. A profile without ``datapath_id`` names no switch port."""
    if not profile or "datapath_id" not in profile:
        return UNBOUND
    raw = profile["datapath_id"]
    try:
        dpid = raw if isinstance(raw, int) and not isinstance(raw, bool) else int(str(raw), 16)
    except ValueError:
        return Binding(invalid=f"binding:profile datapath_id {raw!r} is not a datapath id "
                               "(an integer or a hex string)")
    if not 0 < dpid < 1 << 64:
        return Binding(invalid=f"binding:profile datapath_id {raw!r} is out of range")
    number, name = profile.get("port_number"), profile.get("port_name")
    if (number is None) == (name is None):
        return Binding(invalid="binding:profile with a datapath_id needs exactly one of "
                               "port_number and port_name")
    if number is not None:
        if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 0xFFFFFF00:
            return Binding(invalid=f"binding:profile port_number {number!r} is not a port number")
        return Binding(dpid, port_number=number)
    if not isinstance(name, str) or not name:
        return Binding(invalid=f"binding:profile port_name {name!r} is not a port name")
    return Binding(dpid, port_name=name)


def _network_from_api(body):
    return Network(body["id"], body["provider:segmentation_id"], body["mtu"],
                   body["admin_state_up"], body.get("qos_policy_id"),
                   external=body.get("router:external", False),
                   physical_network=body.get("provider:physical_network"))


def _subnet_from_api(body):
    return Subnet(body["id"], body["network_id"], body["ip_version"], body["cidr"],
                  body["gateway_ip"], body["enable_dhcp"], tuple(body["dns_nameservers"]),
                  routes_of(body["host_routes"]))


def _port_from_api(body):
    return make_port(body["id"], body["network_id"], body["mac_address"],
                     [i["ip_address"] for i in body["fixed_ips"]], body["port_security_enabled"],
                     body["allowed_address_pairs"], body["admin_state_up"], body["attachment"],
                     body.get("qos_policy_id"), body.get("binding:profile"),
                     body.get("device_owner", ""), body["project_id"],
                     body.get("security_groups", ()))


def limits_of_rules(rules):
    """BandwidthLimits, sorted by direction, from bandwidth limit rule records."""
    return tuple(sorted((BandwidthLimit(r["direction"], r["max_kbps"], r["max_burst_kbps"])
                         for r in rules), key=lambda r: r.direction))


def _qos_policy_from_api(body):
    return QoSPolicy(body["id"], limits_of_rules(body["rules"]))


#: IP protocol names a security group rule may give instead of a number (Neutron's names;
#: "icmpv6" is its legacy alias of "ipv6-icmp")
IP_PROTOCOLS = {
    "hopopt": 0, "icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17, "dccp": 33,
    "ipv6-encap": 41, "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47, "esp": 50,
    "ah": 51, "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ospf": 89,
    "pgm": 113, "vrrp": 112, "sctp": 132, "udplite": 136,
}


def protocol_number(protocol):
    """The IP protocol number of a rule's ``protocol`` (a name above, a number, or its text;
    None: any protocol)."""
    if protocol is None:
        return None
    text = str(protocol).lower()
    return IP_PROTOCOLS[text] if text in IP_PROTOCOLS else int(text)


def rules_of(records, addresses=None):
    """SecurityGroupRules, sorted by id, from security group rule records (API bodies);
    ``addresses``: address group id -> its CIDRs (an API body names an address group, not
    its addresses: the core resolves them; without, such a rule admits nothing)."""
    return tuple(SecurityGroupRule(
        r["id"], r["direction"], r["ethertype"], protocol_number(r["protocol"]),
        r["port_range_min"], r["port_range_max"], r["remote_ip_prefix"], r["remote_group_id"],
        r.get("remote_address_group_id"),
        tuple((addresses or {}).get(r.get("remote_address_group_id"), ())))
        for r in sorted(records, key=lambda r: r["id"]))


def _security_group_from_api(body):
    return SecurityGroup(body["id"], body["project_id"], body["stateful"],
                         rules_of(body["security_group_rules"]))


def _floating_ip_from_api(body):
    return FloatingIP(body["id"], body["project_id"], body["router_id"],
                      body["floating_network_id"], body["floating_ip_address"],
                      body["port_id"], body["fixed_ip_address"])


#: resource name (as in a Change) -> its translator from an API body (an admin's view)
FROM_API = {"network": _network_from_api, "subnet": _subnet_from_api, "port": _port_from_api,
            "interface": _port_from_api, "qos_policy": _qos_policy_from_api,
            "floating_ip": _floating_ip_from_api, "security_group": _security_group_from_api}
# A router's API body does not list its interfaces (they are ports): the core builds Router
# values itself (controller/routers.py) and hands them to every Change it makes.


def from_api(resource, body):
    """The typed value of an API body (None stays None)."""
    return None if body is None else FROM_API[resource](body)
