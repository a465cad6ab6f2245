"""Floating IPs (``/v2.0/floatingips``): an address of an external network that stands for one
fixed address of a port, through a router of the floating IP's project that has its gateway on
that external network and an interface on the port's subnet (as Neutron requires; 404 when
there is none). The address is held by a port of its own on the external network (device owner
``network:floatingip``), so no other port or gateway gets it. A plug-in is told about each
change as a ``floating_ip`` Change (logical.FloatingIP).
"""
from sqlalchemy import bindparam, select

from controller import errors, logical
from controller.models import FloatingIP, IPAllocation, Port, Router, RouterPort, Subnet
from controller.resource import ResourceManager, isoformat, new_id, touch

OWNER = "network:floatingip"


#: What an associate asks besides the floating IP and the port, in one statement built once
#: (on a cold CPU each statement costs about 0.4 ms, and building one more than running it:
#: this is on the path of associate -> first packet): a router of the floating IP's project
#: with an interface on the address's subnet and its gateway on the floating IP's network
#: (its way in), and the network of another floating IP that holds the address already.
#: (Plain tables: the ORM has nothing to load here.)
_R, _RP, _IP, _P, _F = (m.__table__ for m in (Router, RouterPort, IPAllocation, Port,
                                             FloatingIP))
WAY_IN = select(
    select(_R.c.id).join(_RP, _RP.c.router_id == _R.c.id)
    .join(_IP, _IP.c.port_id == _RP.c.port_id)
    .where(_R.c.project_id == bindparam("project"),
           _RP.c.port_type == logical.ROUTER_INTERFACE, _IP.c.subnet_id == bindparam("subnet"),
           _R.c.id.in_(select(_RP.c.router_id).join(_P, _P.c.id == _RP.c.port_id)
                       .where(_RP.c.port_type == logical.ROUTER_GATEWAY,
                              _P.c.network_id == bindparam("network"))))
    .order_by(_R.c.id).limit(1).scalar_subquery(),
    select(_F.c.floating_network_id)
    .where(_F.c.fixed_port_id == bindparam("port"), _F.c.fixed_ip_address == bindparam("address"),
           _F.c.id != bindparam("fip")).limit(1).scalar_subquery())


class FloatingIPManager(ResourceManager):
    resource = "floatingip"
    collection = "floatingips"
    model = FloatingIP
    not_found = errors.FloatingIPNotFound
    columns = {"tenant_id": "project_id", "port_id": "fixed_port_id"}

    def to_dict(self, fip):
        return {
            "id": fip.id,
            "description": fip.description,
            "project_id": fip.project_id,
            "tenant_id": fip.project_id,
            "floating_network_id": fip.floating_network_id,
            "floating_ip_address": fip.floating_ip_address,
            "port_id": fip.fixed_port_id,
            "fixed_ip_address": fip.fixed_ip_address,
            "router_id": fip.router_id,
            "status": fip.status,
            "created_at": isoformat(fip.created_at),
            "updated_at": isoformat(fip.updated_at),
            "revision_number": fip.revision_number,
        }

    def change(self, ctx, action, old, new, resource=None):
        return super().change(ctx, action, old, new, resource or "floating_ip")

    # -- association ---------------------------------------------------------------------------
    def _associate(self, session, ctx, fip, port_id, fixed_ip):
        """Point ``fip`` at ``fixed_ip`` (None: the only IPv4 address) of port ``port_id``
        (None: nowhere)."""
        if port_id is None:
            if fixed_ip is not None:
                raise errors.BadRequest("fixed_ip_address cannot be specified without a "
                                        "port_id")
            fip.fixed_port_id = fip.fixed_ip_address = fip.router_id = None
            fip.status = "DOWN"
            return
        owner, addresses = self.core.ports.addresses(session, ctx, port_id)
        if logical.is_router_owner(owner) or owner == OWNER:
            raise errors.BadRequest(f"Port {port_id} has owner {owner} and "
                                    "therefore cannot be given a floating IP.")
        ipv4 = [(ip, subnet) for ip, subnet in addresses if ":" not in ip]
        if fixed_ip is not None:
            chosen = next((a for a in ipv4 if a[0] == fixed_ip), None)
            if chosen is None:
                raise errors.BadRequest(f"Port {port_id} does not have fixed ip {fixed_ip}")
        elif len(ipv4) == 1:
            chosen = ipv4[0]
        else:
            raise errors.BadRequest(
                f"Port {port_id} has {'no' if not ipv4 else 'several'} fixed IPv4 addresses: "
                + ("a floating IP needs one." if not ipv4 else "give fixed_ip_address."))
        address, subnet_id = chosen
        router_id, holder_network_id = session.execute(WAY_IN, {
            "project": fip.project_id, "subnet": subnet_id,
            "network": fip.floating_network_id, "port": port_id,
            "address": address, "fip": fip.id}).one()
        if router_id is None:
            raise errors.ExternalGatewayForFloatingIPNotFound(
                external_network_id=fip.floating_network_id, subnet_id=subnet_id,
                port_id=port_id)
        if holder_network_id is not None:
            raise errors.FloatingIPPortAlreadyAssociated(
                floating_ip_address=fip.floating_ip_address, fip_id=fip.id, port_id=port_id,
                fixed_ip=address, net_id=holder_network_id)
        fip.fixed_port_id, fip.fixed_ip_address = port_id, address
        fip.router_id, fip.status = router_id, "ACTIVE"

    # -- writes --------------------------------------------------------------------------------
    def create(self, ctx, attrs):
        project = self.owner_of_new(ctx, attrs)
        self.authorize(ctx, "create", {"project_id": project, "tenant_id": project}, attrs)

        def work(session):
            network = self.core.networks.find(session, ctx, attrs["floating_network_id"])
            self.core.quotas.check(session, project, "floatingip")
            if not self.core.networks.external_to(session, ctx, network):
                raise errors.BadRequest(f"Network {network.id} is not a valid external "
                                        "network")
            fip_id = attrs.get("id") or new_id()
            if attrs.get("floating_ip_address") is not None:
                requested = [{"ip_address": attrs["floating_ip_address"]}]
            else:
                first = session.scalar(select(Subnet.id).where(
                    Subnet.network_id == network.id, Subnet.ip_version == 4)
                    .order_by(Subnet.created_at, Subnet.id).limit(1))
                if first is None:
                    raise errors.BadRequest(f"Network {network.id} does not contain any "
                                            "IPv4 subnet")
                requested = [{"subnet_id": first}]
            port, changes = self.core.ports.create_owned(session, ctx, network.id, "", OWNER,
                                                         fip_id, requested)
            address = port["fixed_ips"][0]["ip_address"]
            if ":" in address:
                raise errors.BadRequest(f"Floating IP {address} is not an IPv4 address")
            fip = FloatingIP(id=fip_id, project_id=project, floating_network_id=network.id,
                             floating_port_id=port["id"], floating_ip_address=address,
                             description=attrs.get("description", ""), status="DOWN")
            session.add(fip)
            self._associate(session, ctx, fip, attrs.get("port_id"),
                            attrs.get("fixed_ip_address"))
            session.flush()
            new = self.to_dict(fip)
            return new, changes + [self.change(ctx, "created", None, new)]

        return self.core.write(work)

    def update(self, ctx, id_, attrs):
        def work(session):
            fip = self.find(session, ctx, id_)
            self.check_owner(ctx, fip, "update", attrs)
            old = self.to_dict(fip)
            if "port_id" in attrs or "fixed_ip_address" in attrs:
                port_id = attrs["port_id"] if "port_id" in attrs else fip.fixed_port_id
                self._associate(session, ctx, fip, port_id, attrs.get("fixed_ip_address"))
            if "description" in attrs:
                fip.description = attrs["description"]
            touch(fip)
            session.flush()
            new = self.to_dict(fip)
            return new, [self.change(ctx, "updated", old, new)]

        return self.core.write(work)

    def delete(self, ctx, id_):
        def work(session):
            fip = self.find(session, ctx, id_)
            self.check_owner(ctx, fip, "delete")
            old = self.to_dict(fip)
            port_id = fip.floating_port_id
            session.delete(fip)
            session.flush()
            return None, ([self.change(ctx, "deleted", old, None)]
                          + self.core.ports.delete_owned(session, ctx, port_id))

        self.core.write(work)

    # -- what ports ask ------------------------------------------------------------------------
    def forget_addresses(self, session, ctx, port_id, kept=()):
        """Disassociate the floating IPs of ``port_id``'s fixed addresses not in ``kept``
        (the port is going, or losing them); returns their Changes."""
        changes = []
        for fip in session.scalars(select(FloatingIP).where(FloatingIP.fixed_port_id == port_id)):
            if fip.fixed_ip_address in kept:
                continue
            old = self.to_dict(fip)
            self._associate(session, ctx, fip, None, None)
            touch(fip)
            changes.append(self.change(ctx, "updated", old, self.to_dict(fip)))
        return changes

    @staticmethod
    def is_floating_port(session, port_id):
        return session.scalar(select(FloatingIP.id).where(
            FloatingIP.floating_port_id == port_id)) is not None

