"""Security groups and their rules (the ``security-group`` API extension), as Neutron has them.

A group belongs to one project and holds allow rules; a port names its groups with
``security_groups`` and gets exactly what the union of their rules allows (nothing else). Every
project has a group named ``default``, made on first use (listing groups or rules, creating a
group, creating a port): it lets its members reach each other and lets every member send
anywhere, for IPv4 and IPv6. A port created without ``security_groups`` gets its project's
default group, unless port security is off (then it may have none) or it is a router's or the
network's own port (``network:*`` owners are trusted, as in Neutron: no groups).

Rules live in their own collection (``/v2.0/security-group-rules``), but to a back-end a rule
change is a change of its group: the plug-in sees a ``security_group`` resource whose
``security_group_rules`` are always complete (controller/logical.py turns them into typed
rules). Port membership travels with the port (``Port.security_groups``).
"""
import netaddr
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import selectinload

from controller import errors, logical
from controller.address_groups import address_sets
from controller.models import (DefaultSecurityGroup, Port, SecurityGroup,
                               SecurityGroupPortBinding, SecurityGroupRule)
from controller.plugin import Change
from controller.resource import ResourceManager, isoformat, new_id, standard_fields, touch

DIRECTIONS = ("ingress", "egress")
ETHERTYPES = ("IPv4", "IPv6")
DEFAULT_NAME = "default"
#: protocols whose rules may give a destination port range
PORT_PROTOCOLS = {6, 17, 33, 132, 136}
ICMP_PROTOCOLS = {1, 58}
#: protocols that only exist in IPv6 (a rule for them with ethertype IPv4 is refused)
IPV6_ONLY_PROTOCOLS = {41, 43, 44, 58, 59, 60}
_INSERT_BINDINGS = insert(SecurityGroupPortBinding.__table__)


def rule_dict(rule):
    return {
        "id": rule.id,
        "project_id": rule.project_id,
        "tenant_id": rule.project_id,
        "security_group_id": rule.security_group_id,
        "direction": rule.direction,
        "ethertype": rule.ethertype,
        "protocol": rule.protocol,
        "port_range_min": rule.port_range_min,
        "port_range_max": rule.port_range_max,
        "remote_ip_prefix": rule.remote_ip_prefix,
        "remote_group_id": rule.remote_group_id,
        "remote_address_group_id": rule.remote_address_group_id,
        "description": rule.description,
        "created_at": isoformat(rule.created_at),
        "updated_at": isoformat(rule.updated_at),
        "revision_number": rule.revision_number,
    }


def canonical_rule(attrs):
    """The rule ``attrs`` (API input, types already checked) describes, in the form it is
    stored and compared in, or a 400 naming what does not fit together (Neutron's checks:
    ports only with a protocol that has them, ICMP type and code 0..255 with no code without a
    type, IPv6-only protocols with IPv6, a prefix of the rule's family, not both a prefix and
    a remote group or address group)."""
    ethertype = attrs.get("ethertype", "IPv4")
    protocol = attrs.get("protocol")
    if protocol is not None and ethertype == "IPv6" and protocol in ("icmp", "icmpv6", "1"):
        protocol = "ipv6-icmp" if protocol != "1" else "58"   # Neutron's canonical IPv6 ICMP
    number = logical.protocol_number(protocol)
    low, high = attrs.get("port_range_min"), attrs.get("port_range_max")
    if low is not None or high is not None:
        if number is None:
            raise errors.SecurityGroupRuleInvalid(
                error="a port range needs a protocol (tcp, udp, sctp, dccp, udplite; "
                      "icmp or ipv6-icmp for type and code)")
        if number in PORT_PROTOCOLS:
            if low == 0 or high == 0:
                raise errors.SecurityGroupRuleInvalid(error="invalid value for port 0")
            if low is None or high is None or low > high:
                raise errors.SecurityGroupRuleInvalid(
                    error=f"for {protocol} rules port_range_min must be given and "
                          "<= port_range_max")
        elif number in ICMP_PROTOCOLS:
            for value, what in ((low, "type (port_range_min)"), (high, "code (port_range_max)")):
                if value is not None and not 0 <= value <= 255:
                    raise errors.SecurityGroupRuleInvalid(
                        error=f"invalid value for ICMP {what} {value}: it must be 0 to 255")
            if low is None:
                raise errors.SecurityGroupRuleInvalid(
                    error=f"ICMP code (port_range_max) {high} is given without a type "
                          "(port_range_min)")
        else:
            raise errors.SecurityGroupRuleInvalid(
                error=f"protocol {protocol} has no ports: only TCP, UDP, SCTP, DCCP and "
                      "UDPLITE rules give a port range")
    if number in IPV6_ONLY_PROTOCOLS and ethertype == "IPv4":
        raise errors.SecurityGroupRuleInvalid(
            error=f"protocol {protocol} is an IPv6 protocol: the rule's ethertype must be IPv6")
    prefix = attrs.get("remote_ip_prefix")
    if prefix is not None:
        network = netaddr.IPNetwork(prefix)
        if f"IPv{network.version}" != ethertype:
            raise errors.SecurityGroupRuleInvalid(
                error=f"conflicting value ethertype {ethertype} for CIDR {prefix}")
        prefix = str(network.cidr)   # 10.0.0.7 -> 10.0.0.7/32, 10.0.0.7/24 -> 10.0.0.0/24
    remotes = [prefix, attrs.get("remote_group_id"), attrs.get("remote_address_group_id")]
    if sum(r is not None for r in remotes) > 1:
        raise errors.SecurityGroupRuleInvalid(
            error="only one of remote_ip_prefix, remote_group_id and remote_address_group_id "
                  "may be given")
    return {"direction": attrs["direction"], "ethertype": ethertype, "protocol": protocol,
            "port_range_min": low, "port_range_max": high, "remote_ip_prefix": prefix,
            "remote_group_id": attrs.get("remote_group_id"),
            "remote_address_group_id": attrs.get("remote_address_group_id")}


def rule_key(rule):
    """What makes two rules of a group the same rule (a second one is a 409): the protocol by
    number (``tcp`` is ``6``), and a prefix of the whole address family the same as none."""
    prefix = rule["remote_ip_prefix"]
    return (rule["direction"], rule["ethertype"], logical.protocol_number(rule["protocol"]),
            rule["port_range_min"], rule["port_range_max"],
            None if prefix in ("0.0.0.0/0", "::/0") else prefix, rule["remote_group_id"],
            rule.get("remote_address_group_id"))


class SecurityGroupManager(ResourceManager):
    resource = "security_group"
    collection = "security_groups"
    model = SecurityGroup
    not_found = errors.SecurityGroupNotFound
    columns = {"tenant_id": "project_id"}
    load_options = (selectinload(SecurityGroup.rules),)
    defaults = {"stateful": True}

    def to_dict(self, group):
        return {**standard_fields(group), "stateful": group.stateful,
                "security_group_rules": [rule_dict(r) for r in group.rules]}

    def typed(self, session, group):
        """The group as back-ends see it (controller/logical.py): its rules, with the CIDRs of
        the address groups they name as they are now."""
        named = {r.remote_address_group_id for r in group.rules} - {None}
        return logical.SecurityGroup(group.id, group.project_id, group.stateful,
                                     logical.rules_of([rule_dict(r) for r in group.rules],
                                                      address_sets(session, named)))

    def snapshot(self, session, group):
        """(API body, typed value) of ``group`` now: one side of a ``group_change``."""
        return self.to_dict(group), self.typed(session, group)

    def group_change(self, ctx, action, was, now):
        """The Change of a group between two ``snapshot``s (None: absent), its typed values
        made by the core: an API body names an address group, not its addresses."""
        old, before = was or (None, None)
        new, after = now or (None, None)
        return Change(self.resource, action, ctx, old, new, before, after)

    # -- the default group -------------------------------------------------------------------------
    def ensure_default(self, session, ctx, project_id):
        """(id of ``project_id``'s default group, [Change]): made now if it does not exist."""
        found = session.scalar(select(DefaultSecurityGroup.security_group_id).where(
            DefaultSecurityGroup.project_id == project_id))
        if found is not None:
            return found, []
        group = self._new_group(session, project_id, DEFAULT_NAME, "Default security group",
                                stateful=True, default=True)
        session.add(DefaultSecurityGroup(project_id=project_id, security_group_id=group.id))
        session.flush()
        return group.id, [self.change(ctx, "created", None, self.to_dict(group))]

    def ensure_default_for(self, ctx, project_id):
        """Make ``project_id``'s default group if it has none (its own write; a read when it
        exists, which is nearly always)."""
        with self.core.db.read() as session:
            if session.scalar(select(DefaultSecurityGroup.security_group_id).where(
                    DefaultSecurityGroup.project_id == project_id)) is not None:
                return
        self.core.write(lambda session: (None, self.ensure_default(session, ctx, project_id)[1]))

    def ensure_listed_project(self, ctx, filters):
        """Neutron's first use by listing: the caller's project, or the one an admin's
        filter names, gets its default group before the list is read."""
        wanted = (filters or {}).get("project_id") or (filters or {}).get("tenant_id")
        project = wanted[0] if wanted else ctx.project_id
        if project and (project == ctx.project_id or self.core.policy.is_admin(ctx)):
            self.ensure_default_for(ctx, project)

    @staticmethod
    def is_default(session, group_id):
        return session.scalar(select(DefaultSecurityGroup.project_id).where(
            DefaultSecurityGroup.security_group_id == group_id)) is not None

    def _new_group(self, session, project_id, name, description, stateful, default=False):
        """A group with Neutron's starting rules: every new group lets its members send
        anywhere (egress, IPv4 and IPv6); the default group also admits its own members."""
        group = SecurityGroup(id=new_id(), project_id=project_id, name=name,
                              description=description, stateful=stateful, rules=[])
        session.add(group)
        for ethertype in ETHERTYPES:
            if default:
                group.rules.append(SecurityGroupRule(
                    id=new_id(), project_id=project_id, direction="ingress",
                    ethertype=ethertype, remote_group_id=group.id))
            group.rules.append(SecurityGroupRule(id=new_id(), project_id=project_id,
                                                 direction="egress", ethertype=ethertype))
        session.flush()
        return group

    # -- reads ---------------------------------------------------------------------------------------
    def list(self, ctx, filters=None, sorts=(), limit=None, marker=None, page_reverse=False):
        self.ensure_listed_project(ctx, filters)
        return super().list(ctx, filters, sorts, limit, marker, page_reverse)

    # -- writes --------------------------------------------------------------------------------------
    def create(self, ctx, attrs):
        project = self.owner_of_new(ctx, attrs)
        self.authorize(ctx, "create", {"project_id": project, "tenant_id": project}, attrs)
        if attrs.get("name") == DEFAULT_NAME:
            raise errors.SecurityGroupDefaultAlreadyExists()

        def work(session):
            _, changes = self.ensure_default(session, ctx, project)
            group = self._new_group(session, project, attrs.get("name", ""),
                                    attrs.get("description", ""), attrs.get("stateful", True))
            new = self.to_dict(group)
            return new, changes + [self.change(ctx, "created", None, new)]

        return self.core.write(work)

    def update(self, ctx, id_, attrs):
        def work(session):
            group = self.find(session, ctx, id_)
            self.check_owner(ctx, group, "update", attrs)
            if "name" in attrs and attrs["name"] != group.name and \
                    self.is_default(session, group.id):
                raise errors.SecurityGroupCannotUpdateDefault()
            if attrs.get("name") == DEFAULT_NAME and group.name != DEFAULT_NAME:
                raise errors.SecurityGroupDefaultAlreadyExists()
            if "stateful" in attrs and attrs["stateful"] != group.stateful and \
                    self.member_of(session, group.id) is not None:
                raise errors.SecurityGroupInUse(id=group.id)
            was = self.snapshot(session, group)
            for key in ("name", "description", "stateful"):
                if key in attrs:
                    setattr(group, key, attrs[key])
            touch(group)
            now = self.snapshot(session, group)
            return now[0], [self.group_change(ctx, "updated", was, now)]

        return self.core.write(work)

    def delete(self, ctx, id_):
        def work(session):
            group = self.find(session, ctx, id_)
            self.check_owner(ctx, group, "delete")
            if self.member_of(session, group.id) is not None:
                raise errors.SecurityGroupInUse(id=group.id)
            if self.is_default(session, group.id) and not self.core.policy.is_admin(ctx):
                raise errors.SecurityGroupCannotRemoveDefault()
            changes = self._drop_references(session, ctx, group.id)
            was = self.snapshot(session, group)
            session.delete(group)
            return None, changes + [self.group_change(ctx, "deleted", was, None)]

        self.core.write(work)

    def _drop_references(self, session, ctx, group_id):
        """Rules of other groups that name ``group_id`` as their remote group go with it (as
        Neutron's cascade): each such group is reported updated."""
        referring = session.scalars(select(SecurityGroup).options(*self.load_options).where(
            SecurityGroup.id != group_id,
            SecurityGroup.id.in_(select(SecurityGroupRule.security_group_id).where(
                SecurityGroupRule.remote_group_id == group_id)))).all()
        changes = []
        for other in referring:
            was = self.snapshot(session, other)
            for rule in [r for r in other.rules if r.remote_group_id == group_id]:
                other.rules.remove(rule)
            touch(other)
            session.flush()
            changes.append(self.group_change(ctx, "updated", was, self.snapshot(session, other)))
        return changes

    @staticmethod
    def member_of(session, group_id):
        """The id of a port in the group, or None."""
        return session.scalar(select(SecurityGroupPortBinding.port_id).where(
            SecurityGroupPortBinding.security_group_id == group_id).limit(1))

    # -- ports -------------------------------------------------------------------------------------
    def groups_of_new_port(self, session, ctx, port, requested):
        """(group ids, [Change]) of a port being created: ``requested`` (None: not given)
        checked, or its project's default group when none is given."""
        if not port.port_security_enabled:
            if requested:
                raise errors.PortSecurityAndIPRequiredForSecurityGroups(id=port.id)
            return [], []
        if (port.device_owner or "").startswith("network:"):
            return [], []
        if requested is None:
            default, changes = self.ensure_default(session, ctx, port.project_id)
            return [default], changes
        return self.check_port_groups(session, port.project_id, requested), []

    def groups_of_updated_port(self, session, port, attrs, current):
        """The group ids a port has after an update (``current``: before), or a 409 when
        port security would be off with groups."""
        groups = current
        if "security_groups" in attrs:
            groups = self.check_port_groups(session, port.project_id,
                                            attrs["security_groups"] or [])
        if not port.port_security_enabled and groups:
            raise errors.PortSecurityPortHasSecurityGroup(id=port.id)
        return groups

    def check_port_groups(self, session, project_id, requested):
        """``requested`` without repeats, each a group of the port's own project (404 for any
        other: another project's group is not even seen, whoever asks)."""
        wanted = list(dict.fromkeys(requested))
        found = set(session.scalars(select(SecurityGroup.id).where(
            SecurityGroup.id.in_(wanted), SecurityGroup.project_id == project_id)))
        missing = [g for g in wanted if g not in found]
        if missing:
            raise errors.SecurityGroupNotFound(id=", ".join(missing))
        return wanted

    @staticmethod
    def bind(session, port_id, group_ids, replace=False):
        """Store a port's memberships (``replace``: instead of those it had)."""
        if replace:
            session.execute(delete(SecurityGroupPortBinding).where(
                SecurityGroupPortBinding.port_id == port_id))
        if group_ids:
            session.execute(_INSERT_BINDINGS, [{"port_id": port_id, "security_group_id": g}
                                               for g in group_ids])

    def leave_all(self, session, port):
        """Take a port (a Port row) out of every group."""
        self.bind(session, port.id, [], replace=True)
        session.expire(port, ["security_group_bindings"])

    @staticmethod
    def groups_of_ports(session, port_ids, chunk=500):
        """{port id: [group id, ...] sorted} for ``port_ids``."""
        out = {}
        for i in range(0, len(port_ids), chunk):
            rows = session.execute(select(SecurityGroupPortBinding.port_id,
                                          SecurityGroupPortBinding.security_group_id)
                                   .where(SecurityGroupPortBinding.port_id.in_(
                                       port_ids[i:i + chunk])))
            for port_id, group_id in rows:
                out.setdefault(port_id, []).append(group_id)
        return {k: sorted(v) for k, v in out.items()}

    @staticmethod
    def ports_in(group_ids):
        """SQL condition: ports that are members of any of ``group_ids`` (a list filter)."""
        return Port.id.in_(select(SecurityGroupPortBinding.port_id).where(
            SecurityGroupPortBinding.security_group_id.in_(group_ids)))


class SecurityGroupRuleManager(ResourceManager):
    """Rules: created and deleted on their own, reported as changes of their group."""

    resource = "security_group_rule"
    collection = "security_group_rules"
    model = SecurityGroupRule
    not_found = errors.SecurityGroupRuleNotFound
    columns = {"tenant_id": "project_id"}

    def to_dict(self, rule):
        return rule_dict(rule)

    def list(self, ctx, filters=None, sorts=(), limit=None, marker=None, page_reverse=False):
        self.core.security_groups.ensure_listed_project(ctx, filters)
        return super().list(ctx, filters, sorts, limit, marker, page_reverse)

    def _change_group(self, ctx, group_id, edit):
        """Run ``edit(session, group) -> result`` on a group the caller may see (404
        otherwise), in one transaction, and report the group as updated."""
        groups = self.core.security_groups

        def work(session):
            group = groups.find(session, ctx, group_id)
            was = groups.snapshot(session, group)
            result = edit(session, group)
            session.flush()
            session.expire(group, ["rules"])
            touch(group)
            return result, [groups.group_change(ctx, "updated", was,
                                                groups.snapshot(session, group))]

        return self.core.write(work)

    def create(self, ctx, attrs):
        rule = canonical_rule(attrs)
        groups = self.core.security_groups

        def edit(session, group):
            self.authorize(ctx, "create", groups.target(group), attrs)
            if rule["remote_group_id"] is not None:
                remote = groups.find(session, ctx, rule["remote_group_id"])
                if remote.project_id != group.project_id:
                    raise errors.SecurityGroupNotFound(id=remote.id)
            if rule["remote_address_group_id"] is not None:
                addresses = self.core.address_groups
                remote = addresses.find(session, ctx, rule["remote_address_group_id"])
                # the group's project's own, or shared with it (an admin's view is wider)
                if not addresses.usable_by(session, group.project_id, remote.id):
                    raise errors.AddressGroupNotFound(id=remote.id)
            key = rule_key(rule)
            for held in group.rules:
                if rule_key(rule_dict(held)) == key:
                    raise errors.SecurityGroupRuleExists(rule_id=held.id)
            row = SecurityGroupRule(id=attrs.get("id") or new_id(), project_id=group.project_id,
                                    security_group_id=group.id,
                                    description=attrs.get("description", ""), **rule)
            session.add(row)
            session.flush()
            return rule_dict(row)

        return self._change_group(ctx, attrs["security_group_id"], edit)

    def update(self, ctx, id_, attrs):
        """Only a rule's description changes (what a rule allows never does: make another)."""
        def work(session):
            row = self.find(session, ctx, id_)
            self.check_owner(ctx, row, "update", attrs)
            if "description" in attrs:
                row.description = attrs["description"]
                touch(row)
            return rule_dict(row), []

        return self.core.write(work)

    def delete(self, ctx, id_):
        with self.core.db.read() as session:
            group_id = self.find(session, ctx, id_).security_group_id

        def edit(session, group):
            row = self.find(session, ctx, id_)
            self.check_owner(ctx, row, "delete")
            session.delete(row)

        self._change_group(ctx, group_id, edit)
