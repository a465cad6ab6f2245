"""Subnets: an IPv4 or IPv6 range on a network, with the pools IPAM hands addresses out of."""
import netaddr
from sqlalchemy import or_, select

from controller import errors, ipam, rbac
from controller.models import IPAllocation, Network, RouterPort, Subnet
from controller.networks import as_parent
from controller.resource import ResourceManager, isoformat, new_id, touch

IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")


class SubnetManager(ResourceManager):
    resource = "subnet"
    collection = "subnets"
    model = Subnet
    not_found = errors.SubnetNotFound
    columns = {"tenant_id": "project_id"}

    def visible(self, ctx):
        """Own subnets, plus the subnets of the networks shared with or external to the
        caller's project (controller/rbac.py)."""
        if self.core.policy.is_admin(ctx):
            return super().visible(ctx)
        return or_(Subnet.project_id == ctx.project_id,
                   Subnet.network_id.in_(rbac.opened_to("network", ctx.project_id)))

    def to_dict(self, sub):
        return {
            "id": sub.id,
            "name": sub.name,
            "description": sub.description,
            "project_id": sub.project_id,
            "tenant_id": sub.project_id,
            "network_id": sub.network_id,
            "ip_version": sub.ip_version,
            "cidr": sub.cidr,
            "gateway_ip": sub.gateway_ip,
            "allocation_pools": [dict(p) for p in sub.allocation_pools],
            "enable_dhcp": sub.enable_dhcp,
            "dns_nameservers": list(sub.dns_nameservers),
            "host_routes": [dict(r) for r in sub.host_routes],
            "ipv6_ra_mode": sub.ipv6_ra_mode,
            "ipv6_address_mode": sub.ipv6_address_mode,
            "subnetpool_id": None,
            "created_at": isoformat(sub.created_at),
            "updated_at": isoformat(sub.updated_at),
            "revision_number": sub.revision_number,
        }

    # -- validation ---------------------------------------------------------------------------
    @staticmethod
    def _check_extras(net, attrs):
        """Validate the attributes that must agree with the CIDR; return them canonical."""
        out = {}
        if "dns_nameservers" in attrs:
            seen = []
            for ns in attrs["dns_nameservers"]:
                try:
                    value = str(netaddr.IPAddress(ns))
                except (netaddr.AddrFormatError, ValueError, TypeError):
                    raise errors.InvalidInput(error=f"'{ns}' is not a valid nameserver")
                if value in seen:
                    raise errors.InvalidInput(error=f"duplicate nameserver {value}")
                seen.append(value)
            out["dns_nameservers"] = seen
        if "host_routes" in attrs:
            routes = []
            for route in attrs["host_routes"]:
                try:
                    dest = netaddr.IPNetwork(route["destination"])
                except (netaddr.AddrFormatError, ValueError, TypeError):
                    dest = None
                if dest is None or "/" not in str(route["destination"]) \
                        or dest.version != net.version:
                    raise errors.InvalidInput(error=f"host route destination "
                                              f"{route['destination']} is not an IPv{net.version} CIDR")
                try:
                    hop = netaddr.IPAddress(route["nexthop"])
                except (netaddr.AddrFormatError, ValueError, TypeError):
                    raise errors.InvalidInput(error=f"'{route['nexthop']}' is not a valid nexthop")
                if hop.version != net.version:
                    raise errors.InvalidInput(error=f"nexthop {hop} is not IPv{net.version}")
                routes.append({"destination": str(dest.cidr), "nexthop": str(hop)})
            out["host_routes"] = routes
        return out

    def _check_overlap(self, session, network_id, net, subnet_id=None):
        for other in session.scalars(select(Subnet).where(Subnet.network_id == network_id)):
            if other.id != subnet_id and netaddr.IPNetwork(other.cidr).version == net.version \
                    and (net in netaddr.IPNetwork(other.cidr)
                         or netaddr.IPNetwork(other.cidr) in net):
                raise errors.SubnetOverlap(cidr=str(net), other=other.id)

    @staticmethod
    def _check_gateway_not_routed(session, sub):
        """A router interface on the gateway address keeps it: DHCP hands it out as the
        VMs' router (Neutron's GatewayIpInUse, 409)."""
        holder = session.scalar(select(RouterPort.port_id).join(
            IPAllocation, IPAllocation.port_id == RouterPort.port_id).where(
            IPAllocation.subnet_id == sub.id, IPAllocation.ip_address == sub.gateway_ip))
        if holder is not None:
            raise errors.GatewayIpInUse(ip_address=sub.gateway_ip, port_id=holder)

    # -- writes ---------------------------------------------------------------------------------
    def create(self, ctx, attrs):
        net = ipam.parse_cidr(attrs["cidr"], attrs.get("ip_version"))
        gateway = attrs["gateway_ip"] if "gateway_ip" in attrs else ipam.default_gateway(net)
        if gateway is not None:
            gateway = ipam.check_address_in_subnet(gateway, net, "gateway_ip")
        pools = ipam.build_pools(net, gateway, attrs.get("allocation_pools"))
        extras = self._check_extras(net, attrs)
        for mode in ("ipv6_ra_mode", "ipv6_address_mode"):
            if attrs.get(mode) is not None and net.version != 6:
                raise errors.InvalidInput(error=f"{mode} is only valid for IPv6 subnets")

        def work(session):
            network = self.core.networks.find_brief(session, ctx, attrs["network_id"])
            project = self.owner_of_new(ctx, attrs)
            self.authorize(ctx, "create", {"project_id": project, "tenant_id": project,
                                           **as_parent(network.project_id, network.shared)},
                           attrs)
            self._check_overlap(session, network.id, net)
            sub = Subnet(id=attrs.get("id") or new_id(), project_id=project,
                         network_id=network.id, name=attrs.get("name", ""),
                         description=attrs.get("description", ""), ip_version=net.version,
                         cidr=str(net), gateway_ip=gateway, allocation_pools=pools,
                         enable_dhcp=attrs.get("enable_dhcp", True),
                         ipv6_ra_mode=attrs.get("ipv6_ra_mode"),
                         ipv6_address_mode=attrs.get("ipv6_address_mode"),
                         dns_nameservers=extras.get("dns_nameservers", []),
                         host_routes=extras.get("host_routes", []))
            session.add(sub)
            session.flush()
            new = self.to_dict(sub)
            return new, [self.change(ctx, "created", None, new)]

        return self.core.write(work)

    def update(self, ctx, id_, attrs):
        def work(session):
            sub = self.find(session, ctx, id_)
            self.check_owner(ctx, sub, "update", attrs)
            old = self.to_dict(sub)
            net = netaddr.IPNetwork(sub.cidr)
            if "gateway_ip" in attrs:
                gateway = attrs["gateway_ip"]
                if gateway is not None:
                    gateway = ipam.check_address_in_subnet(gateway, net, "gateway_ip")
                if gateway != sub.gateway_ip:
                    self._check_gateway_not_routed(session, sub)
                if gateway is not None and gateway != sub.gateway_ip:
                    holder = session.scalar(select(IPAllocation.port_id).where(
                        IPAllocation.subnet_id == sub.id, IPAllocation.ip_address == gateway))
                    if holder is not None:
                        raise errors.IpAddressInUse(net_id=sub.network_id, ip=gateway)
                sub.gateway_ip = gateway
            if "allocation_pools" in attrs or "gateway_ip" in attrs:
                requested = attrs.get("allocation_pools", sub.allocation_pools)
                sub.allocation_pools = ipam.build_pools(net, sub.gateway_ip, requested)
            for key, value in self._check_extras(net, attrs).items():
                setattr(sub, key, value)
            for key in ("name", "description", "enable_dhcp"):
                if key in attrs:
                    setattr(sub, key, attrs[key])
            touch(sub)
            new = self.to_dict(sub)
            return new, [self.change(ctx, "updated", old, new)]

        return self.core.write(work)

    def delete(self, ctx, id_):
        def work(session):
            sub = self.find(session, ctx, id_)
            self.check_owner(ctx, sub, "delete")
            if session.scalar(select(IPAllocation.id).where(
                    IPAllocation.subnet_id == sub.id).limit(1)):
                raise errors.SubnetInUse(id=sub.id)
            old = self.to_dict(sub)
            session.delete(sub)
            return None, [self.change(ctx, "deleted", old, None)]

        self.core.write(work)
