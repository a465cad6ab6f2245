"""QoS policies and their bandwidth limit rules (the ``qos`` API extension).

A policy belongs to one project; an admin may share it with every project. A port names a policy
with ``qos_policy_id``, and a network's policy applies to each of its ports that names none. A
policy holds at most one bandwidth limit rule per direction: ``egress`` limits what the port's
interface sends, ``ingress`` what it receives (Neutron's sense of the words).

Rules live under their policy (``/v2.0/qos/policies/{id}/bandwidth_limit_rules``); to the
back-end a rule change is a change of its policy, so a plug-in sees a ``qos_policy`` resource
whose ``rules`` are always complete.
"""
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from controller import errors, rbac
from controller.context import Context
from controller.models import BandwidthLimitRule, Network, Port, QosPolicy
from controller.resource import ResourceManager, isoformat, new_id, touch

DIRECTIONS = ("egress", "ingress")
#: The highest rate and burst accepted: 100 Gbit/s, far above any NIC qnet drives, and well
#: inside an OpenFlow meter band's 32-bit kbps.
MAX_KBPS = 100_000_000


def check_limits(max_kbps, max_burst_kbps):
    """The core's own check (the REST types check too): every API shape gets the same rule."""
    if isinstance(max_kbps, bool) or not isinstance(max_kbps, int) or \
            not 1 <= max_kbps <= MAX_KBPS:
        raise errors.InvalidInput(error=f"max_kbps {max_kbps!r} is outside 1..{MAX_KBPS}")
    if isinstance(max_burst_kbps, bool) or not isinstance(max_burst_kbps, int) or \
            not 0 <= max_burst_kbps <= MAX_KBPS:
        raise errors.InvalidInput(
            error=f"max_burst_kbps {max_burst_kbps!r} is outside 0..{MAX_KBPS}")


def rule_dict(rule):
    return {"id": rule.id, "max_kbps": rule.max_kbps, "max_burst_kbps": rule.max_burst_kbps,
            "direction": rule.direction}


class QosPolicyManager(rbac.SharedAsSeen, ResourceManager):
    resource = "policy"
    rbac_object_type = "qos_policy"
    collection = "policies"
    model = QosPolicy
    not_found = errors.QosPolicyNotFound
    columns = {"tenant_id": "project_id"}
    load_options = (selectinload(QosPolicy.bandwidth_limit_rules),)
    defaults = {"shared": False}

    def visible(self, ctx):
        """Own policies and those shared with the caller's project or with every project
        (it may attach those to its ports and networks: controller/rbac.py)."""
        if self.core.policy.is_admin(ctx):
            return super().visible(ctx)
        return or_(QosPolicy.project_id == ctx.project_id,
                   QosPolicy.id.in_(rbac.opened_to("qos_policy", ctx.project_id)))

    def to_dict(self, policy):
        return {
            "id": policy.id,
            "name": policy.name,
            "description": policy.description,
            "project_id": policy.project_id,
            "tenant_id": policy.project_id,
            "shared": policy.shared,
            "rules": [{**rule_dict(r), "type": "bandwidth_limit", "qos_policy_id": policy.id}
                      for r in policy.bandwidth_limit_rules],
            "created_at": isoformat(policy.created_at),
            "updated_at": isoformat(policy.updated_at),
            "revision_number": policy.revision_number,
        }

    def change(self, ctx, action, old, new, resource=None):
        return super().change(ctx, action, old, new, resource or "qos_policy")

    # -- for ports and networks ----------------------------------------------------------------
    def check_usable(self, session, ctx, policy_id):
        """A port or network may name a policy its owner can see (own or shared), or none."""
        if policy_id is not None:
            self.find(session, ctx, policy_id)

    @staticmethod
    def user_of(session, policy_id):
        """("port"|"network", id) of something that uses the policy, or None."""
        for kind, model in (("port", Port), ("network", Network)):
            query = select(model.id).where(model.qos_policy_id == policy_id)
            found = session.scalar(query.limit(1))
            if found is not None:
                return kind, found
        return None

    # -- writes ----------------------------------------------------------------------------------
    def create(self, ctx, attrs):
        project = self.owner_of_new(ctx, attrs)
        self.authorize(ctx, "create", {"project_id": project, "tenant_id": project}, attrs)

        def work(session):
            policy = QosPolicy(id=attrs.get("id") or new_id(), project_id=project,
                               name=attrs.get("name", ""),
                               description=attrs.get("description", ""),
                               shared=False, bandwidth_limit_rules=[])
            session.add(policy)
            session.flush()
            rbac.Entries(session, "qos_policy", policy).set_everyone(
                rbac.SHARED, attrs.get("shared", False))
            new = self.to_dict(policy)
            return new, [self.change(ctx, "created", None, new)]

        return self.core.write(work)

    def update(self, ctx, id_, attrs):
        def work(session):
            policy = self.find(session, ctx, id_)
            self.check_owner(ctx, policy, "update", attrs)
            old = self.to_dict(policy)
            for key in ("name", "description"):
                if key in attrs:
                    setattr(policy, key, attrs[key])
            if "shared" in attrs:
                try:
                    rbac.Entries(session, "qos_policy", policy).set_everyone(
                        rbac.SHARED, attrs["shared"])
                except errors.RbacPolicyInUse as exc:
                    raise errors.QosPolicyInUse(id=policy.id, what="project(s)",
                                                user=exc.kwargs["projects"]) from None
            touch(policy)
            new = self.to_dict(policy)
            return new, [self.change(ctx, "updated", old, new)]

        return self.core.write(work)

    def delete(self, ctx, id_):
        def work(session):
            policy = self.find(session, ctx, id_)
            self.check_owner(ctx, policy, "delete")
            user = self.user_of(session, policy.id)
            if user is not None:
                raise errors.QosPolicyInUse(id=policy.id, what=user[0], user=user[1])
            old = self.to_dict(policy)
            rbac.Entries(session, "qos_policy", policy).drop_all()
            session.delete(policy)
            return None, [self.change(ctx, "deleted", old, None)]

        self.core.write(work)

    # -- rules, as changes of their policy ---------------------------------------------------------
    def change_rules(self, ctx, policy_id, action, edit):
        """Run ``edit(session, policy) -> result`` on a policy the caller may change the rules
        of (``<action>_policy_bandwidth_limit_rule``), in one transaction, and report the
        policy as updated."""
        def work(session):
            policy = self.find(session, ctx, policy_id)
            self.core.policy.enforce_write(ctx, action, "policy_bandwidth_limit_rule",
                                           self.target(policy), {})
            old = self.to_dict(policy)
            result = edit(session, policy)
            session.flush()
            session.expire(policy, ["bandwidth_limit_rules"])
            touch(policy)
            new = self.to_dict(policy)
            return result, [self.change(ctx, "updated", old, new)]

        return self.core.write(work)

    # -- Quantum v1.0: limits as attributes of a port --------------------------------------------
    @staticmethod
    def port_policy_name(port_id):
        return f"port {port_id} (v1.0)"

    def port_limits(self, ctx, port):
        """{direction: {max_kbps, max_burst_kbps}} of a port (a v2.0 port dict)."""
        policy_id = port["qos_policy_id"]
        if policy_id is None:
            return {}
        with self.core.db.read() as session:
            policy = self.find(session, Context.admin(), policy_id)
            return {r.direction: {"max_kbps": r.max_kbps, "max_burst_kbps": r.max_burst_kbps}
                    for r in policy.bandwidth_limit_rules}

    def set_port_limits(self, ctx, port_id, limits, port_attrs=None):
        """Give a port exactly ``limits`` ({direction: (max_kbps, max_burst_kbps)}; empty: no
        limit), and the plain column values ``port_attrs`` (admin_state_up), in one
        transaction, through a policy of its own.

        v1.0 has no policies: the port gets a private policy, named after it, that is
        rewritten in place on every change (so the back-end modifies its meters rather than
        replacing them) and deleted with the last limit. A v2.0 policy the port named before
        is left alone; the port simply stops naming it.
        """
        for kbps, burst in limits.values():
            check_limits(kbps, burst)

        def work(session):
            ports = self.core.ports
            port = ports.find(session, ctx, port_id)
            ports.check_owner(ctx, port, "update")
            old_port = ports.to_dict(port)
            policy = None
            if port.qos_policy_id is not None:
                policy = session.get(QosPolicy, port.qos_policy_id)
                if policy is not None and (policy.name != self.port_policy_name(port.id)
                                           or policy.project_id != port.project_id):
                    policy = None
            changes, old = [], None
            if limits and policy is None:
                policy = QosPolicy(id=new_id(), project_id=port.project_id,
                                   name=self.port_policy_name(port.id),
                                   description="bandwidth limits set through Quantum v1.0",
                                   bandwidth_limit_rules=[])
                session.add(policy)
            elif policy is not None:
                old = self.to_dict(policy)
            if policy is not None:
                old = self.to_dict(policy)
                held = {r.direction: r for r in policy.bandwidth_limit_rules}
                for direction, rule in held.items():
                    if direction not in limits:
                        policy.bandwidth_limit_rules.remove(rule)
                for direction, (kbps, burst) in limits.items():
                    if direction in held:
                        held[direction].max_kbps = kbps
                        held[direction].max_burst_kbps = burst
                    else:
                        policy.bandwidth_limit_rules.append(BandwidthLimitRule(
                            id=new_id(), max_kbps=kbps, max_burst_kbps=burst,
                            direction=direction))
                session.flush()
                if old is None:
                    changes.append(self.change(ctx, "created", None, self.to_dict(policy)))
                elif self.to_dict(policy)["rules"] != old["rules"]:
                    touch(policy)
                    changes.append(self.change(ctx, "updated", old, self.to_dict(policy)))
            values = {**(port_attrs or {}), "qos_policy_id": policy.id if limits else None}
            if any(getattr(port, k) != v for k, v in values.items()):
                for key, value in values.items():
                    setattr(port, key, value)
                touch(port)
                session.flush()
                changes.append(ports.change(ctx, "updated", old_port, ports.to_dict(port)))
            if policy is not None and not limits:
                gone = self.to_dict(policy)
                session.delete(policy)
                changes.append(self.change(ctx, "deleted", gone, None))
            return None, changes

        self.core.write(work)


class BandwidthLimitRuleManager(ResourceManager):
    """Rules are served within one policy: ``within(ctx, policy_id)`` (404 if not visible)."""

    resource = "bandwidth_limit_rule"
    collection = "bandwidth_limit_rules"
    model = BandwidthLimitRule

    def visible(self, ctx):
        return BandwidthLimitRule.qos_policy_id.in_(
            select(QosPolicy.id).where(self.core.qos.visible(ctx)))

    def to_dict(self, rule):
        return rule_dict(rule)

    def within(self, ctx, policy_id):
        with self.core.db.read() as session:
            self.core.qos.find(session, ctx, policy_id)
        return PolicyRules(self, policy_id)


class PolicyRules:
    """The rules of one policy, with the interface every manager offers the REST layer."""

    def __init__(self, manager, policy_id):
        self.manager, self.policy_id = manager, policy_id
        self.policies = manager.core.qos

    def _rule(self, session, ctx, id_):
        rule = session.scalar(select(BandwidthLimitRule).where(
            BandwidthLimitRule.id == id_, BandwidthLimitRule.qos_policy_id == self.policy_id,
            self.manager.visible(ctx)))
        if rule is None:
            raise errors.QosRuleNotFound(id=id_, policy_id=self.policy_id)
        return rule

    @staticmethod
    def _check_direction(policy, direction, rule_id=None):
        for rule in policy.bandwidth_limit_rules:
            if rule.direction == direction and rule.id != rule_id:
                raise errors.QosRuleConflict(policy_id=policy.id, direction=direction,
                                             rule_id=rule.id)

    def list(self, ctx, filters=None, sorts=(), limit=None, marker=None, page_reverse=False):
        filters = {**(filters or {}), "qos_policy_id": [self.policy_id]}
        return self.manager.list(ctx, filters, sorts, limit, marker, page_reverse)

    def get(self, ctx, id_):
        with self.manager.core.db.read() as session:
            return rule_dict(self._rule(session, ctx, id_))

    def create(self, ctx, attrs):
        direction = attrs.get("direction", "egress")
        burst = attrs.get("max_burst_kbps", 0)
        check_limits(attrs.get("max_kbps"), burst)

        def edit(session, policy):
            self._check_direction(policy, direction)
            rule = BandwidthLimitRule(id=attrs.get("id") or new_id(), qos_policy_id=policy.id,
                                      max_kbps=attrs["max_kbps"], max_burst_kbps=burst,
                                      direction=direction)
            session.add(rule)
            return rule_dict(rule)

        return self.policies.change_rules(ctx, self.policy_id, "create", edit)

    def update(self, ctx, id_, attrs):
        def edit(session, policy):
            rule = self._rule(session, ctx, id_)
            if "direction" in attrs:
                self._check_direction(policy, attrs["direction"], rule.id)
            for key in ("max_kbps", "max_burst_kbps", "direction"):
                if key in attrs:
                    setattr(rule, key, attrs[key])
            check_limits(rule.max_kbps, rule.max_burst_kbps)
            return rule_dict(rule)

        return self.policies.change_rules(ctx, self.policy_id, "update", edit)

    def delete(self, ctx, id_):
        def edit(session, policy):
            session.delete(self._rule(session, ctx, id_))

        self.policies.change_rules(ctx, self.policy_id, "delete", edit)
