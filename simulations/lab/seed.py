"""The seed's demo as a lab scenario: tenants, networks and servers through the REST API, VMs
in the hypervisor lab, addresses by DHCP, and the reachability matrix.

    create-network dmz-net web-net db-net
    create-server fw  nics=dmz-net,web-net
    create-server web nics=web-net,db-net
    create-server db  nics=db-net

Only servers that share a network can talk. A second tenant runs the same servers on networks
with the *same CIDRs*, isolated from the first.

The routed variant (``qnet-lab overlay --scenario seed-routed``) gives fw's role to a qnet
router: per tenant a router named fw with interfaces on dmz-net and web-net (fw's two networks)
and its gateway on the external network ``public``, where the lab's outside host plays the
internet. With fw no longer a server, dmz-net gets one of its own, dmz (a DMZ host), with a
floating IP as fw had::

    create-server dmz nics=dmz-net
    create-server web nics=web-net,db-net
    create-server db  nics=db-net
    router fw: dmz-net, web-net, gateway public

dmz and web talk through the router (routed on the sender's hypervisor, across hypervisors),
web and db on db-net as before, and dmz and db never: db-net is on no router. dmz and web reach
the outside (SNAT), the outside reaches dmz by its floating IP and nothing else.

Default routes: every VM takes the first default route DHCP offers (udhcpc.script) and DHCP
offers a subnet's gateway, whether or not a router holds it. So db-net's subnet has no gateway
in this variant: DHCP then offers web the router only on web-net, and db no default route at
all -- rather than relying on web's NIC order to keep db-net's unused gateway out, or on a
default route towards an address nobody holds. (A router also refuses a subnet without a
gateway: db-net stays off it.)
"""
import dataclasses
import os
import re

from .nodes import VM, _ethtool_tx_off, wait_for
from .outside import ADDRESS, PHYSNET

NETWORKS = {"dmz-net": "10.0.1.0/24", "web-net": "10.0.2.0/24", "db-net": "10.0.3.0/24"}
SERVERS = {"fw": ("dmz-net", "web-net"), "web": ("web-net", "db-net"), "db": ("db-net",)}
DEVICE_OWNER = "compute:lab"
# the routed variant: its servers, the router playing fw with its networks, the network whose
# subnet has no gateway, the server behind a floating IP, and the external network (the
# outside host is its gateway)
ROUTED_SERVERS = {"dmz": ("dmz-net",), "web": ("web-net", "db-net"), "db": ("db-net",)}
ROUTER, ROUTED_NETWORKS, ISOLATED, EXPOSED = "fw", ("dmz-net", "web-net"), ("db-net",), "dmz"
EXTERNAL = {"name": "public", "cidr": "203.0.113.0/24", "gateway_ip": ADDRESS.split("/")[0],
            "pool": ("203.0.113.10", "203.0.113.99")}
OUTSIDE = "outside"
UDHCPC_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "udhcpc.script")


@dataclasses.dataclass
class Nic:
    network: str
    port: dict
    intf: str                 # VM-side interface name
    hv_intf: str              # hypervisor-side interface name
    ip: str | None = None     # as configured by DHCP

    @property
    def fixed_ip(self):
        return self.port["fixed_ips"][0]["ip_address"]


@dataclasses.dataclass
class Server:
    name: str
    tenant: str
    vm: object
    hypervisor: object
    nics: list

    def nic(self, network):
        return next((n for n in self.nics if n.network == network), None)


def interface_id(tenant, server, index):
    """The attachment id, in the seed's form: <service>/<tenant>/server/<id>/eth<N>."""
    return f"nova.example.com/{tenant}/server/{server}/eth{index}"


def create_networks(client, networks=NETWORKS, isolated=()):
    """One network with one subnet per name; returns name -> network dict. The subnets of
    ``isolated`` networks have no gateway, so DHCP offers no default route through them."""
    out = {}
    for name, cidr in networks.items():
        net = client.networks.create(name=name)
        extra = {"gateway_ip": None} if name in isolated else {}
        client.subnets.create(network_id=net["id"], cidr=cidr, ip_version=4, name=name + "-v4",
                              **extra)
        out[name] = net
    return out


def create_ports(client, name, nics, addresses=None):
    """The server's ports, one per NIC (networks by name or id), each attached to the
    interface the VM will plug in; [(network name, port)]. All or nothing: on failure the
    ports already made are deleted.

    The attachment names the port's own project (known once the port exists), as Nova does.
    ``addresses``: one fixed IP per NIC, or None for addresses from the pools.
    """
    ports = []
    try:
        for i, ref in enumerate(nics):
            net = client.networks.find(ref)
            attrs = {"fixed_ips": [{"ip_address": addresses[i]}]} if addresses else {}
            port = client.ports.create(network_id=net["id"], name=f"{name}-eth{i}",
                                       device_id=name, device_owner=DEVICE_OWNER, **attrs)
            ports.append((net["name"], port))
            ports[-1] = (net["name"], client.ports.attach(
                port["id"], interface_id(port["project_id"], name, i)))
    except Exception:
        for _, port in ports:
            client.ports.delete(port["id"])
        raise
    return ports


def start_vm(lab, tenant, name, ports, hypervisor, host):
    """Start the server's VM (Mininet host ``host``: unique, at most 10 characters) on
    ``hypervisor`` and plug every NIC (iface-id = attachment, qnet-project-id = the port's
    project: docs/security.md), with the port's MAC on the VM's interface, as Nova does."""
    vm_name = host
    vm = lab.net.addHost(vm_name, cls=VM, ip=None)
    server = Server(name, tenant, vm, hypervisor, [])
    for i, (net_name, port) in enumerate(ports):
        vm_if, hv_if = f"{vm_name}-eth{i}", f"t{vm_name}{i}"[:15]
        lab.net.addLink(vm, hypervisor, intfName1=vm_if, intfName2=hv_if,
                        addr1=port["mac_address"])
        vm.cmd(f"ip link set dev {vm_if} address {port['mac_address']} mtu 1450 up")
        _ethtool_tx_off(vm, vm_if)
        hypervisor.plug_vm(hv_if, port["attachment"], mac=port["mac_address"],
                           project=port["project_id"])
        server.nics.append(Nic(net_name, port, vm_if, hv_if))
    return server


def dhcp(server, timeout=20):
    """Run busybox udhcpc on every NIC; record the address it got."""
    for nic in server.nics:
        out = server.vm.cmd(f"busybox udhcpc -i {nic.intf} -n -q -f -t {timeout} -T 1 "
                            f"-s {UDHCPC_SCRIPT} 2>&1")
        got = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", server.vm.cmd(f"ip -4 addr show {nic.intf}"))
        nic.ip = got.group(1) if got else None
        if nic.ip is None:
            raise RuntimeError(f"{server.name}: DHCP on {nic.intf} failed: {out.strip()}")
    return server


def wait_active(client, server, timeout=30):
    for nic in server.nics:
        wait_for(lambda: client.ports.get(nic.port["id"])["status"] == "ACTIVE",
                 timeout=timeout, what=f"{server.name} {nic.intf} ACTIVE")


def ping(src, dst_ip, count=1, wait=1, tries=1):
    return _ping(src.vm, dst_ip, count, wait, tries)


def _ping(host, dst_ip, count=1, wait=1, tries=1):
    """Whether any of ``count`` pings 0.2 s apart is answered, in up to ``tries`` rounds."""
    for _ in range(tries):
        out = host.cmd(f"ping -c {count} -W {wait} -i 0.2 {dst_ip}")
        if re.search(r" 0% packet loss", out) or re.search(r"[1-9]\d* received", out):
            return True
    return False


def can_reach(src, dst, routed=False):
    """Whether ``src`` reaches ``dst`` on some network: pings to every address of ``dst``.

    For a network ``src`` is not on, ``src`` is given a route and a static neighbour entry
    towards ``dst``'s MAC through its first NIC, so the frame really leaves and it is the
    data plane -- not a missing route -- that must stop it. ``routed`` (the routed variant):
    a source with a default route (DHCP's, a router) sends there instead, as a VM would, and
    the router must carry the packet or stop it. A few pings each, and a few more if none
    came back: the first between two hypervisors that never exchanged a packet is lost while
    Open vSwitch resolves the other's underlay address (README), the matrix's first pings
    between two servers are often the first packets between their hypervisors, and on a
    loaded machine that resolution can outlast three pings 0.2 s apart.
    """
    reached = False
    via_router = routed and default_route(src) is not None
    for nic in dst.nics:
        if src.nic(nic.network) is None and not via_router:
            out = src.nics[0]
            src.vm.cmd(f"ip route replace {nic.ip}/32 dev {out.intf}; "
                       f"ip neigh replace {nic.ip} lladdr {nic.port['mac_address']} "
                       f"dev {out.intf} nud permanent")
        reached = reached or ping(src, nic.ip, count=3, tries=2)
    return reached


def default_route(server):
    """The VM's default gateway (None: no default route)."""
    got = re.search(r"default via (\S+)", server.vm.cmd("ip -4 route show default"))
    return got and got.group(1)


def reachability(servers, routed=False):
    """{(src, dst): reachable} for every ordered pair of servers (``routed``: can_reach's)."""
    return {(a.tenant + "/" + a.name, b.tenant + "/" + b.name): can_reach(a, b, routed)
            for a in servers for b in servers if a is not b}


def expected(servers):
    return {(a.tenant + "/" + a.name, b.tenant + "/" + b.name):
            a.tenant == b.tenant and bool({n.network for n in a.nics} & {n.network for n in b.nics})
            for a in servers for b in servers if a is not b}


def format_matrix(matrix, servers):
    """``servers``: servers (or anything with ``tenant`` and ``name``) and plain labels."""
    names = [s if isinstance(s, str) else s.tenant + "/" + s.name for s in servers]
    width = max(map(len, names)) + 2
    lines = ["".ljust(width) + "".join(n.ljust(width) for n in names)]
    for a in names:
        lines.append(a.ljust(width) + "".join(
            ("-" if a == b else "yes" if matrix[(a, b)] else "no").ljust(width) for b in names))
    return "\n".join(lines)


def add_server(lab, client, tenant, name, nics, hypervisor, host_number):
    """A server whose NICs get the address ``.host_number`` of each network's seed CIDR."""
    ports = create_ports(client, name, nics, [
        NETWORKS[n].rsplit(".", 1)[0] + f".{host_number}" for n in nics])
    return start_vm(lab, tenant, name, ports, hypervisor, f"{name}{host_number}"[:10])


def build(lab, clients, hypervisors, servers_of=SERVERS, isolated=()):
    """The seed scenario for each tenant in ``clients`` ({tenant: qnetclient.Client}); servers
    (``servers_of``: name -> networks) spread over the hypervisors round-robin, each tenant's
    servers on different hypervisors; ``isolated``: as create_networks.

    Addresses are requested explicitly (``.host_number``) so that two tenants with the same
    CIDRs never hold the same address: a reply from the wrong tenant could then not be
    mistaken for a right one.
    """
    servers = []
    for t, (tenant, client) in enumerate(clients.items()):
        create_networks(client, isolated=isolated)
        for i, (name, nics) in enumerate(servers_of.items()):
            servers.append(add_server(lab, client, tenant, name, nics,
                                      hypervisors[(i + t) % len(hypervisors)], 10 + 10 * t + i))
    for server in servers:
        wait_active(clients[server.tenant], server)
        dhcp(server)
    return servers


# -- the routed variant --------------------------------------------------------------------------
@dataclasses.dataclass
class Routed:
    tenant: str
    router: dict
    interfaces: dict          # network name -> the router's address there
    floating_ip: dict
    server: Server            # the one behind the floating IP


def create_external(admin, physnet=PHYSNET):
    """The external network ``public`` (flat on ``physnet``, the outside host its gateway) with
    its subnet; the one already there if an admin made it (the README's routed tour does)."""
    found = admin.request("GET", "/v2.0/networks",
                          params={"name": EXTERNAL["name"], "router:external": "true"})
    if found["networks"]:
        return found["networks"][0]
    net = admin.networks.create(name=EXTERNAL["name"], **{
        "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": physnet})
    start, end = EXTERNAL["pool"]
    admin.subnets.create(network_id=net["id"], cidr=EXTERNAL["cidr"], ip_version=4,
                         name=EXTERNAL["name"] + "-v4", gateway_ip=EXTERNAL["gateway_ip"],
                         enable_dhcp=False, allocation_pools=[{"start": start, "end": end}])
    return net


def add_router(client, external, networks=ROUTED_NETWORKS):
    """The router playing fw: an interface on each of ``networks`` (their subnets' gateway
    addresses, which DHCP offers as the default route) and its gateway on ``external``, with
    SNAT. Returns (router, {network name: its address there})."""
    router = client.routers.create(name=ROUTER,
                                   external_gateway_info={"network_id": external["id"]})
    addresses = {}
    for name in networks:
        [subnet] = client.subnets.list(network_id=client.networks.find(name)["id"])
        itf = client.routers.add_interface(router["id"], subnet_id=subnet["id"])
        addresses[name] = client.ports.get(itf["port_id"])["fixed_ips"][0]["ip_address"]
    return client.routers.get(router["id"]), addresses


def expose(client, external, port):
    """A floating IP on ``external`` for ``port``, which a security group opens to the external
    subnet (the default group admits only its members)."""
    group = client.security_groups.create(name="from-outside")
    client.security_group_rules.create(security_group_id=group["id"], direction="ingress",
                                       ethertype="IPv4", remote_ip_prefix=EXTERNAL["cidr"])
    groups = client.ports.get(port["id"])["security_groups"]
    client.ports.update(port["id"], security_groups=groups + [group["id"]])
    return client.floating_ips.create(floating_network_id=external["id"], port_id=port["id"])


def build_routed(lab, clients, admin, hypervisors):
    """The routed variant: per tenant dmz, web and db (db-net without a gateway, module
    docstring), then the router fw and dmz's floating IP (``admin`` makes the external
    network). DHCP offers the gateways before the router holds them; the routes it sets up
    lead to the router once it does."""
    servers = build(lab, clients, hypervisors, ROUTED_SERVERS, ISOLATED)
    external = create_external(admin)
    routed = []
    for tenant, client in clients.items():
        dmz = next(s for s in servers if s.tenant == tenant and s.name == EXPOSED)
        router, interfaces = add_router(client, external)
        fip = expose(client, external, dmz.nics[0].port)
        routed.append(Routed(tenant, router, interfaces, fip, dmz))
    return servers, routed


def gateway_ip(router):
    return router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]


def describe_routed(r):
    """One line per router: its addresses and the floating IP's way in."""
    inside = ", ".join(f"{net}={ip}" for net, ip in r.interfaces.items())
    return (f"{r.tenant}/{r.router['name']}: {inside}, {EXTERNAL['name']}={gateway_ip(r.router)} "
            f"(SNAT); floating IP {r.floating_ip['floating_ip_address']} -> "
            f"{r.tenant}/{r.server.name} {r.server.nics[0].ip}")


def outside_reachability(servers, routed, outside):
    """{(server, "outside") and ("outside", server): reachable}: each server pings the
    outside host; the outside pings the floating IP of the server that has one, and the
    private addresses of the others through their tenant's router (a /32 route each to its
    gateway IP, removed after: the tenants' addresses differ), so the packet reaches the
    router, which with SNAT admits from the outside only its gateway IP's replies and its
    floating IPs (apps/l3.py). A few pings each, twice if none came back (as ``can_reach``):
    the first packet towards a next hop not yet learned is dropped (docs/l3.md)."""
    router_of = {r.tenant: r for r in routed}
    out = {}
    for s in servers:
        label, r = s.tenant + "/" + s.name, router_of[s.tenant]
        out[(label, OUTSIDE)] = ping(s, EXTERNAL["gateway_ip"], count=3, tries=2)
        if s is r.server:
            out[(OUTSIDE, label)] = _ping(outside, r.floating_ip["floating_ip_address"],
                                          count=3, tries=2)
            continue
        reached = False
        for nic in s.nics:
            outside.cmd(f"ip route replace {nic.ip}/32 via {gateway_ip(r.router)}")
            reached = reached or _ping(outside, nic.ip, count=3, tries=2)
            outside.cmd(f"ip route del {nic.ip}/32")
        out[(OUTSIDE, label)] = reached
    return out


def expected_routed(servers):
    """Within a tenant, servers that share a network or both sit on the router's networks
    meet; the ones on the router's networks reach the outside, which reaches only dmz."""
    def nets(s):
        return {n.network for n in s.nics}

    def routed(s):
        return bool(nets(s) & set(ROUTED_NETWORKS))

    out = {(a.tenant + "/" + a.name, b.tenant + "/" + b.name):
           a.tenant == b.tenant and (bool(nets(a) & nets(b)) or routed(a) and routed(b))
           for a in servers for b in servers if a is not b}
    for s in servers:
        label = s.tenant + "/" + s.name
        out[(label, OUTSIDE)], out[(OUTSIDE, label)] = routed(s), s.name == EXPOSED
    return out
