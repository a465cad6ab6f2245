"""Address groups (Neutron's ``address-group`` extension): a project's named set of CIDRs that
security group rules may name as their peers (``remote_address_group_id``).

To a back-end an address group is nothing of its own: a rule naming one reaches it with the
group's CIDRs resolved (``logical.SecurityGroupRule.remote_addresses``), and a change of a
group's addresses is a change of every security group whose rules name it (the core reports
each as updated, with its typed value before and after), so the data plane follows without
knowing address groups exist. An address group a rule names cannot be deleted (409).

An owner may share an address group with other projects by RBAC entries (``access_as_shared``,
controller/rbac.py): they see it and name it in their rules, as its owner's rules do; only the
owner (or an admin) changes or deletes it, and its address changes reach their rules too.
"""
import netaddr
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from controller import errors, rbac
from controller.models import AddressGroup, AddressGroupAddress, SecurityGroup, SecurityGroupRule
from controller.resource import ResourceManager, new_id, standard_fields, touch


def canonical(addresses):
    """CIDRs in their network form (10.0.0.7 -> 10.0.0.7/32, 10.0.0.7/24 -> 10.0.0.0/24),
    without repeats, in the order given (types already checked by the API)."""
    return list(dict.fromkeys(str(netaddr.IPNetwork(a).cidr) for a in addresses))


def address_sets(session, ids):
    """{address group id: its CIDRs, sorted} for ``ids``."""
    out = {i: [] for i in ids}
    if ids:
        for group_id, address in session.execute(
                select(AddressGroupAddress.address_group_id, AddressGroupAddress.address)
                .where(AddressGroupAddress.address_group_id.in_(sorted(ids)))):
            out[group_id].append(address)
    return {i: tuple(sorted(v)) for i, v in out.items()}


def own_or_opened(project_id):
    """SQL: the address groups ``project_id`` owns or an entry shares with it (or with every
    project): those its security group rules may name."""
    return or_(AddressGroup.project_id == project_id,
               AddressGroup.id.in_(rbac.opened_to("address_group", project_id)))


class AddressGroupManager(ResourceManager):
    resource = "address_group"
    collection = "address_groups"
    model = AddressGroup
    not_found = errors.AddressGroupNotFound
    columns = {"tenant_id": "project_id"}
    load_options = (selectinload(AddressGroup.addresses),)

    def visible(self, ctx):
        """Own address groups and those shared with the caller's project (it may name them in
        its rules); admins see all."""
        if self.core.policy.is_admin(ctx):
            return super().visible(ctx)
        return own_or_opened(ctx.project_id)

    def usable_by(self, session, project_id, id_):
        """Whether ``project_id``'s rules may name the address group ``id_``."""
        return session.scalar(select(AddressGroup.id).where(
            AddressGroup.id == id_, own_or_opened(project_id))) is not None

    def to_dict(self, group):
        return {**standard_fields(group),
                "addresses": sorted(a.address for a in group.addresses)}

    def create(self, ctx, attrs):
        project = self.owner_of_new(ctx, attrs)
        self.authorize(ctx, "create", {"project_id": project, "tenant_id": project}, attrs)

        def work(session):
            group = AddressGroup(id=new_id(), project_id=project, name=attrs.get("name", ""),
                                 description=attrs.get("description", ""),
                                 addresses=[AddressGroupAddress(address=a) for a in
                                            canonical(attrs.get("addresses") or [])])
            session.add(group)
            session.flush()
            return self.to_dict(group), []

        return self.core.write(work)

    def update(self, ctx, id_, attrs):
        """Name and description only: addresses change through add_addresses and
        remove_addresses (as Neutron)."""
        def work(session):
            group = self.find(session, ctx, id_)
            self.check_owner(ctx, group, "update", attrs)
            for key in ("name", "description"):
                if key in attrs:
                    setattr(group, key, attrs[key])
            touch(group)
            return self.to_dict(group), []

        return self.core.write(work)

    def delete(self, ctx, id_):
        def work(session):
            group = self.find(session, ctx, id_)
            self.check_owner(ctx, group, "delete")
            rules = session.scalars(select(SecurityGroupRule.id).where(
                SecurityGroupRule.remote_address_group_id == group.id)).all()
            if rules:
                raise errors.AddressGroupInUse(id=group.id, rules=", ".join(sorted(rules)))
            rbac.Entries(session, "address_group", group).drop_all()
            session.delete(group)
            return None, []

        self.core.write(work)

    def add_addresses(self, ctx, id_, body):
        """Add CIDRs (400 naming those it holds already, and nothing added)."""
        def edit(group, wanted):
            held = {a.address for a in group.addresses}
            present = [a for a in wanted if a in held]
            if present:
                raise errors.AddressesAlreadyExist(addresses=present, id=group.id)
            group.addresses.extend(AddressGroupAddress(address=a) for a in wanted)

        return self._edit_addresses(ctx, id_, "add_addresses", body, edit)

    def remove_addresses(self, ctx, id_, body):
        """Remove CIDRs (404 naming those it does not hold, and nothing removed)."""
        def edit(group, wanted):
            held = {a.address: a for a in group.addresses}
            absent = [a for a in wanted if a not in held]
            if absent:
                raise errors.AddressesNotFound(addresses=absent, id=group.id)
            for a in wanted:
                group.addresses.remove(held[a])

        return self._edit_addresses(ctx, id_, "remove_addresses", body, edit)

    def _edit_addresses(self, ctx, id_, action, body, edit):
        """One transaction: the group found (404 if not visible), the action authorized,
        ``edit`` applied, and every security group whose rules name it reported updated
        (its rules' addresses changed). Answers ``{"address_group": ...}`` as Neutron."""
        groups = self.core.security_groups

        def work(session):
            group = self.find(session, ctx, id_)
            self.core.policy.enforce(ctx, action, {"resource": self.resource,
                                                   **self.target(group)})
            naming = session.scalars(select(SecurityGroup).options(*groups.load_options).where(
                SecurityGroup.id.in_(select(SecurityGroupRule.security_group_id).where(
                    SecurityGroupRule.remote_address_group_id == group.id)))
                .order_by(SecurityGroup.id)).all()
            was = [groups.snapshot(session, g) for g in naming]
            edit(group, canonical(body["addresses"]))
            touch(group)
            session.flush()
            changes = [groups.group_change(ctx, "updated", w, groups.snapshot(session, g))
                       for w, g in zip(was, naming)]
            return {"address_group": self.to_dict(group)}, changes

        return self.core.write(work)
