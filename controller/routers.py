"""Routers (the ``router`` and ``extraroute`` API extensions): a project's virtual router, its
interfaces on tenant subnets, its gateway on an external network, and its extra routes.

A router's interfaces and gateway are ports that the server makes (device owner
``network:router_interface`` / ``network:router_gateway``) and ties to the router by RouterPort
rows. An interface added by subnet takes the subnet's gateway address, so DHCP already hands
the router out as the VMs' gateway. The rules, with the codes Neutron answers: a subnet once
per router and no two overlapping subnets on one router (400), a router with interfaces is not
deleted (409), an interface or a gateway that a floating IP or an extra route needs is not
removed (409), and every refusal changes nothing. A plug-in is told about each router as a
``router`` Change whose typed values (logical.Router) carry the interfaces and the gateway.
"""
import netaddr
from sqlalchemy import func, select
from sqlalchemy.orm import object_session

from controller import errors, logical, snapshot
from controller.models import FloatingIP, IPAllocation, Network, Port, Router, RouterPort, Subnet
from controller.plugin import Change
from controller.resource import ResourceManager, isoformat, new_id, touch

INTERFACE, GATEWAY = logical.ROUTER_INTERFACE, logical.ROUTER_GATEWAY
#: Router zones are numbered 1..ZONE_MAX (the back-end's conntrack zone is derived from one).
ZONE_MAX = 32767
#: Extra routes per router (Neutron's max_routes).
MAX_ROUTES = 30


class RouterManager(ResourceManager):
    resource = "router"
    collection = "routers"
    model = Router
    not_found = errors.RouterNotFound
    columns = {"tenant_id": "project_id"}
    defaults = {"external_gateway_info:enable_snat": True}

    # -- bodies and typed values -------------------------------------------------------------
    def to_dict(self, router):
        session = object_session(router)
        info = None
        if router.gw_port_id is not None:
            network_id = session.scalar(select(Port.network_id).where(
                Port.id == router.gw_port_id))
            ips = session.execute(select(IPAllocation.subnet_id, IPAllocation.ip_address).where(
                IPAllocation.port_id == router.gw_port_id).order_by(IPAllocation.id))
            info = {"network_id": network_id, "enable_snat": router.enable_snat,
                    "external_fixed_ips": [{"subnet_id": s, "ip_address": ip}
                                           for s, ip in ips]}
        return {
            "id": router.id,
            "name": router.name,
            "description": router.description,
            "project_id": router.project_id,
            "tenant_id": router.project_id,
            "admin_state_up": router.admin_state_up,
            "status": router.status,
            "external_gateway_info": info,
            "routes": [dict(r) for r in router.routes],
            "created_at": isoformat(router.created_at),
            "updated_at": isoformat(router.updated_at),
            "revision_number": router.revision_number,
        }

    @staticmethod
    def typed(session, router):
        session.flush()
        return snapshot.routers(session, [router.id])[0]

    def router_change(self, ctx, action, old, new, before, after):
        return Change("router", action, ctx, old, new, before, after)

    # -- zones ---------------------------------------------------------------------------------
    @staticmethod
    def allocate_zone(session):
        """The next free zone: one past the highest, else the lowest gap (as VNIs are)."""
        top = session.scalar(select(func.max(Router.zone)))
        if top is None:
            return 1
        if top < ZONE_MAX:
            return top + 1
        expected = 1
        for zone in session.scalars(select(Router.zone).order_by(Router.zone)):
            if zone != expected:
                return expected
            expected += 1
        raise errors.NoZoneAvailable(high=ZONE_MAX)

    # -- the gateway ---------------------------------------------------------------------------
    def _set_gateway(self, session, ctx, router, info):
        """Point ``router``'s gateway at ``info`` (None: no gateway); returns port Changes."""
        current = self._gateway_network(session, router)
        wanted = info["network_id"] if info else None
        same_network = current is not None and current == wanted
        if info and "enable_snat" in info:
            router.enable_snat = info["enable_snat"]
        elif not same_network:
            router.enable_snat = True
        if same_network and "external_fixed_ips" not in info:
            return []
        if current is not None:
            self._check_gateway_unused(session, router, current)
        changes = []
        if router.gw_port_id is not None:
            changes += self.core.ports.delete_owned(session, ctx, router.gw_port_id)
            router.gw_port_id = None
            session.flush()
        if info is None:
            return changes
        network = self.core.networks.find(session, ctx, wanted)
        if not self.core.networks.external_to(session, ctx, network):
            raise errors.BadRequest(f"Network {wanted} is not an external network.")
        requested = info.get("external_fixed_ips") or None
        port, port_changes = self.core.ports.create_owned(
            session, ctx, network.id, "", GATEWAY, router.id, requested)
        interfaces = self._interface_subnets(session, router.id, (INTERFACE,))
        for address in port["fixed_ips"]:
            self._check_no_overlap(interfaces, address["subnet_id"], session.get(
                Subnet, address["subnet_id"]).cidr)
        session.add(RouterPort(port_id=port["id"], router_id=router.id, port_type=GATEWAY))
        router.gw_port_id = port["id"]
        return changes + port_changes

    @staticmethod
    def _gateway_network(session, router):
        if router.gw_port_id is None:
            return None
        return session.scalar(select(Port.network_id).where(Port.id == router.gw_port_id))

    @staticmethod
    def _check_gateway_unused(session, router, network_id):
        if session.scalar(select(FloatingIP.id).where(FloatingIP.router_id == router.id)
                          .limit(1)):
            raise errors.RouterExternalGatewayInUseByFloatingIp(router_id=router.id,
                                                                net_id=network_id)

    # -- extra routes --------------------------------------------------------------------------
    @staticmethod
    def _interface_subnets(session, router_id, kinds=(INTERFACE, GATEWAY)):
        """(subnet id, cidr, port id, ip) of each address of the router's ports."""
        return session.execute(
            select(Subnet.id, Subnet.cidr, IPAllocation.port_id, IPAllocation.ip_address)
            .join(IPAllocation, IPAllocation.subnet_id == Subnet.id)
            .join(RouterPort, RouterPort.port_id == IPAllocation.port_id)
            .where(RouterPort.router_id == router_id, RouterPort.port_type.in_(kinds))
            .order_by(IPAllocation.id)).all()

    def _check_routes(self, session, router, routes):
        """Extra routes, canonical: each next hop on one of the router's subnets and not one
        of its own addresses (Neutron's InvalidRoutes, 400)."""
        if len(routes) > MAX_ROUTES:
            raise errors.BadRequest(f"Unable to complete operation for {router.id}. The "
                                    f"number of routes exceeds the maximum {MAX_ROUTES}.")
        attached = self._interface_subnets(session, router.id)
        own = {ip for *_, ip in attached}
        out = []
        for route in routes:
            destination = netaddr.IPNetwork(route["destination"])
            hop = netaddr.IPAddress(route["nexthop"])
            entry = {"destination": str(destination.cidr), "nexthop": str(hop)}
            if destination.version != hop.version:
                raise errors.BadRequest(f"Invalid format for routes: {entry}, the nexthop "
                                        "is not of the destination's IP version.")
            if str(hop) in own:
                raise errors.BadRequest(f"Invalid format for routes: {entry}, the nexthop "
                                        "is used by router.")
            if not any(hop in netaddr.IPNetwork(cidr) for _, cidr, _, _ in attached):
                raise errors.BadRequest(f"Invalid format for routes: {entry}, the nexthop "
                                        "is not connected with router.")
            if entry not in out:
                out.append(entry)
        return out

    # -- writes --------------------------------------------------------------------------------
    def create(self, ctx, attrs):
        project = self.owner_of_new(ctx, attrs)
        self.authorize(ctx, "create", {"project_id": project, "tenant_id": project}, attrs)

        def work(session):
            self.core.quotas.check(session, project, "router")
            router = Router(id=attrs.get("id") or new_id(), project_id=project,
                            name=attrs.get("name", ""), description=attrs.get("description", ""),
                            admin_state_up=attrs.get("admin_state_up", True),
                            zone=self.allocate_zone(session), routes=[])
            session.add(router)
            session.flush()
            changes = self._set_gateway(session, ctx, router, attrs.get("external_gateway_info"))
            new = self.to_dict(router)
            return new, changes + [self.router_change(ctx, "created", None, new, None,
                                                      self.typed(session, router))]

        return self.core.write(work)

    def update(self, ctx, id_, attrs):
        def work(session):
            router = self.find(session, ctx, id_)
            self.check_owner(ctx, router, "update", attrs)
            old, before = self.to_dict(router), self.typed(session, router)
            changes = []
            if "external_gateway_info" in attrs:
                changes = self._set_gateway(session, ctx, router, attrs["external_gateway_info"])
            if "routes" in attrs:
                router.routes = self._check_routes(session, router, attrs["routes"])
            for key in ("name", "description", "admin_state_up"):
                if key in attrs:
                    setattr(router, key, attrs[key])
            touch(router)
            new = self.to_dict(router)
            return new, changes + [self.router_change(ctx, "updated", old, new, before,
                                                      self.typed(session, router))]

        return self.core.write(work)

    def delete(self, ctx, id_):
        def work(session):
            router = self.find(session, ctx, id_)
            self.check_owner(ctx, router, "delete")
            if session.scalar(select(RouterPort.port_id).where(
                    RouterPort.router_id == router.id, RouterPort.port_type == INTERFACE)
                    .limit(1)):
                raise errors.RouterInUse(id=router.id)
            old, before = self.to_dict(router), self.typed(session, router)
            changes = self._set_gateway(session, ctx, router, None)
            session.delete(router)
            return None, changes + [self.router_change(ctx, "deleted", old, None, before, None)]

        self.core.write(work)

    # -- interfaces ----------------------------------------------------------------------------
    def _router_for_interface(self, session, ctx, id_, action, info):
        """The router ``action`` (add/remove_router_interface) applies to, after the checks
        every such request gets: exactly what Neutron takes in the body, and the rule."""
        if not info.get("subnet_id") and not info.get("port_id"):
            raise errors.BadRequest("Either subnet_id or port_id must be specified")
        router = self.find(session, ctx, id_)
        self.core.policy.enforce(ctx, action, {"resource": "router", **self.target(router)})
        return router

    def _check_attachable(self, session, router, subnets):
        """``subnets`` (rows) may join ``router``: none on an external network, none that
        the router is on already, none overlapping one it is on (400, as Neutron)."""
        attached = self._interface_subnets(session, router.id)
        for sub in subnets:
            network = session.get(Network, sub.network_id)
            if network.router_external:
                raise errors.BadRequest(f"Subnet {sub.id} is on external network "
                                        f"{network.id}: set it as the router's gateway.")
            self._check_no_overlap(attached, sub.id, sub.cidr)

    @staticmethod
    def _check_no_overlap(attached, subnet_id, cidr):
        """Subnet ``subnet_id`` is none of ``attached`` (rows of ``_interface_subnets``) and
        overlaps none of them."""
        net = netaddr.IPNetwork(cidr)
        for other_id, other_cidr, _, _ in attached:
            if other_id == subnet_id:
                raise errors.BadRequest(f"Router already has a port on subnet {subnet_id}")
            other = netaddr.IPNetwork(other_cidr)
            if other.version == net.version and (net in other or other in net):
                raise errors.BadRequest(f"Cidr {cidr} of subnet {subnet_id} overlaps with "
                                        f"cidr {other_cidr} of subnet {other_id}")

    def add_router_interface(self, ctx, id_, info):
        """Attach a subnet (a new port on its gateway address) or a free port of the
        caller's to the router; the body Neutron answers with."""
        if info.get("subnet_id") and info.get("port_id"):
            raise errors.BadRequest("Cannot specify both subnet-id and port-id")

        def work(session):
            router = self._router_for_interface(session, ctx, id_, "add_router_interface",
                                                info)
            old, before = self.to_dict(router), self.typed(session, router)
            if info.get("port_id"):
                port_body, changes = self._adopt_port(session, ctx, router, info["port_id"])
            else:
                sub = self.core.subnets.find(session, ctx, info["subnet_id"])
                if sub.project_id != ctx.project_id and not self.core.policy.is_admin(ctx):
                    # a shared subnet's gateway would make this router everyone's gateway
                    raise errors.BadRequest("Cannot add interface to router because subnet "
                                            f"{sub.id} is not owned by project making the "
                                            "request")
                if sub.gateway_ip is None:
                    raise errors.BadRequest("Subnet for router interface must have a "
                                            "gateway IP")
                self._check_attachable(session, router, [sub])
                port_body, changes = self.core.ports.create_owned(
                    session, ctx, sub.network_id, router.project_id, INTERFACE, router.id,
                    [{"subnet_id": sub.id, "ip_address": sub.gateway_ip}])
            session.add(RouterPort(port_id=port_body["id"], router_id=router.id,
                                   port_type=INTERFACE))
            touch(router)
            new = self.to_dict(router)
            changes.append(self.router_change(ctx, "updated", old, new, before,
                                              self.typed(session, router)))
            return self._interface_info(router, port_body), changes

        return self.core.write(work)

    def _adopt_port(self, session, ctx, router, port_id):
        """Make the caller's port ``port_id`` an interface of ``router``: it must be free
        (no device, no interface plugged, no router's) and hold addresses of at most one
        IPv4 subnet. Returns (its body, its Changes)."""
        ports = self.core.ports
        port = ports.find(session, ctx, port_id)
        ports.check_owner(ctx, port, "update")
        if port.device_id or port.device_owner or port.attachment is not None or \
                session.get(RouterPort, port.id) is not None:
            raise errors.RouterPortInUse(port_id=port.id,
                                         device=port.device_id or port.device_owner
                                         or port.attachment or "a router")
        if not port.fixed_ips:
            raise errors.BadRequest("Router port must have at least one fixed IP")
        subnets = [session.get(Subnet, s) for s in dict.fromkeys(a.subnet_id
                                                                  for a in port.fixed_ips)]
        if sum(s.ip_version == 4 for s in subnets) > 1:
            raise errors.BadRequest("Cannot have multiple IPv4 subnets on router port")
        self._check_attachable(session, router, subnets)
        old = ports.to_dict(port)
        port.device_owner, port.device_id, port.port_security_enabled = INTERFACE, router.id, \
            False
        port.allowed_address_pairs = []
        self.core.security_groups.leave_all(session, port)   # a router's port has none
        touch(port)
        session.flush()
        new = ports.to_dict(port)
        return new, [ports.change(ctx, "updated", old, new)]

    def remove_router_interface(self, ctx, id_, info):
        """Detach the interface on ``subnet_id`` or the interface port ``port_id`` (both:
        they must agree) and delete its port, unless a floating IP or an extra route still
        needs it (409)."""
        def work(session):
            router = self._router_for_interface(session, ctx, id_, "remove_router_interface",
                                                info)
            port = self._find_interface(session, router, info)
            old, before = self.to_dict(router), self.typed(session, router)
            subnets = [session.get(Subnet, a.subnet_id) for a in port.fixed_ips]
            for sub in subnets:
                self._check_interface_unused(session, router, sub)
            body = self.core.ports.to_dict(port)
            changes = self.core.ports.delete_owned(session, ctx, port.id)
            touch(router)
            new = self.to_dict(router)
            changes.append(self.router_change(ctx, "updated", old, new, before,
                                              self.typed(session, router)))
            return self._interface_info(router, body, info.get("subnet_id")), changes

        return self.core.write(work)

    @staticmethod
    def _find_interface(session, router, info):
        query = select(Port).join(RouterPort, RouterPort.port_id == Port.id).where(
            RouterPort.router_id == router.id, RouterPort.port_type == INTERFACE)
        if info.get("port_id"):
            port = session.scalar(query.where(Port.id == info["port_id"]))
            if port is None:
                raise errors.RouterInterfaceNotFound(router_id=router.id,
                                                     port_id=info["port_id"])
            if info.get("subnet_id") and info["subnet_id"] not in {
                    a.subnet_id for a in port.fixed_ips}:
                raise errors.RouterInterfaceNotFoundForSubnet(router_id=router.id,
                                                              subnet_id=info["subnet_id"])
            return port
        port = session.scalar(query.join(IPAllocation, IPAllocation.port_id == Port.id).where(
            IPAllocation.subnet_id == info["subnet_id"]))
        if port is None:
            raise errors.RouterInterfaceNotFoundForSubnet(router_id=router.id,
                                                          subnet_id=info["subnet_id"])
        return port

    @staticmethod
    def _check_interface_unused(session, router, sub):
        cidr = netaddr.IPNetwork(sub.cidr)
        for fixed_ip in session.scalars(select(FloatingIP.fixed_ip_address).where(
                FloatingIP.router_id == router.id)):
            if netaddr.IPAddress(fixed_ip) in cidr:
                raise errors.RouterInterfaceInUseByFloatingIP(router_id=router.id,
                                                              subnet_id=sub.id)
        if any(netaddr.IPAddress(r["nexthop"]) in cidr for r in router.routes):
            raise errors.RouterInterfaceInUseByRoute(router_id=router.id, subnet_id=sub.id)

    @staticmethod
    def _interface_info(router, port, subnet_id=None):
        """Neutron's answer to add/remove_router_interface."""
        subnet_ids = [ip["subnet_id"] for ip in port["fixed_ips"]]
        return {"id": router.id, "tenant_id": router.project_id,
                "project_id": router.project_id, "port_id": port["id"],
                "network_id": port["network_id"],
                "subnet_id": subnet_id or (subnet_ids[0] if subnet_ids else None),
                "subnet_ids": subnet_ids}

    # -- what other resources ask --------------------------------------------------------------
    @staticmethod
    def router_port_type(session, port_id):
        """The RouterPort type of ``port_id`` (INTERFACE or GATEWAY), or None."""
        return session.scalar(select(RouterPort.port_type).where(RouterPort.port_id == port_id))
