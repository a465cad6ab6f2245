"""qnet: networks, subnets and ports of the qnet service, for tenants and operators.

    qnet network create dmz-net web-net db-net
    qnet subnet create --network web-net 10.0.2.0/24
    qnet port create --network web-net web-eth0
    qnet port attach web-eth0 nova.example.com/demo/server/web/eth0
    qnet router create r1 --external-gateway public
    qnet router add subnet r1 web-v4
    qnet floating ip create public --port web-eth0
    qnet network list -f json

Names are accepted wherever ids are (an ambiguous name is an error that lists the ids). Errors
print the server's message and exit with status 1; usage errors exit with 2.
"""
import argparse
import json
import sys

from qnetclient import errors
from qnetclient.client import Client
from qnetclient.output import FORMATS, cell, render_item, render_list
from qnetclient.settings import Settings

EPILOG = """connection (flag > environment > file):
  QNET_URL (default http://127.0.0.1:9696), QNET_TOKEN, QNET_PROJECT (noauth servers: the
  project to act as; admin tokens: the project to create in), QNET_ADMIN=1 (noauth: admin),
  QNET_CONFIG (default ~/.config/qnet/client.ini, [qnet] section with url/token/project)"""

LIST_COLUMNS = {
    "network": ("id", "name", "status", "subnets"),
    "subnet": ("id", "name", "network_id", "cidr", "gateway_ip"),
    "port": ("id", "name", "network_id", "mac_address", "fixed_ips", "status", "attachment"),
    "policy": ("id", "name", "shared", "description"),
    "rule": ("id", "direction", "max_kbps", "max_burst_kbps"),
    "security_group": ("id", "name", "stateful", "description"),
    "security_group_rule": ("id", "security_group_id", "direction", "ethertype", "protocol",
                            "port_range_min", "port_range_max", "remote_ip_prefix",
                            "remote_group_id", "remote_address_group_id"),
    "address_group": ("id", "name", "addresses", "description"),
    "router": ("id", "name", "status", "external_gateway_info", "routes"),
    "floatingip": ("id", "floating_ip_address", "fixed_ip_address", "port_id", "router_id"),
    "rbac_policy": ("id", "object_type", "object_id", "action", "target_tenant"),
}


# -- argument types -------------------------------------------------------------------------------
def key_values(text):
    """``a=1,b=2`` -> {"a": "1", "b": "2"}."""
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE[,KEY=VALUE], not '{text}'")
        out[key.strip()] = value.strip()
    return out


def pool(text):
    start, sep, end = text.partition("-")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected START-END, not '{text}'")
    return {"start": start.strip(), "end": end.strip()}


def filter_arg(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not '{text}'")
    return key, value


# -- command helpers -------------------------------------------------------------------------------
def set_if_given(attrs, args, **names):
    """attrs[api_name] = args.<dest> for every dest the user gave."""
    for api_name, dest in names.items():
        value = getattr(args, dest, None)
        if value is not None:
            attrs[api_name] = value
    return attrs


def filters(client, args):
    """The list filters a command was given: --name, --filter K=V, --network, --device-id."""
    out = dict(args.filter or ())
    set_if_given(out, args, name="name", device_id="device_id")
    if getattr(args, "network", None):
        out["network_id"] = client.networks.find(args.network)["id"]
    return out


# -- the verbs every collection shares (ARG is a name or an id) -----------------------------------
def lister(collection):
    return lambda client, args: getattr(client, collection).list(**filters(client, args))


def shower(collection):
    return lambda client, args: getattr(client, collection).find(args.ref)


def updater(collection, attrs):
    def update(client, args):
        resource = getattr(client, collection)
        return resource.update(resource.find(args.ref)["id"], **attrs(client, args))
    return update


def deleter(collection):
    def delete(client, args):
        resource = getattr(client, collection)
        for ref in args.refs:
            resource.delete(resource.find(ref)["id"])
    return delete


def fixed_ips(client, specs):
    """--fixed-ip 10.0.2.5 | ip_address=10.0.2.5 | subnet=web-v4[,ip_address=...]."""
    out = []
    for spec in specs:
        entry = {"ip_address": spec} if "=" not in spec else key_values(spec)
        subnet = entry.pop("subnet", None) or entry.pop("subnet_id", None)
        if subnet:
            entry["subnet_id"] = client.subnets.find(subnet)["id"]
        unknown = set(entry) - {"ip_address", "subnet_id"}
        if unknown:
            raise errors.BadRequest(f"--fixed-ip: unknown key(s) {', '.join(sorted(unknown))}")
        out.append(entry)
    return out


def address_pairs(specs):
    """--allowed-address IP[/LEN][,MAC]."""
    pairs = []
    for spec in specs:
        ip, _, mac = spec.partition(",")
        pairs.append({"ip_address": ip, **({"mac_address": mac} if mac else {})})
    return pairs


# -- networks --------------------------------------------------------------------------------------
def network_attrs(client, args):
    attrs = set_if_given({}, args, name="new_name", description="description", mtu="mtu",
                         shared="shared", admin_state_up="admin_state_up")
    set_if_given(attrs, args, **{"router:external": "external"})
    if getattr(args, "physical_network", None):
        attrs["provider:network_type"] = "flat"
        attrs["provider:physical_network"] = args.physical_network
    return qos_policy(client, args, attrs)


def network_create(client, args):
    attrs = network_attrs(client, args)
    return [client.networks.create(name=name, **attrs) for name in args.names]


# -- subnets ---------------------------------------------------------------------------------------
def subnet_attrs(client, args):
    attrs = set_if_given({}, args, name="new_name", description="description",
                         enable_dhcp="enable_dhcp", dns_nameservers="dns",
                         allocation_pools="pools")
    if args.gateway is not None:
        attrs["gateway_ip"] = None if args.gateway.lower() == "none" else args.gateway
    return attrs


def subnet_create(client, args):
    network = client.networks.find(args.network)
    attrs = set_if_given(subnet_attrs(client, args), args, ip_version="ip_version")
    return client.subnets.create(network_id=network["id"], cidr=args.cidr, **attrs)


# -- ports -----------------------------------------------------------------------------------------
def port_attrs(client, args):
    attrs = set_if_given({}, args, name="new_name", description="description",
                         mac_address="mac", device_id="device_id",
                         device_owner="device_owner", admin_state_up="admin_state_up",
                         port_security_enabled="port_security")
    if args.fixed_ips:
        attrs["fixed_ips"] = fixed_ips(client, args.fixed_ips)
    if args.allowed_addresses is not None:
        attrs["allowed_address_pairs"] = address_pairs(args.allowed_addresses)
    if args.no_security_groups or args.security_groups:
        attrs["security_groups"] = [client.security_groups.find(g)["id"]
                                    for g in args.security_groups or ()]
    return qos_policy(client, args, attrs)


def port_create(client, args):
    network = client.networks.find(args.network)
    attrs = set_if_given(port_attrs(client, args), args, attachment="attach")
    return client.ports.create(network_id=network["id"], **attrs)


def port_show(client, args):
    """A port, with the names of its effective security groups beside their ids (none when
    port security is off)."""
    port = client.ports.find(args.ref)
    port["security_group_names"] = [client.security_groups.get(g)["name"]
                                    for g in port.get("security_groups", ())]
    return port


def port_attach(client, args):
    return client.ports.attach(client.ports.find(args.ref)["id"], args.interface_id)


def port_detach(client, args):
    return client.ports.detach(client.ports.find(args.ref)["id"])


def port_stats(client, args):
    return client.ports.stats(client.ports.find(args.ref)["id"])


# -- routers and floating IPs ---------------------------------------------------------------------
def routes(specs):
    """--route destination=CIDR,gateway=IP (openstack's spelling; nexthop= too)."""
    out = []
    for spec in specs:
        entry = key_values(spec)
        hop = entry.pop("gateway", None) or entry.pop("nexthop", None)
        if set(entry) != {"destination"} or not hop:
            raise errors.BadRequest(f"--route: expected destination=CIDR,gateway=IP, not "
                                    f"'{spec}'")
        out.append({"destination": entry["destination"], "nexthop": hop})
    return out


def router_attrs(client, args):
    attrs = set_if_given({}, args, name="new_name", description="description",
                         admin_state_up="admin_state_up")
    gateway = args.external_gateway
    if gateway is not None and gateway.lower() == "none":
        attrs["external_gateway_info"] = None
    elif gateway is not None or args.snat is not None:
        if gateway is None:     # --snat/--no-snat alone: on the current gateway network
            current = client.routers.find(args.ref)["external_gateway_info"]
            if current is None:
                raise errors.BadRequest("--snat/--no-snat needs a gateway: give "
                                        "--external-gateway NETWORK")
            network_id = current["network_id"]
        else:
            network_id = client.networks.find(gateway)["id"]
        attrs["external_gateway_info"] = set_if_given({"network_id": network_id}, args,
                                                      enable_snat="snat")
    if getattr(args, "routes", None) is not None:
        attrs["routes"] = routes(args.routes)
    return attrs


def router_create(client, args):
    args.ref = None
    return client.routers.create(**router_attrs(client, args))


def router_interface(verb):
    def handle(client, args):
        router = client.routers.find(args.router)
        if args.interface == "subnet":
            ref = {"subnet_id": client.subnets.find(args.ref)["id"]}
        else:
            ref = {"port_id": client.ports.find(args.ref)["id"]}
        getattr(client.routers, f"{verb}_interface")(router["id"], **ref)
        return client.routers.get(router["id"])
    return handle


def floating_ip_attrs(client, args):
    attrs = set_if_given({}, args, description="description", fixed_ip_address="fixed_ip")
    if args.port is not None:
        attrs["port_id"] = (None if args.port.lower() == "none"
                            else client.ports.find(args.port)["id"])
    return attrs


def floating_ip_create(client, args):
    network = client.networks.find(args.network)
    attrs = set_if_given(floating_ip_attrs(client, args), args,
                         floating_ip_address="address")
    return client.floating_ips.create(floating_network_id=network["id"], **attrs)


# -- QoS -------------------------------------------------------------------------------------------
def qos_policy(client, args, attrs):
    """--qos-policy NAME|ID|none -> attrs["qos_policy_id"]."""
    if args.qos_policy is not None:
        attrs["qos_policy_id"] = (None if args.qos_policy.lower() == "none"
                                  else client.qos_policies.find(args.qos_policy)["id"])
    return attrs


def policy_attrs(client, args):
    return set_if_given({}, args, name="new_name", description="description", shared="shared")


def policy_create(client, args):
    return client.qos_policies.create(**policy_attrs(client, args))


def rules_of(client, args):
    return client.qos_rules(client.qos_policies.find(args.policy)["id"])


def rule_create(client, args):
    return rules_of(client, args).create(**set_if_given(
        {}, args, max_kbps="max_kbps", max_burst_kbps="max_burst_kbps", direction="direction"))


def rule_list(client, args):
    return rules_of(client, args).list()


def rule_delete(client, args):
    rules = rules_of(client, args)
    for rule_id in args.rules:
        rules.delete(rule_id)


# -- security groups -------------------------------------------------------------------------------
def group_attrs(client, args):
    return set_if_given({}, args, name="new_name", description="description",
                        stateful="stateful")


def group_create(client, args):
    return client.security_groups.create(**group_attrs(client, args))


def port_range(text):
    """``80`` or ``8000:8080`` -> (first, last)."""
    first, _, last = text.partition(":")
    try:
        return int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PORT or FIRST:LAST, not '{text}'")


def group_rule_create(client, args):
    attrs = set_if_given({"direction": args.direction}, args, ethertype="ethertype",
                         protocol="protocol", remote_ip_prefix="remote_ip",
                         description="description", port_range_min="icmp_type",
                         port_range_max="icmp_code")
    if args.dst_port is not None:
        attrs["port_range_min"], attrs["port_range_max"] = args.dst_port
    if args.remote_group is not None:
        attrs["remote_group_id"] = client.security_groups.find(args.remote_group)["id"]
    if args.remote_address_group is not None:
        attrs["remote_address_group_id"] = client.address_groups.find(
            args.remote_address_group)["id"]
    group = client.security_groups.find(args.group)
    return client.security_group_rules.create(security_group_id=group["id"], **attrs)


def group_rule_list(client, args):
    filters = {}
    if args.group:
        filters["security_group_id"] = client.security_groups.find(args.group)["id"]
    return client.security_group_rules.list(**filters)


def group_rule_delete(client, args):
    for rule_id in args.rules:
        client.security_group_rules.delete(rule_id)


# -- address groups --------------------------------------------------------------------------------
def address_group_attrs(client, args):
    return set_if_given({}, args, name="new_name", description="description")


def address_group_create(client, args):
    return client.address_groups.create(addresses=args.addresses or [],
                                        **address_group_attrs(client, args))


def address_group_change(verb):
    def handler(client, args):
        group = client.address_groups.find(args.ref)
        return getattr(client.address_groups, f"{verb}_addresses")(group["id"], args.addresses)
    return handler


# -- RBAC policies ---------------------------------------------------------------------------------
#: what ``--type`` names, and the client collection its objects are found in
RBAC_TYPES = {"network": "networks", "qos_policy": "qos_policies",
              "address_group": "address_groups"}


def rbac_create(client, args):
    found = getattr(client, RBAC_TYPES[args.type]).find(args.object)
    return client.rbac_policies.create(object_type=args.type, object_id=found["id"],
                                       action=args.action, target_tenant=args.target_project)


def rbac_list(client, args):
    return client.rbac_policies.list(**set_if_given({}, args, object_type="type",
                                                    action="action"))


def rbac_show(client, args):
    return client.rbac_policies.get(args.id)


def rbac_delete(client, args):
    for id_ in args.ids:
        client.rbac_policies.delete(id_)


# -- topology --------------------------------------------------------------------------------------
def topology(client, args):
    return client.topology()


def print_topology(body, args):
    """Each list of records as its own table (switches, links, ...); anything else as k: v."""
    if args.format == "json" or not isinstance(body, dict):
        print(json.dumps(body, indent=2))
        return
    for key, value in body.items():
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(k for v in value for k in v))
            print(f"{key} ({len(value)})")
            if value:
                print(render_list(value, args.format, columns))
            print()
        else:
            print(f"{key}: {cell(value)}")


# -- trace ---------------------------------------------------------------------------------------
def trace(client, args):
    port = client.ports.find(args.ref)
    return client.trace(port["id"], args.to, live=args.live, protocol=args.proto,
                        dport=args.dport, src_ip=args.src_ip, src_mac=args.src_mac)


def print_trace(body, args):
    """Each packet's steps (switch, table, stage, flow, reason), then the verdicts and, with
    --live, the drift between what the switches hold and what they should."""
    if args.format == "json":
        print(json.dumps(body, indent=2))
        return
    for phase in body["phases"]:
        print(f"packet: {phase['packet']}")
        for step in phase["steps"]:
            table = "" if step["table"] is None else step["table"]
            held = {True: "", False: "  [NOT ON THE SWITCH]", None: ""}[step.get("held")]
            print(f"  {step['hypervisor']:<8} {table:>3} {step['stage']:<14} {step['flow']}"
                  f"{held}")
            print(f"  {'':<8} {'':>3} {'':<14} why: {step['reason']}")
        if phase.get("answer"):
            print(f"  ARP answer: {phase['answer']}")
    for line in body["summary"]:
        print(f"verdict: {line}")
    for drift in body.get("drift", ()):
        if not drift["connected"]:
            print(f"live: {drift['hypervisor']} is not connected")
            continue
        state = "in sync" if not drift["missing"] and not drift["extra"] else \
            f"{len(drift['missing'])} flow(s) missing, {drift['extra']} extra"
        print(f"live: {drift['hypervisor']}: {state}")
        for flow in drift["missing"]:
            print(f"  missing in {flow['stage']}: {flow['flow']}\n    why: {flow['reason']}")


# -- parser ----------------------------------------------------------------------------------------
def connection_options(parser, default):
    """Connection and output options; on the top-level parser and on every command, so they
    may come before or after the command (``default=SUPPRESS`` keeps either from erasing
    the other)."""
    g = parser.add_argument_group("connection and output")
    g.add_argument("--url", default=default, help="qnet API (env QNET_URL)")
    g.add_argument("--token", default=default, help="API token (env QNET_TOKEN)")
    g.add_argument("--project", default=default,
                   help="noauth: the project to act as; admin token: the project to "
                        "create in and list from (env QNET_PROJECT)")
    g.add_argument("--admin", action="store_const", const=True, default=default,
                   help="noauth servers: act as admin (env QNET_ADMIN=1)")
    g.add_argument("--config", default=default, metavar="FILE",
                   help="client INI file (env QNET_CONFIG)")
    g.add_argument("-f", "--format", choices=FORMATS, default=default,
                   help="output format (default: table)")
    g.add_argument("-c", "--column", dest="columns", action="append", default=default,
                   metavar="COLUMN", help="show only this column (repeatable)")


class Commands:
    """Builds the subcommand tree; each leaf knows its handler and how to print its result."""

    def __init__(self, sub):
        self.sub = sub

    def leaf(self, group, name, handler, help, output="item", description=None):
        p = group.add_parser(name, help=help, description=description or help,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        connection_options(p, argparse.SUPPRESS)
        p.set_defaults(handler=handler, output=output, kind=getattr(group, "kind", None))
        return p

    def group(self, name, help, kind=None, parent=None):
        """A command with actions; ``kind`` (a LIST_COLUMNS key) says how its tables look."""
        p = (parent or self.sub).add_parser(name, help=help, description=help)
        group = p.add_subparsers(dest=f"{name}_action", required=True, metavar="ACTION")
        group.kind = kind or name
        return group

    def standard(self, group, collection, label, helps, attrs, options, noun=None,
                 update="update", show=None):
        """list, show, update and delete: the same for every collection. ``helps``: the
        show/update/delete help texts; ``options(parser)`` adds the settable attributes;
        ``show`` a handler of its own for show. Returns the list parser, for
        collection-specific filters."""
        show_help, _, delete = helps
        noun = noun or collection
        lst = self.leaf(group, "list", lister(collection), f"list the {noun} you can see",
                        output="list", description=f"List the {noun} you can see, all "
                        "pages (filters narrow the list; -f json gives whole objects).")
        lst.add_argument("--name", help=f"only {noun} with this name")
        lst.add_argument("--filter", action="append", type=filter_arg, metavar="KEY=VALUE",
                         help="any API filter, e.g. --filter shared=true (repeatable)")
        p = self.leaf(group, "show", show or shower(collection), show_help)
        p.add_argument("ref", metavar=label, help="name or id")
        p = self.leaf(group, update, updater(collection, attrs), helps[1])
        p.add_argument("ref", metavar=label, help="name or id")
        options(p, create=False)
        p = self.leaf(group, "delete", deleter(collection), delete, output=None)
        p.add_argument("refs", nargs="+", metavar=label, help="name or id")
        return lst


def shared_options(p):
    share = p.add_mutually_exclusive_group()
    share.add_argument("--shared", dest="shared", action="store_const", const=True,
                       help="usable by every project (admin only)")
    share.add_argument("--no-shared", dest="shared", action="store_const", const=False,
                       help="only the owner's project may use it (default)")


def enable_options(p, what):
    state = p.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="admin_state_up", action="store_const", const=True,
                       help=f"administratively up: the {what} carries traffic")
    state.add_argument("--disable", dest="admin_state_up", action="store_const", const=False,
                       help=f"administratively down: the {what} carries no traffic")


def add_network_commands(c):
    g = c.group("network", "isolated L2 networks")
    p = c.leaf(g, "create", network_create, "create one network per name",
               output="items", description="Create one network per name, e.g. the seed's "
               "`qnet network create dmz-net web-net db-net`.")
    p.add_argument("names", nargs="+", metavar="NAME", help="one network per name")
    network_options(p, create=True)
    c.standard(g, "networks", "NETWORK", (
        "show one network (its VNI too, for admins)",
        "change a network's name, MTU, sharing, state",
        "delete networks (they must have no ports)"), network_attrs, network_options)
    add_rbac_commands(c, g)


def add_rbac_commands(c, network_group):
    r = c.group("rbac", "share networks, QoS policies and address groups with some projects "
                "(RBAC policies)", kind="rbac_policy", parent=network_group)
    p = c.leaf(r, "create", rbac_create,
               "let a project use a network, QoS policy or address group of yours",
               description="Let TARGET_PROJECT use OBJECT: access_as_shared (see it, put "
               "ports on it / attach the QoS policy / name the address group in its security "
               "group rules) or access_as_external (admin only: a network for its routers' "
               "gateways and floating IPs). '*' (admin only) is every project, what shared / "
               "router:external say.")
    p.add_argument("object", metavar="OBJECT",
                   help="network, QoS policy or address group (name or id)")
    p.add_argument("--target-project", required=True, metavar="PROJECT",
                   help="project id, or '*' for every project")
    p.add_argument("--action", default="access_as_shared",
                   choices=("access_as_shared", "access_as_external"),
                   help="default access_as_shared")
    p.add_argument("--type", default="network", choices=tuple(RBAC_TYPES),
                   help="what OBJECT is (default network)")
    p = c.leaf(r, "list", rbac_list, "list the RBAC policies of your objects", output="list")
    p.add_argument("--type", choices=tuple(RBAC_TYPES), help="only of this kind")
    p.add_argument("--action", choices=("access_as_shared", "access_as_external"),
                   help="only this action")
    p = c.leaf(r, "show", rbac_show, "show one RBAC policy")
    p.add_argument("id", metavar="RBAC_POLICY_ID", help="the entry's id")
    p = c.leaf(r, "delete", rbac_delete, "delete RBAC policies (409 while a project of "
               "theirs still uses what they open)", output=None)
    p.add_argument("ids", nargs="+", metavar="RBAC_POLICY_ID", help="the entries' ids")


def network_options(p, create):
    if not create:
        p.add_argument("--name", dest="new_name", help="new name")
    p.add_argument("--description", help="free text")
    p.add_argument("--mtu", type=int, help="default 1450 (room for VXLAN)")
    shared_options(p)
    external = p.add_mutually_exclusive_group()
    external.add_argument("--external", dest="external", action="store_const", const=True,
                          help="routers' gateways and floating IPs come from it (admin only)")
    external.add_argument("--internal", dest="external", action="store_const", const=False,
                          help="not external (default)")
    if create:
        p.add_argument("--physical-network", metavar="NAME",
                       help="a flat network on this physical network (the name in the "
                            "hypervisors' bridge mappings; admin only)")
    enable_options(p, "network")
    qos_option(p, "the network's ports that name none")


def add_subnet_commands(c):
    g = c.group("subnet", "address ranges of networks (IPAM)")
    p = c.leaf(g, "create", subnet_create, "add an IPv4 or IPv6 range to a network")
    p.add_argument("cidr", metavar="CIDR", help="e.g. 10.0.2.0/24 or 2001:db8::/64")
    p.add_argument("--network", required=True, help="name or id")
    p.add_argument("--ip-version", type=int, choices=(4, 6), help="default: from the CIDR")
    subnet_options(p, create=True)
    lst = c.standard(g, "subnets", "SUBNET", (
        "show one subnet with its pools and gateway",
        "change a subnet's name, gateway, DHCP, DNS, pools",
        "delete subnets (no port may hold an address)"), subnet_attrs, subnet_options)
    lst.add_argument("--network", help="only the subnets of this network (name or id)")


def subnet_options(p, create):
    p.add_argument("--name", dest="new_name", help="name" if create else "new name")
    p.add_argument("--description", help="free text")
    p.add_argument("--gateway", metavar="IP|none",
                   help="gateway address (default: the first host), or none")
    dhcp = p.add_mutually_exclusive_group()
    dhcp.add_argument("--dhcp", dest="enable_dhcp", action="store_const", const=True,
                      help="the controller answers DHCP (default)")
    dhcp.add_argument("--no-dhcp", dest="enable_dhcp", action="store_const", const=False,
                      help="addresses are configured by other means")
    p.add_argument("--dns", action="append", metavar="IP", help="DNS server (repeatable)")
    p.add_argument("--pool", dest="pools", action="append", type=pool, metavar="START-END",
                   help="allocation pool, e.g. 10.0.2.100-10.0.2.199 (repeatable)")


def add_port_commands(c):
    g = c.group("port", "places on networks where interfaces plug in")
    p = c.leaf(g, "create", port_create, "create a port on a network")
    p.add_argument("new_name", nargs="?", metavar="NAME", help="the port's name (optional)")
    p.add_argument("--network", required=True, help="name or id")
    p.add_argument("--attach", metavar="INTERFACE_ID",
                   help="plug this interface in at once (iface-id on the hypervisor)")
    port_options(p, create=True)
    lst = c.standard(g, "ports", "PORT", (
        "show one port: addresses, attachment, status, security groups",
        "change a port's addresses, security, state, ...",
        "delete ports"), port_attrs, port_options, show=port_show)
    lst.add_argument("--network", help="only ports on this network (name or id)")
    lst.add_argument("--device-id", help="only ports of this device (e.g. a server)")
    p = c.leaf(g, "attach", port_attach, "plug an interface into a port",
               description="Plug an interface into a port. The hypervisor names the same "
               "id in the interface's external_ids:iface-id; the port goes ACTIVE once "
               "bound. An interface is plugged into at most one port (409 otherwise).")
    p.add_argument("ref", metavar="PORT", help="name or id")
    p.add_argument("interface_id", metavar="INTERFACE_ID",
                   help="e.g. nova.example.com/demo/server/web/eth0")
    p = c.leaf(g, "detach", port_detach, "unplug the interface from a port")
    p.add_argument("ref", metavar="PORT", help="name or id")
    p = c.leaf(g, "stats", port_stats, "the back-end's counters of a port (QoS meters)",
               description="The back-end's counters of a port, e.g. the packets and bytes "
               "its bandwidth-limit meters passed and dropped (HTTP 501 from back-ends "
               "that keep none).")
    p.add_argument("ref", metavar="PORT", help="name or id")


def port_options(p, create):
    if not create:
        p.add_argument("--name", dest="new_name", help="new name")
    p.add_argument("--description", help="free text")
    p.add_argument("--fixed-ip", dest="fixed_ips", action="append",
                   metavar="IP|subnet=SUBNET[,ip_address=IP]",
                   help="address or subnet to take one from (repeatable)")
    p.add_argument("--mac", help="MAC address (default: allocated)")
    p.add_argument("--device-id", help="what uses the port, e.g. a server id")
    p.add_argument("--device-owner", help="e.g. compute:nova")
    sec = p.add_mutually_exclusive_group()
    sec.add_argument("--port-security", dest="port_security", action="store_const", const=True,
                     help="send only from the port's MAC and IPs (default)")
    sec.add_argument("--no-port-security", dest="port_security", action="store_const",
                     const=False, help="let the port send from any address")
    p.add_argument("--allowed-address", dest="allowed_addresses", action="append",
                   metavar="IP[/LEN][,MAC]",
                   help="extra address the port may send from, e.g. a VRRP address "
                        "(repeatable; replaces the list on update)")
    enable_options(p, "port")
    qos_option(p, "the port (none: its network's policy applies)")
    p.add_argument("--security-group", dest="security_groups", action="append",
                   metavar="GROUP", help="security group (name or id; repeatable; replaces "
                   "the port's groups on update). Default on create: the project's 'default' "
                   "group, or none when port security is off")
    p.add_argument("--no-security-group", dest="no_security_groups", action="store_true",
                   help="no security group (with --security-group: only those given)")


def add_router_commands(c):
    g = c.group("router", "virtual routers between your subnets and out to external networks")
    p = c.leaf(g, "create", router_create, "create a router")
    p.add_argument("new_name", nargs="?", metavar="NAME", help="the router's name (optional)")
    router_options(p, create=True)
    c.standard(g, "routers", "ROUTER", (
        "show one router: gateway, routes",
        "change a router's name, gateway, SNAT, routes, state",
        "delete routers (detach their subnets first)"), router_attrs, router_options,
        update="set")
    for verb, help in (("add", "attach a subnet (the router takes its gateway address) or "
                               "a free port"),
                       ("remove", "detach a subnet or port (its router port is deleted)")):
        kinds = g.add_parser(verb, help=help, description=help).add_subparsers(
            dest="interface", required=True, metavar="subnet|port")
        for kind in ("subnet", "port"):
            p = c.leaf(kinds, kind, router_interface(verb), INTERFACE_HELP[verb, kind])
            p.add_argument("router", metavar="ROUTER", help="name or id")
            p.add_argument("ref", metavar=kind.upper(), help="name or id")


INTERFACE_HELP = {
    ("add", "subnet"): "attach a subnet: the router takes its gateway address",
    ("add", "port"): "attach a free port: its address becomes the router's on its subnet",
    ("remove", "subnet"): "detach a subnet (the router's port on it is deleted)",
    ("remove", "port"): "detach a port (the port is deleted)",
}


def router_options(p, create):
    if not create:
        p.add_argument("--name", dest="new_name", help="new name")
    p.add_argument("--description", help="free text")
    p.add_argument("--external-gateway", metavar="NETWORK|none",
                   help="the external network the router's gateway is on (none: no gateway)")
    snat = p.add_mutually_exclusive_group()
    snat.add_argument("--snat", dest="snat", action="store_const", const=True,
                      help="traffic leaving takes the gateway's address (default)")
    snat.add_argument("--no-snat", dest="snat", action="store_const", const=False,
                      help="traffic leaves with its own addresses (admin only)")
    if not create:
        p.add_argument("--route", dest="routes", action="append",
                       metavar="destination=CIDR,gateway=IP",
                       help="extra route (repeatable; replaces the list)")
        p.add_argument("--no-route", dest="routes", action="store_const", const=[],
                       help="remove every extra route")
    enable_options(p, "router")


def add_floating_ip_commands(c):
    floating = c.sub.add_parser("floating", help="floating IPs: external addresses that stand "
                                "for a port's", description="Floating IPs: an external "
                                "network's address that stands for a port's fixed address, "
                                "through a router with its gateway on that network and an "
                                "interface on the port's subnet.")
    kinds = floating.add_subparsers(dest="floating_kind", required=True, metavar="KIND")
    g = c.group("ip", "floating IPs", kind="floatingip", parent=kinds)
    p = c.leaf(g, "create", floating_ip_create, "take an address of an external network")
    p.add_argument("network", metavar="EXTERNAL_NETWORK", help="name or id")
    p.add_argument("--address", help="this address (admin only)")
    floating_ip_options(p, create=True)
    c.standard(g, "floating_ips", "FLOATING_IP", (
        "show one floating IP (by id or address)",
        "point a floating IP at a port (--port PORT) or at nothing (--port none)",
        "release floating IPs"), floating_ip_attrs, floating_ip_options,
        noun="floating IPs", update="set")


def floating_ip_options(p, create):
    p.add_argument("--description", help="free text")
    p.add_argument("--port", metavar="PORT" if create else "PORT|none",
                   help="the port it stands for (name or id)")
    p.add_argument("--fixed-ip", metavar="IP",
                   help="which of the port's addresses (when it has several)")


def qos_option(p, what):
    p.add_argument("--qos-policy", metavar="POLICY|none",
                   help=f"QoS policy (name or id) that limits {what}")


def add_security_commands(c):
    sec = c.sub.add_parser("security", help="security groups: stateful per-port firewalls",
                           description="Security groups: a port gets what the allow rules "
                           "of its groups allow, nothing else. Every project has a 'default' "
                           "group (its members reach each other, all may send anywhere), "
                           "given to new ports that name none.")
    kinds = sec.add_subparsers(dest="security_kind", required=True, metavar="KIND")
    g = c.group("group", "security groups and their rules", kind="security_group",
                parent=kinds)
    p = c.leaf(g, "create", group_create, "create a security group (it may send anywhere and "
               "admits nothing until you add ingress rules)")
    p.add_argument("new_name", metavar="NAME", help="the group's name")
    group_options(p, create=True)
    c.standard(g, "security_groups", "GROUP", (
        "show one security group with its rules",
        "change a group's name, description, statefulness",
        "delete security groups (no port may use them)"), group_attrs, group_options,
        noun="security groups")
    r = c.group("rule", "allow rules of security groups", kind="security_group_rule",
                parent=g)
    p = c.leaf(r, "create", group_rule_create, "add an allow rule to a security group")
    p.add_argument("group", metavar="GROUP", help="name or id")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--ingress", dest="direction", action="store_const", const="ingress",
                     help="traffic to the group's ports (default)")
    way.add_argument("--egress", dest="direction", action="store_const", const="egress",
                     help="traffic from the group's ports")
    p.set_defaults(direction="ingress")
    p.add_argument("--ethertype", choices=("IPv4", "IPv6"), help="default IPv4")
    p.add_argument("--protocol", help="tcp, udp, icmp, ipv6-icmp, ... or a number "
                   "(default: any)")
    p.add_argument("--dst-port", type=port_range, metavar="PORT[:LAST]",
                   help="destination port or range (tcp, udp, sctp, ...)")
    p.add_argument("--icmp-type", type=int, help="ICMP type (icmp, ipv6-icmp)")
    p.add_argument("--icmp-code", type=int, help="ICMP code (with --icmp-type)")
    peer = p.add_mutually_exclusive_group()
    peer.add_argument("--remote-ip", metavar="CIDR", help="peers' addresses (default: any)")
    peer.add_argument("--remote-group", metavar="GROUP",
                      help="peers: the ports of this group (name or id)")
    peer.add_argument("--remote-address-group", metavar="ADDRESS_GROUP",
                      help="peers: the CIDRs of this address group (name or id), as they are "
                           "at any time")
    p.add_argument("--description", help="free text")
    p = c.leaf(r, "list", group_rule_list, "list rules (of one group, or all you can see)",
               output="list")
    p.add_argument("group", nargs="?", metavar="GROUP", help="name or id")
    p = c.leaf(r, "delete", group_rule_delete, "delete rules", output=None)
    p.add_argument("rules", nargs="+", metavar="RULE_ID", help="the rule's id")


def add_address_commands(c):
    address = c.sub.add_parser("address", help="address groups: named sets of CIDRs that "
                               "security group rules name", description="Address groups: "
                               "named sets of CIDRs; a security group rule naming one "
                               "(--remote-address-group) admits (or reaches) what it holds, "
                               "following its changes.")
    kinds = address.add_subparsers(dest="address_kind", required=True, metavar="KIND")
    g = c.group("group", "address groups", kind="address_group", parent=kinds)
    p = c.leaf(g, "create", address_group_create, "create an address group")
    p.add_argument("new_name", metavar="NAME", help="the address group's name")
    p.add_argument("--address", dest="addresses", action="append", metavar="CIDR",
                   help="an address or CIDR (repeatable)")
    address_group_options(p, create=True)
    c.standard(g, "address_groups", "ADDRESS_GROUP", (
        "show one address group and its CIDRs",
        "change an address group's name or description",
        "delete address groups (no rule may name them)"), address_group_attrs,
        address_group_options, noun="address groups")
    for verb, help in (("add", "add CIDRs to an address group"),
                       ("remove", "remove CIDRs from an address group")):
        p = c.leaf(g, verb, address_group_change(verb), help)
        p.add_argument("ref", metavar="ADDRESS_GROUP", help="name or id")
        p.add_argument("addresses", nargs="+", metavar="CIDR", help="an address or CIDR")


def address_group_options(p, create):
    if not create:
        p.add_argument("--name", dest="new_name", help="new name")
    p.add_argument("--description", help="free text")


def group_options(p, create):
    if not create:
        p.add_argument("--name", dest="new_name", help="new name")
    p.add_argument("--description", help="free text")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--stateful", dest="stateful", action="store_const", const=True,
                       help="replies of allowed connections pass (default)")
    state.add_argument("--stateless", dest="stateful", action="store_const", const=False,
                       help="no connection tracking: replies need rules of their own")


def add_qos_commands(c):
    qos = c.sub.add_parser("qos", help="bandwidth limits: QoS policies and their rules",
                           description="Bandwidth limits: a QoS policy holds at most one "
                           "bandwidth limit rule per direction; ports and networks name it "
                           "with --qos-policy.")
    kinds = qos.add_subparsers(dest="qos_kind", required=True, metavar="KIND")
    g = c.group("policy", "QoS policies", kind="policy", parent=kinds)
    p = c.leaf(g, "create", policy_create, "create a QoS policy (add rules to it next)")
    p.add_argument("new_name", metavar="NAME", help="the policy's name")
    policy_options(p, create=True)
    c.standard(g, "qos_policies", "POLICY", (
        "show one policy with its rules",
        "change a policy's name, description, sharing",
        "delete policies (no port or network may name them)"), policy_attrs, policy_options,
        noun="QoS policies")
    g = c.group("rule", "bandwidth limit rules of a QoS policy", kind="rule", parent=kinds)
    p = c.leaf(g, "create", rule_create, "add a bandwidth limit to a policy (one per "
               "direction)")
    p.add_argument("policy", metavar="POLICY", help="name or id")
    p.add_argument("--max-kbps", type=int, required=True, help="rate limit in kbit/s")
    p.add_argument("--max-burst-kbps", type=int,
                   help="burst in kbit (default 0: the server picks one TCP can live with)")
    p.add_argument("--direction", choices=("egress", "ingress"),
                   help="egress (default): what the port's interface sends; ingress: what "
                        "it receives")
    p = c.leaf(g, "list", rule_list, "list a policy's rules", output="list")
    p.add_argument("policy", metavar="POLICY", help="name or id")
    p = c.leaf(g, "delete", rule_delete, "delete rules of a policy", output=None)
    p.add_argument("policy", metavar="POLICY", help="name or id")
    p.add_argument("rules", nargs="+", metavar="RULE_ID", help="the rule's id")


def add_trace_command(c, sub):
    p = c.leaf(sub, "trace", trace, "why a packet from a port gets where it gets",
               output="trace", description="Trace a packet from one of your ports through "
               "the flows the controller computed for its hypervisor, across the tunnel and "
               "through the destination's, stage by stage, with the logical reason of each "
               "flow, and the verdict: delivered to port X, or dropped at stage Y because Z. "
               "To an IPv4 address, the MAC is resolved by ARP first, as the VM would.")
    p.add_argument("ref", metavar="PORT", help="name or id of the source port")
    p.add_argument("--to", required=True, metavar="IP|MAC", help="the destination")
    p.add_argument("--proto", metavar="tcp|udp|icmp|N", help="IP protocol (default: icmp echo)")
    p.add_argument("--dport", type=int, help="destination port (tcp/udp)")
    p.add_argument("--src-ip", help="send from this address instead of the port's own")
    p.add_argument("--src-mac", help="send from this MAC instead of the port's own")
    p.add_argument("--live", action="store_true",
                   help="also read the flows back from the switches (by cookie) and report "
                        "drift from what they should hold")


def policy_options(p, create):
    if not create:
        p.add_argument("--name", dest="new_name", help="new name")
    p.add_argument("--description", help="free text")
    shared_options(p)


def build_parser(prog="qnet", extra=None):
    """``extra``: {name: help} of commands another program handles (``qnet serve``),
    listed so that ``qnet --help`` shows them."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    connection_options(parser, None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    c = Commands(sub)
    add_network_commands(c)
    add_subnet_commands(c)
    add_port_commands(c)
    add_qos_commands(c)
    add_security_commands(c)
    add_address_commands(c)
    add_router_commands(c)
    add_floating_ip_commands(c)
    c.leaf(sub, "topology", topology, "the fabric's switches and links (admins)",
           output="topology")
    add_trace_command(c, sub)
    for name, help in (extra or {}).items():
        sub.add_parser(name, help=help, add_help=False)
    return parser


def emit(result, args):
    fmt = args.format or "table"
    if args.output == "list" or (args.output == "items" and len(result) > 1):
        print(render_list(result, fmt, LIST_COLUMNS[args.kind], args.columns))
    elif args.output == "items":
        print(render_item(result[0], fmt, args.columns))
    elif args.output == "item":
        print(render_item(result, fmt, args.columns))
    elif args.output == "topology":
        print_topology(result, args)
    elif args.output == "trace":
        print_trace(result, args)


def main(argv=None, prog="qnet", extra=None):
    parser = build_parser(prog, extra)
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.error(f"'{args.command}' is not a client command")
    try:
        settings = Settings.load(url=args.url, token=args.token, project=args.project,
                                 admin=args.admin, config=args.config)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        emit(args.handler(Client(settings=settings), args), args)
    except errors.ClientError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
