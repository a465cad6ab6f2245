"""Networks: an isolated L2 segment owned by one project, carried on the wire by its VNI.

A network may be external (``router:external``, admin only): routers set their gateway on it
and floating IPs come from it, so every project sees it (but only its owner, an admin, or
anyone when it is shared, puts ports on it). An admin may make a network ``flat`` on a named
physical network (``provider:physical_network``): hypervisors reach it through their bridge
mapping of that name instead of VXLAN tunnels. It keeps a segmentation id all the same: the
id the pipeline knows the network by.
"""
from sqlalchemy import bindparam, false, func, or_, select
from sqlalchemy.orm import selectinload

from controller import errors, rbac
from controller.models import FloatingIP, Network, Port, RbacPolicy, RouterPort
from controller.resource import ResourceManager, isoformat, new_id, touch

NETWORK_TYPE = "vxlan"
FLAT = "flat"


_NETWORKS = Network.__table__.c


def own_or_opened(project_id, actions=None):
    """Networks of ``project_id`` (a value or a bind parameter) and those an RBAC policy opens
    to it or to every project (by one of ``actions``, default any: controller/rbac.py)."""
    return or_(_NETWORKS.project_id == project_id,
               _NETWORKS.id.in_(rbac.opened_to("network", project_id, actions)))


def as_parent(project_id, shared):
    """What the policy sees of the network a port or subnet is on (controller/policy.py)."""
    return {"network:project_id": project_id, "network:tenant_id": project_id,
            "network:shared": bool(shared)}


# A network's id and owner by id, for admins and for everyone else: built once (see
# find_brief). Table columns, not ORM attributes, so that running them involves no ORM
# machinery at all. Others' networks count only when shared with the caller (an external one
# takes no ports of theirs); ``shared`` says whether it is.
_ANY_NETWORK = select(_NETWORKS.id, _NETWORKS.project_id, _NETWORKS.shared,
                      _NETWORKS.port_security_enabled).where(
    _NETWORKS.id == bindparam("id"))
_VISIBLE_NETWORK = select(
    _NETWORKS.id, _NETWORKS.project_id,
    or_(_NETWORKS.shared.is_(True),
        rbac.shared_with("network", _NETWORKS.id, bindparam("project_id"))).label("shared"),
    _NETWORKS.port_security_enabled).where(
    _NETWORKS.id == bindparam("id"), own_or_opened(bindparam("project_id"), (rbac.SHARED,)))


class NetworkManager(rbac.SharedAsSeen, ResourceManager):
    resource = "network"
    rbac_object_type = "network"
    collection = "networks"
    model = Network
    not_found = errors.NetworkNotFound
    columns = {"tenant_id": "project_id", "provider:segmentation_id": "segmentation_id"}
    load_options = (selectinload(Network.subnets),)
    defaults = {"shared": False, "router:external": False}

    def visible(self, ctx):
        """Own networks, plus those shared with the caller's project (it may put ports on
        them) or external to it (it may point a router or a floating IP at them)."""
        if self.core.policy.is_admin(ctx):
            return super().visible(ctx)
        return own_or_opened(ctx.project_id)

    def external_to(self, session, ctx, net):
        """Whether ``ctx`` may set a router's gateway on ``net`` or take floating IPs from it:
        an external network of its own project, or one an access_as_external entry opens to
        that project or to every one (admins: any external network)."""
        if not net.router_external:
            return False
        if self.core.policy.is_admin(ctx) or net.project_id == ctx.project_id:
            return True
        opened = rbac.opened_to("network", ctx.project_id, (rbac.EXTERNAL,))
        return session.scalar(opened.where(RbacPolicy.object_id == net.id).limit(1)) is not None

    def filter_clause(self, attr, values):
        if attr == "provider:network_type":
            wanted = [Network.network_type.in_([v for v in values if v != NETWORK_TYPE])]
            if NETWORK_TYPE in values:
                wanted.append(Network.network_type.is_(None))
            return or_(*wanted)
        if attr == "router:external":
            return func.coalesce(Network.router_external, false()).in_(values)
        if attr == "subnets":
            from controller.models import Subnet
            return Network.id.in_(select(Subnet.network_id).where(Subnet.id.in_(values)))
        return super().filter_clause(attr, values)

    def to_dict(self, net):
        return {
            "id": net.id,
            "name": net.name,
            "description": net.description,
            "project_id": net.project_id,
            "tenant_id": net.project_id,
            "admin_state_up": net.admin_state_up,
            "shared": net.shared,
            "status": net.status,
            "mtu": net.mtu,
            "subnets": [s.id for s in net.subnets],
            "provider:network_type": net.network_type or NETWORK_TYPE,
            "provider:physical_network": net.physical_network,
            "router:external": bool(net.router_external),
            "provider:segmentation_id": net.segmentation_id,
            "qos_policy_id": net.qos_policy_id,
            "port_security_enabled": net.port_security_enabled is not False,
            "created_at": isoformat(net.created_at),
            "updated_at": isoformat(net.updated_at),
            "revision_number": net.revision_number,
        }

    def find_brief(self, session, ctx, id_):
        """(id, project_id, shared, port_security_enabled) of the network if ``ctx`` may put
        ports on it (its own, or shared with it), else NetworkNotFound.

        For callers that need only that (a port create): it reads three columns of one row
        instead of loading the network and its subnets, with a statement built once (building
        a SELECT and its cache key costs about what running this one does).
        """
        if self.core.policy.is_admin(ctx):
            found = session.execute(_ANY_NETWORK, {"id": id_}).first()
        else:
            found = session.execute(_VISIBLE_NETWORK,
                                    {"id": id_, "project_id": ctx.project_id}).first()
        if found is None:
            raise self.not_found(id=id_)
        return found

    # -- VNI allocation ----------------------------------------------------------------------
    def allocate_vni(self, session):
        """The next free VNI: one past the highest in use, else the lowest gap in the range.

        The common case is one indexed MAX query; the gap scan runs only when the top of the
        range has been reached. The unique constraint settles races between processes.
        """
        low, high = self.core.config.vni_min, self.core.config.vni_max
        in_range = (Network.segmentation_id >= low) & (Network.segmentation_id <= high)
        top = session.scalar(select(func.max(Network.segmentation_id)).where(in_range))
        if top is None:
            return low
        if top < high:
            return top + 1
        expected = low
        for vni in session.scalars(select(Network.segmentation_id).where(in_range)
                                   .order_by(Network.segmentation_id)):
            if vni != expected:
                return expected
            expected += 1
        raise errors.NoSegmentationIdAvailable(low=low, high=high)

    def check_vni(self, session, vni, network_id=None):
        """Admins may pick any valid VNI, also outside the range tenants are given from."""
        if not 1 <= vni <= 16777215:
            raise errors.InvalidInput(error=f"segmentation id {vni} is outside 1..16777215")
        taken = session.scalar(select(Network.id).where(Network.segmentation_id == vni))
        if taken is not None and taken != network_id:
            raise errors.SegmentationIdInUse(vni=vni)

    @staticmethod
    def check_provider(session, attrs):
        """(network type column, physical network) of a new network: flat needs a physical
        network that no other flat network is on; VXLAN takes none."""
        kind = attrs.get("provider:network_type", NETWORK_TYPE)
        physical = attrs.get("provider:physical_network")
        if kind == NETWORK_TYPE:
            if physical is not None:
                raise errors.InvalidInput(error="provider:physical_network is only valid for "
                                                "provider:network_type flat")
            return None, None
        if physical is None:
            raise errors.InvalidInput(error="provider:network_type flat needs a "
                                            "provider:physical_network")
        if "provider:segmentation_id" in attrs:
            raise errors.InvalidInput(error="a flat network takes no "
                                            "provider:segmentation_id")
        if session.scalar(select(Network.id).where(Network.network_type == FLAT,
                                                   Network.physical_network == physical)):
            raise errors.FlatNetworkInUse(physical_network=physical)
        return FLAT, physical

    @staticmethod
    def check_not_external_in_use(session, net):
        """A network stays external while routers have their gateway on it or floating IPs
        come from it."""
        gateway = session.scalar(select(RouterPort.port_id).join(
            Port, Port.id == RouterPort.port_id).where(Port.network_id == net.id).limit(1))
        floating = session.scalar(select(FloatingIP.id).where(
            FloatingIP.floating_network_id == net.id).limit(1))
        if gateway is not None or floating is not None:
            raise errors.ExternalNetworkInUse(net_id=net.id)

    def check_mtu(self, mtu):
        if not 68 <= mtu <= self.core.config.max_mtu:
            raise errors.InvalidInput(
                error=f"mtu {mtu} is outside 68..{self.core.config.max_mtu}")

    # -- writes --------------------------------------------------------------------------------
    def create(self, ctx, attrs):
        project = self.owner_of_new(ctx, attrs)
        self.authorize(ctx, "create", {"project_id": project, "tenant_id": project}, attrs)
        mtu = attrs.get("mtu", self.core.config.default_mtu)
        self.check_mtu(mtu)

        def work(session):
            network_type, physical = self.check_provider(session, attrs)
            vni = attrs.get("provider:segmentation_id")
            if vni is None:
                vni = self.allocate_vni(session)
            else:
                self.check_vni(session, vni)
            self.core.qos.check_usable(session, ctx, attrs.get("qos_policy_id"))
            net = Network(id=attrs.get("id") or new_id(), project_id=project,
                          name=attrs.get("name", ""), description=attrs.get("description", ""),
                          admin_state_up=attrs.get("admin_state_up", True),
                          shared=False, mtu=mtu, segmentation_id=vni,
                          qos_policy_id=attrs.get("qos_policy_id"), router_external=False,
                          network_type=network_type, physical_network=physical,
                          port_security_enabled=attrs.get("port_security_enabled", True),
                          subnets=[])
            session.add(net)
            session.flush()
            entries = rbac.Entries(session, "network", net)
            entries.set_everyone(rbac.SHARED, attrs.get("shared", False))
            entries.set_everyone(rbac.EXTERNAL, attrs.get("router:external", False))
            new = self.to_dict(net)
            return new, [self.change(ctx, "created", None, new)]

        return self.core.write(work)

    def update(self, ctx, id_, attrs):
        if "mtu" in attrs:
            self.check_mtu(attrs["mtu"])

        def work(session):
            net = self.find(session, ctx, id_)
            self.check_owner(ctx, net, "update", attrs)
            old = self.to_dict(net)
            if "provider:segmentation_id" in attrs:
                self.check_vni(session, attrs["provider:segmentation_id"], net.id)
                net.segmentation_id = attrs["provider:segmentation_id"]
            if attrs.get("qos_policy_id") is not None:
                self.core.qos.check_usable(session, ctx, attrs["qos_policy_id"])
            if attrs.get("router:external") is False and net.router_external:
                self.check_not_external_in_use(session, net)
            for key in ("name", "description", "admin_state_up", "mtu", "qos_policy_id",
                        "port_security_enabled"):
                if key in attrs:
                    setattr(net, key, attrs[key])
            entries = rbac.Entries(session, "network", net)
            if "shared" in attrs:
                try:
                    entries.set_everyone(rbac.SHARED, attrs["shared"])
                except errors.RbacPolicyInUse as exc:
                    raise errors.InvalidSharedSetting(network=net.id,
                                                      projects=exc.kwargs["projects"]) from None
            if "router:external" in attrs:
                entries.set_everyone(rbac.EXTERNAL, attrs["router:external"])
            touch(net)
            new = self.to_dict(net)
            return new, [self.change(ctx, "updated", old, new)]

        return self.core.write(work)

    def delete(self, ctx, id_):
        def work(session):
            net = self.find(session, ctx, id_)
            self.check_owner(ctx, net, "delete")
            if session.scalar(select(Port.id).where(Port.network_id == net.id).limit(1)):
                raise errors.NetworkInUse(id=net.id)
            old = self.to_dict(net)
            changes = [self.core.subnets.change(ctx, "deleted", self.core.subnets.to_dict(s),
                                                None) for s in net.subnets]
            rbac.Entries(session, "network", net).drop_all()
            session.delete(net)
            return None, changes + [self.change(ctx, "deleted", old, None)]

        self.core.write(work)

