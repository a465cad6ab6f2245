"""RBAC policies (Neutron's ``rbac-policies`` extension): sharing a network, a QoS policy or an
address group with some projects, not only with none or all.

An entry says that ``target_tenant`` (a project id, or ``*`` for every project) may use an
object of another project: ``access_as_shared`` a network (see it and its subnets, put ports on
it), a QoS policy (attach it) or an address group (name it in its security group rules),
``access_as_external`` a network (set routers' gateways on it, take floating IPs from it).
Entries belong to the object's owner; only the owner or an admin makes and sees them, and only
an admin may open an object to ``*`` or make a network external (controller/policy.py).

``shared`` and ``router:external`` stay the attributes everyone knows, kept in step with the
entries in the same transaction: ``shared`` is true exactly when the ``*`` access_as_shared
entry exists, ``router:external`` when any access_as_external entry does; setting them through
the network or QoS API makes or removes those entries. An address group has no such attribute
(Neutron's is not in its API): its entries alone say who may use it. An entry that a project
still depends on (its ports, routers' gateways, floating IPs, ports and networks using the QoS
policy, security group rules naming the address group) cannot be removed or narrowed: 409, and
nothing changes.

Entries are visibility only: the data plane treats a port on a shared network like any other,
so an entry's own create or delete is no change a back-end hears of (the network's or policy's
mirrored attribute flipping is: it is reported as that resource's update).
"""
from sqlalchemy import delete, exists, or_, select

from controller import errors
from controller.models import (FloatingIP, Network, Port, QosPolicy, RbacPolicy, Router,
                               SecurityGroupRule)
from controller.resource import ResourceManager, new_id

SHARED, EXTERNAL = "access_as_shared", "access_as_external"
EVERYONE = "*"
#: the actions each kind of object takes
ACTIONS = {"network": (SHARED, EXTERNAL), "qos_policy": (SHARED,), "address_group": (SHARED,)}
OBJECT_TYPES = tuple(ACTIONS)
_RBAC = RbacPolicy.__table__.c


def opened_to(object_type, project_id, actions=None):
    """SQL: ids of the ``object_type`` objects an entry opens to ``project_id`` (a value or a
    bind parameter), by one of ``actions`` (default: any)."""
    query = select(_RBAC.object_id).where(
        _RBAC.object_type == object_type,
        or_(_RBAC.target_project == project_id, _RBAC.target_project == EVERYONE))
    if actions:
        query = query.where(_RBAC.action.in_(actions))
    return query


def shared_with(object_type, object_id, project_id):
    """SQL: whether the object ``object_id`` (a column) is shared with ``project_id`` by an
    entry naming it (``*`` is the object's ``shared`` column)."""
    return exists().where(_RBAC.object_type == object_type, _RBAC.object_id == object_id,
                          _RBAC.action == SHARED, _RBAC.target_project == project_id)


class SharedAsSeen:
    """Mixed into the manager of an object RBAC entries share (a network, a QoS policy): as in
    Neutron, its ``shared`` reads true for a caller when the object is shared with every
    project or with the caller's project by an entry; the owner sees true only for the ``*``
    entry. ``?shared=`` filters the same way. What is stored, and what back-ends and the
    change log carry, is the ``*`` entry alone (the mirrored attribute)."""

    rbac_object_type = None   # "network" or "qos_policy": what the entries name

    def get(self, ctx, id_):
        return self._shared_as_seen(ctx, [super().get(ctx, id_)])[0]

    def list(self, ctx, filters=None, sorts=(), limit=None, marker=None, page_reverse=False):
        rows, more = super().list(ctx, filters, sorts, limit, marker, page_reverse)
        return self._shared_as_seen(ctx, rows), more

    def filter_for(self, ctx, attr, values):
        if attr != "shared":
            return super().filter_for(ctx, attr, values)
        shared = or_(self.model.shared.is_(True),
                     shared_with(self.rbac_object_type, self.model.id, ctx.project_id))
        return or_(*[shared if v else ~shared for v in set(values)])

    def _shared_as_seen(self, ctx, objects):
        ids = [o["id"] for o in objects if not o["shared"]]
        if ids:
            with self.core.db.read() as session:
                opened = set(session.scalars(select(RbacPolicy.object_id).where(
                    RbacPolicy.object_type == self.rbac_object_type, RbacPolicy.object_id.in_(ids),
                    RbacPolicy.action == SHARED, RbacPolicy.target_project == ctx.project_id)))
            objects = [{**o, "shared": True} if o["id"] in opened else o for o in objects]
        return objects


def manager_of(core, object_type):
    """The manager of the objects ``object_type`` names (their model, 404 and dict form)."""
    return {"network": core.networks, "qos_policy": core.qos,
            "address_group": core.address_groups}[object_type]


def dependants(session, object_type, obj, action):
    """Projects other than the owner that use ``obj`` in the way ``action`` opens it."""
    owner = obj.project_id
    if object_type == "qos_policy":
        queries = [select(Port.project_id).where(Port.qos_policy_id == obj.id),
                   select(Network.project_id).where(Network.qos_policy_id == obj.id)]
    elif object_type == "address_group":
        # a rule's project is its security group's
        queries = [select(SecurityGroupRule.project_id).where(
            SecurityGroupRule.remote_address_group_id == obj.id)]
    elif action == SHARED:
        # the server's own ports (routers' gateways, floating IPs) have no project
        queries = [select(Port.project_id).where(Port.network_id == obj.id)]
    else:
        queries = [select(Router.project_id).join(Port, Port.id == Router.gw_port_id)
                   .where(Port.network_id == obj.id),
                   select(FloatingIP.project_id).where(
                       FloatingIP.floating_network_id == obj.id)]
    found = set()
    for query in queries:
        found.update(session.scalars(query.distinct()))
    return found - {owner, ""}


class Entries:
    """The entries of one object inside a write: add, remove (refused while a project depends
    on what it opens) and the mirrored ``shared`` / ``router:external`` attributes."""

    def __init__(self, session, object_type, obj):
        self.session, self.object_type, self.obj = session, object_type, obj

    def rows(self, action=None):
        query = select(RbacPolicy).where(RbacPolicy.object_type == self.object_type,
                                         RbacPolicy.object_id == self.obj.id)
        if action is not None:
            query = query.where(RbacPolicy.action == action)
        return list(self.session.scalars(query))

    def add(self, action, target, id_=None):
        """The new entry (409 if the same one exists)."""
        duplicate = [r for r in self.rows(action) if r.target_project == target]
        if duplicate:
            raise errors.RbacPolicyExists(object_id=self.obj.id, action=action, target=target,
                                          id=duplicate[0].id)
        row = RbacPolicy(id=id_ or new_id(), project_id=self.obj.project_id,
                         object_type=self.object_type, object_id=self.obj.id, action=action,
                         target_project=target)
        self.session.add(row)
        self.session.flush()
        self.mirror()
        return row

    def remove(self, rows, moved_to=None):
        """Delete ``rows`` unless a project that depends on what they open would lose it
        (``moved_to``: the target an entry is being moved to keeps it)."""
        gone = {r.id for r in rows}
        for action in {r.action for r in rows}:
            kept = {r.target_project for r in self.rows(action) if r.id not in gone}
            kept |= {moved_to} - {None}
            if EVERYONE in kept:
                continue
            lost = dependants(self.session, self.object_type, self.obj, action) - kept
            if lost:
                raise errors.RbacPolicyInUse(object_id=self.obj.id, action=action,
                                             projects=", ".join(sorted(lost)))
        for row in rows:
            self.session.delete(row)
        self.session.flush()
        self.mirror()

    def set_everyone(self, action, on):
        """``shared`` / ``router:external`` set through the object's own API (a refusal is
        the RbacPolicyInUse of ``remove``; the object's API may name it its own way)."""
        rows = self.rows(action)
        if on and not any(r.target_project == EVERYONE for r in rows):
            self.add(action, EVERYONE)
        elif not on:
            # unsharing drops the ``*`` entry; making a network internal drops them all
            self.remove([r for r in rows if action == EXTERNAL or r.target_project == EVERYONE])

    def mirror(self):
        if self.object_type == "address_group":   # no attribute mirrors its entries
            return
        shared = any(r.target_project == EVERYONE for r in self.rows(SHARED))
        if self.obj.shared != shared:
            self.obj.shared = shared
        if self.object_type == "network":
            external = bool(self.rows(EXTERNAL))
            if bool(self.obj.router_external) != external:
                self.obj.router_external = external

    def drop_all(self):
        """The object is being deleted: its entries go with it."""
        self.session.execute(delete(RbacPolicy).where(
            RbacPolicy.object_type == self.object_type, RbacPolicy.object_id == self.obj.id))


def backfill(session):
    """Entries for what a database made before RBAC policies shares or makes external (the
    mirrored columns alone); run at start, idempotent (a concurrent start loses a unique
    constraint race and is retried by the write)."""
    for object_type, model in (("network", Network), ("qos_policy", QosPolicy)):
        named = select(_RBAC.object_id).where(_RBAC.object_type == object_type)
        wanted = [(SHARED, model.shared.is_(True))]
        if model is Network:
            wanted.append((EXTERNAL, Network.router_external.is_(True)))
        for action, column in wanted:
            for obj in session.scalars(select(model).where(
                    column, model.id.not_in(named.where(_RBAC.action == action)))):
                session.add(RbacPolicy(id=new_id(), project_id=obj.project_id,
                                       object_type=object_type, object_id=obj.id,
                                       action=action, target_project=EVERYONE))


class RbacPolicyManager(ResourceManager):
    resource = "rbac_policy"
    collection = "rbac_policies"
    model = RbacPolicy
    not_found = errors.RbacPolicyNotFound
    columns = {"tenant_id": "project_id", "target_tenant": "target_project",
               "target_project": "target_project"}

    def to_dict(self, row):
        return {"id": row.id, "project_id": row.project_id, "tenant_id": row.project_id,
                "object_type": row.object_type, "object_id": row.object_id,
                "action": row.action, "target_tenant": row.target_project}

    def _object(self, session, ctx, object_type, object_id):
        """The object if ``ctx`` may see it (else 404, as the object's own API answers)."""
        return manager_of(self.core, object_type).find(session, ctx, object_id)

    def _changes(self, ctx, object_type, before, obj):
        """The object's update, when an entry flipped its ``shared`` / ``router:external``."""
        manager = manager_of(self.core, object_type)
        after = manager.to_dict(obj)
        if after == before:
            return []
        return [manager.change(ctx, "updated", before, after)]

    def create(self, ctx, attrs):
        object_type, action = attrs["object_type"], attrs["action"]
        if action not in ACTIONS[object_type]:
            raise errors.InvalidInput(error=f"action {action} is not valid for object_type "
                                            f"{object_type} (valid: "
                                            f"{', '.join(ACTIONS[object_type])})")

        def work(session):
            obj = self._object(session, ctx, object_type, attrs["object_id"])
            self.authorize(ctx, "create", {"project_id": obj.project_id,
                                           "tenant_id": obj.project_id}, attrs)
            before = manager_of(self.core, object_type).to_dict(obj)
            row = Entries(session, object_type, obj).add(action, attrs["target_tenant"],
                                                         attrs.get("id"))
            return self.to_dict(row), self._changes(ctx, object_type, before, obj)

        return self.core.write(work)

    def _entry_and_object(self, session, ctx, id_):
        row = self.find(session, ctx, id_)
        manager = manager_of(self.core, row.object_type)
        obj = session.get(manager.model, row.object_id)
        if obj is None:   # cannot happen while objects delete their entries; say so clearly
            raise manager.not_found(id=row.object_id)
        return row, obj

    def update(self, ctx, id_, attrs):
        def work(session):
            row, obj = self._entry_and_object(session, ctx, id_)
            self.check_owner(ctx, row, "update", attrs)
            target = attrs.get("target_tenant", row.target_project)
            if target == row.target_project:
                return self.to_dict(row), []
            before = manager_of(self.core, row.object_type).to_dict(obj)
            entries = Entries(session, row.object_type, obj)
            action = row.action
            entries.remove([row], moved_to=target)
            new = entries.add(action, target, row.id)
            return self.to_dict(new), self._changes(ctx, new.object_type, before, obj)

        return self.core.write(work)

    def delete(self, ctx, id_):
        def work(session):
            row, obj = self._entry_and_object(session, ctx, id_)
            self.check_owner(ctx, row, "delete")
            before = manager_of(self.core, row.object_type).to_dict(obj)
            Entries(session, row.object_type, obj).remove([row])
            return None, self._changes(ctx, row.object_type, before, obj)

        self.core.write(work)
