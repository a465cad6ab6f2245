"""Who may do what: every authorization rule of the API, declared once and judged by oslo.policy.

The rules follow Neutron's names and spirit (``context_is_admin``, ``admin_only``,
``admin_or_owner``, ``admin_or_network_owner``, ``create_port:device_owner``, ...), so an operator
who knows Neutron's policy knows qnet's, and a policy file (``policy_file`` setting, YAML or
JSON) overrides any of them. The managers in controller/ ask this module and nothing else; they
hold no ``if ctx.is_admin`` of their own.

What a caller may *see* is not a rule here: visibility is a SQL condition of each manager (own
rows, plus shared networks, QoS policies and address groups; admins see all), and a row outside
it is a 404, so that the existence of another project's private resource never leaks. Rules
judge actions on what is visible: a refusal is a 403 (``PolicyNotAuthorized``) and changes nothing.

Three kinds of rule:

- ``<action>_<resource>`` (``update_network``): may the caller act on this resource at all;
- ``<action>_<resource>:<attribute>`` (``create_port:mac_address``): may the caller give this
  attribute; judged only when the request gives it, except that stating an attribute's default
  on create is no privilege (Neutron's rule too: ``shared: false`` is fine for anyone);
- ``<action>_<resource>:<attribute>:<key>`` (``create_port:fixed_ips:ip_address``): for
  attributes that are records or lists of records, may the caller give this key (in any of
  them).

A rule's *target* is the resource's owner (``project_id``; on create the project it is created
for), its network's owner (``network:project_id``) and ``network:shared``, and for an attribute
rule that attribute's new value when it is a plain value (``device_owner``); the *credentials*
are the caller's project, roles and system scope: a Keystone token's roles (``admin``,
``member``, ``reader``, ...; ``system_scope`` ``all`` for a system-scoped token), or for qnet's
own tokens and noauth ``member`` and ``reader``, plus ``admin`` for admin tokens. Every write
needs ``member`` (or ``admin``): a ``reader`` reads what its project may read and changes
nothing. Decisions are memoised on exactly these, so a policy file's rule may read nothing
else.
"""
import functools
import os
import re

from oslo_config import cfg
from oslo_policy import policy as oslo_policy

from controller import errors

ADMIN_ONLY = "rule:admin_only"
ADMIN_OR_OWNER = "rule:admin_or_owner"
ADMIN_OR_NETWORK_OWNER = "rule:admin_or_network_owner"
ANYONE = "rule:regular_user"
#: The roles of callers that carry none of their own (qnet's tokens, noauth): members.
MEMBER_ROLES = ("member", "reader")


@oslo_policy.register("field")
class FieldCheck(oslo_policy.Check):
    """``field:<resource>:<attribute>=<value>`` or ``=~<regex>``: a value of the target.

    ``field:port:device_owner=~^network:`` reads the port's own ``device_owner``;
    ``field:network:shared=True`` reads the target's ``network:shared`` (a port's or subnet's
    network), or ``shared`` when the target is a network.
    """

    def __init__(self, kind, match):
        super().__init__(kind, match)
        path, _, self.value = match.partition("=")
        self.resource, _, self.attribute = path.partition(":")
        self.pattern = re.compile(self.value[1:]) if self.value.startswith("~") else None

    def __call__(self, target, creds, enforcer, current_rule=None):
        if target.get("resource") == self.resource:
            value = target.get(self.attribute)
        else:
            value = target.get(f"{self.resource}:{self.attribute}")
        if value is None:
            return False
        if self.pattern is not None:
            return self.pattern.match(str(value)) is not None
        return str(value) == self.value


def _rule(name, check, description):
    return oslo_policy.RuleDefault(name, check, description=description)


def _crud(resource, plural, create=ANYONE, update=ADMIN_OR_OWNER, delete=ADMIN_OR_OWNER):
    return [_rule(f"create_{resource}", create, f"Create a {resource}."),
            _rule(f"update_{resource}", update, f"Change a {resource} (visible is not "
                                                 f"writable: a shared one is its owner's)."),
            _rule(f"delete_{resource}", delete, f"Delete a {resource}."),
            _rule(f"create_{resource}:project_id", ADMIN_OR_OWNER,
                  f"Create {plural} for another project than one's own.")]


#: Every rule qnet enforces, with its default. docs/policy.md is generated from this list.
RULES = [
    # -- building blocks -------------------------------------------------------------------------
    _rule("context_is_admin", "role:admin", "Who is an administrator (admin tokens)."),
    _rule("project_member", "role:member",
          "A member of the caller's project (a reader, with the reader role alone, is not)."),
    _rule("owner", "project_id:%(project_id)s", "The caller's project owns the resource."),
    _rule("admin_or_owner", "rule:context_is_admin or (rule:project_member and rule:owner)",
          "Admin, or a member of the owner project."),
    _rule("network_owner", "project_id:%(network:project_id)s",
          "The caller's project owns the resource's network."),
    _rule("admin_or_network_owner",
          "rule:context_is_admin or (rule:project_member and rule:network_owner)",
          "Admin or a member of the project of the resource's network (not merely a user of "
          "a shared one)."),
    _rule("admin_only", "rule:context_is_admin", "Administrators only."),
    _rule("regular_user", "rule:context_is_admin or rule:project_member",
          "Any caller who may write at all: an admin or a project member."),
    _rule("shared", "field:network:shared=True", "The resource's network is shared."),
    _rule("network_device", "field:port:device_owner=~^network:",
          "A port owned by the network itself (router interface, DHCP, ...)."),
    # -- networks -------------------------------------------------------------------------------
    *_crud("network", "networks"),
    _rule("create_network:shared", ADMIN_ONLY, "Share a network with every project."),
    _rule("update_network:shared", ADMIN_ONLY, "Share or unshare a network."),
    _rule("create_network:provider:network_type", ADMIN_ONLY, "Choose the network type."),
    _rule("create_network:provider:segmentation_id", ADMIN_ONLY, "Choose the VXLAN id."),
    _rule("update_network:provider:segmentation_id", ADMIN_ONLY, "Change the VXLAN id."),
    _rule("get_network:provider:network_type", ADMIN_ONLY, "See the network type."),
    _rule("get_network:provider:physical_network", ADMIN_ONLY, "See the physical network."),
    _rule("get_network:provider:segmentation_id", ADMIN_ONLY, "See the VXLAN id."),
    _rule("create_network:provider:physical_network", ADMIN_ONLY,
          "Put a flat network on a physical network."),
    _rule("create_network:router:external", ADMIN_ONLY,
          "Make a network external (routers' gateways, floating IPs)."),
    _rule("update_network:router:external", ADMIN_ONLY, "Make a network external or not."),
    # -- subnets --------------------------------------------------------------------------------
    *_crud("subnet", "subnets", create=ADMIN_OR_NETWORK_OWNER),
    # -- ports ------------------------------------------------------------------------------------
    *_crud("port", "ports"),
    _rule("create_port:device_owner", f"not rule:network_device or {ADMIN_OR_NETWORK_OWNER}",
          "Give a port a network:* device_owner (router interface: the gateway address)."),
    _rule("update_port:device_owner", f"not rule:network_device or {ADMIN_OR_NETWORK_OWNER}",
          "Change a port's device_owner to a network:* one."),
    _rule("create_port:mac_address", ADMIN_OR_NETWORK_OWNER, "Choose a port's MAC address."),
    _rule("update_port:mac_address", ADMIN_OR_NETWORK_OWNER, "Change a port's MAC address."),
    _rule("create_port:fixed_ips", f"{ADMIN_OR_NETWORK_OWNER} or rule:shared",
          "Give fixed_ips at all (see its keys)."),
    _rule("create_port:fixed_ips:ip_address", ADMIN_OR_NETWORK_OWNER,
          "Choose a port's IP addresses."),
    _rule("create_port:fixed_ips:subnet_id", f"{ADMIN_OR_NETWORK_OWNER} or rule:shared",
          "Choose the subnets a port's addresses come from."),
    _rule("update_port:fixed_ips", f"{ADMIN_OR_NETWORK_OWNER} or rule:shared",
          "Change fixed_ips at all (see its keys)."),
    _rule("update_port:fixed_ips:ip_address", ADMIN_OR_NETWORK_OWNER,
          "Change a port's IP addresses."),
    _rule("update_port:fixed_ips:subnet_id", f"{ADMIN_OR_NETWORK_OWNER} or rule:shared",
          "Change the subnets a port's addresses come from."),
    _rule("create_port:port_security_enabled", ADMIN_OR_NETWORK_OWNER,
          "Turn anti-spoofing off on a new port (stating true is anyone's right)."),
    _rule("update_port:port_security_enabled", ADMIN_OR_NETWORK_OWNER,
          "Turn a port's anti-spoofing on or off."),
    _rule("create_port:allowed_address_pairs", ADMIN_OR_NETWORK_OWNER,
          "Let a new port send from other addresses."),
    _rule("update_port:allowed_address_pairs", ADMIN_OR_NETWORK_OWNER,
          "Let a port send from other addresses."),
    _rule("create_port:binding:host_id", ADMIN_ONLY, "Pin a new port to a host."),
    _rule("update_port:binding:host_id", ADMIN_ONLY, "Pin a port to a host."),
    _rule("create_port:binding:profile", ADMIN_ONLY, "Pin a new port to a switch port."),
    _rule("update_port:binding:profile", ADMIN_ONLY, "Pin a port to a switch port."),
    *[_rule(f"get_port:binding:{key}", ADMIN_ONLY, f"See a port's binding:{key}.")
      for key in ("host_id", "profile", "vif_type", "vif_details", "vnic_type")],
    # -- QoS --------------------------------------------------------------------------------------
    *_crud("policy", "QoS policies"),
    _rule("create_policy:shared", ADMIN_ONLY, "Share a QoS policy with every project."),
    _rule("update_policy:shared", ADMIN_ONLY, "Share or unshare a QoS policy."),
    _rule("create_policy_bandwidth_limit_rule", ADMIN_OR_OWNER,
          "Add a bandwidth limit to a QoS policy (owner: the policy's)."),
    _rule("update_policy_bandwidth_limit_rule", ADMIN_OR_OWNER,
          "Change a bandwidth limit of a QoS policy."),
    _rule("delete_policy_bandwidth_limit_rule", ADMIN_OR_OWNER,
          "Remove a bandwidth limit from a QoS policy."),
    # -- security groups ----------------------------------------------------------------------------
    *_crud("security_group", "security groups"),
    _rule("create_security_group_rule", ADMIN_OR_OWNER,
          "Add a rule to a security group (owner: the group's)."),
    _rule("update_security_group_rule", ADMIN_OR_OWNER, "Change a rule's description."),
    _rule("delete_security_group_rule", ADMIN_OR_OWNER,
          "Remove a rule from a security group."),
    *_crud("address_group", "address groups"),
    _rule("add_addresses", ADMIN_OR_OWNER, "Add CIDRs to an address group."),
    _rule("remove_addresses", ADMIN_OR_OWNER, "Remove CIDRs from an address group."),
    # -- routers and floating IPs ------------------------------------------------------------------
    *_crud("router", "routers"),
    *[_rule(f"{action}_router:external_gateway_info{key}", check,
            f"{action.title()} a router's gateway{what}.")
      for action in ("create", "update")
      for key, check, what in (("", ADMIN_OR_OWNER, ""),
                               (":network_id", ADMIN_OR_OWNER, " network"),
                               (":enable_snat", ADMIN_ONLY, "'s SNAT (stating true is "
                                                           "anyone's right on create)"),
                               (":external_fixed_ips", ADMIN_ONLY, " addresses"))],
    _rule("add_router_interface", ADMIN_OR_OWNER, "Attach a subnet or a port to a router."),
    _rule("remove_router_interface", ADMIN_OR_OWNER, "Detach a subnet or port from a router."),
    *_crud("floatingip", "floating IPs"),
    _rule("create_floatingip:floating_ip_address", ADMIN_ONLY,
          "Choose a floating IP's address."),
    # -- RBAC policies (owner: the shared object's) ----------------------------------------------
    *_crud("rbac_policy", "RBAC policies", create=ADMIN_OR_OWNER),
    _rule("restrict_wildcard", "rule:context_is_admin or not field:rbac_policy:target_tenant=*",
          "Only an admin opens an object to every project (target_tenant *)."),
    _rule("create_rbac_policy:target_tenant", "rule:restrict_wildcard",
          "Share with every project (target_tenant *): admin only."),
    _rule("update_rbac_policy:target_tenant", "rule:restrict_wildcard",
          "Widen an RBAC policy to every project (target_tenant *): admin only."),
    _rule("create_rbac_policy:action",
          "rule:context_is_admin or not field:rbac_policy:action=access_as_external",
          "Make a network external for a project (access_as_external): admin only, as "
          "router:external is."),
    # -- quotas ----------------------------------------------------------------------------------
    _rule("get_quota", ADMIN_OR_OWNER, "Read a project's limits (one's own; admin: any)."),
    _rule("update_quota", ADMIN_ONLY, "Set a project's limits."),
    _rule("delete_quota", ADMIN_ONLY, "Put a project's limits back to the defaults."),
    # -- everything else ----------------------------------------------------------------------------
    _rule("get_network_ip_availability", ADMIN_ONLY, "Address usage of every network."),
    _rule("get_topology", ADMIN_ONLY, "The back-end's switches, links and bindings."),
    _rule("get_trace", "rule:context_is_admin or rule:owner",
          "Trace a packet from a port (owner: the port's, readers too; others' ports "
          "answer 404)."),
    _rule("get_metrics", ADMIN_ONLY, "Read the service's Prometheus metrics (/metrics)."),
    _rule("access_tenant", "rule:context_is_admin or rule:owner",
          "Act in a Quantum v1.0 /tenants/{tenant} URL (owner: that tenant; what the "
          "caller may do there is up to the other rules)."),
]

#: Check strings shown to a refused caller in words.
_IN_WORDS = {ADMIN_ONLY: "admin only", ADMIN_OR_OWNER: "admin or owner only",
             ADMIN_OR_NETWORK_OWNER: "admin or network owner only"}


class PolicyFileError(ValueError):
    """The policy file is missing or names rules that do not exist."""


class Policy:
    """The enforcer of one service: the defaults above, overridden by ``policy_file``."""

    def __init__(self, policy_file=None):
        if policy_file and not os.path.isfile(policy_file):
            raise PolicyFileError(f"policy file {policy_file} does not exist")
        conf = cfg.ConfigOpts()  # private: os-ken owns the global oslo.config object
        conf([], project="qnet", default_config_files=[], default_config_dirs=[])
        # Without a file the defaults stand alone: the empty file keeps oslo.policy from
        # searching ~ and /etc for a policy.yaml nobody meant for qnet.
        self.enforcer = oslo_policy.Enforcer(
            conf, policy_file=os.path.abspath(policy_file) if policy_file else os.devnull)
        conf.set_override("policy_dirs", [], group="oslo_policy")
        self.enforcer.register_defaults(RULES)
        self.enforcer.load_rules()
        try:
            self.enforcer.check_rules(raise_on_violation=True)
        except oslo_policy.InvalidDefinitionError as exc:
            raise PolicyFileError(f"policy file {policy_file}: {exc}") from None
        # Read once: no stat of the file on every request (a changed file needs a restart).
        self.enforcer.use_conf = False
        # A decision is a pure function of rule, target and caller, and oslo.policy spends
        # tens of microseconds per check node (it inspects each check's signature every time):
        # decisions are memoised, so a port create pays for its rules once per kind of caller.
        self._judge = functools.lru_cache(maxsize=65536)(self._judge_uncached)

    @staticmethod
    def caller(ctx):
        """What the rules may know of ``ctx``, as a hashable key (see ``credentials``)."""
        roles = set(MEMBER_ROLES if ctx.roles is None else ctx.roles) - {"admin"}
        if ctx.is_admin:
            roles.update(("admin", *MEMBER_ROLES))
        return ctx.project_id, tuple(sorted(roles)), ctx.system_scope

    @staticmethod
    def credentials(caller):
        project_id, roles, system_scope = caller
        creds = {"project_id": project_id, "tenant_id": project_id, "roles": list(roles)}
        if system_scope:
            creds["system_scope"] = system_scope
        return creds

    def defined(self, rule):
        return rule in self.enforcer.rules

    def check(self, ctx, rule, target):
        """Whether ``rule`` allows ``ctx`` on ``target``; an undefined rule allows."""
        if not self.defined(rule):
            return True
        return self._judge(rule, tuple(sorted(target.items())), self.caller(ctx))

    def _judge_uncached(self, rule, target, caller):
        return bool(self.enforcer.enforce(rule, dict(target), self.credentials(caller)))

    def enforce(self, ctx, rule, target):
        if not self.check(ctx, rule, target):
            raise errors.PolicyNotAuthorized(action=rule, reason=self.reason(rule))

    def reason(self, rule):
        check = str(self.enforcer.rules[rule]) if self.defined(rule) else ""
        return _IN_WORDS.get(check, f"policy says {check}")

    def is_admin(self, ctx):
        """``context_is_admin``: admins see every project's resources."""
        return self._judge("context_is_admin", (), self.caller(ctx))

    def readable(self, ctx, resource, attribute):
        """``get_<resource>:<attribute>``: judged on the caller's credentials alone."""
        return self.check(ctx, f"get_{resource}:{attribute}", {"project_id": ctx.project_id})

    def enforce_write(self, ctx, action, resource, target, attrs, defaults=None):
        """Judge ``<action>_<resource>`` and the rule of every attribute ``attrs`` gives.

        ``target`` holds the owners (the resource's and its network's); an attribute's rule
        also sees that attribute's new value when it is a plain value (``device_owner``).
        ``defaults`` are the values that are no privilege to state on create.
        """
        name = f"{action}_{resource}"
        target = {"resource": resource, **target}
        self.enforce(ctx, name, target)
        for attr, value in attrs.items():
            if action == "create" and defaults and attr in defaults and \
                    value == defaults[attr]:
                continue
            rule = f"{name}:{attr}"
            if self.defined(rule):
                plain = value is None or isinstance(value, (str, int, bool))
                self.enforce(ctx, rule, {**target, attr: value} if plain else target)
            if isinstance(value, list):
                keys = sorted({k for item in value if isinstance(item, dict) for k in item})
                for key in keys:
                    self.enforce(ctx, f"{rule}:{key}", target)
            if isinstance(value, dict):  # a record (external_gateway_info): each key's rule
                for key in sorted(value):
                    if action == "create" and defaults and \
                            defaults.get(f"{attr}:{key}", self) == value[key]:
                        continue
                    self.enforce(ctx, f"{rule}:{key}", target)


def markdown_table():
    """docs/policy.md: every rule with its default and what it guards (tests keep it in step)."""
    lines = ["# Authorization policy", "",
             "Generated from `controller/policy.py` (`python -m controller.policy`); a "
             "`policy_file` (YAML or JSON, `qnet serve --policy-file FILE`) overrides any rule "
             "by name. What a caller can *see* is not a rule: own resources, shared networks, "
             "QoS policies and address groups, everything for admins; anything else is 404. "
             "A refused action is 403 and changes nothing.", "",
             "| rule | default | what it guards |", "| --- | --- | --- |"]
    for rule in RULES:
        check = rule.check_str or "(anyone)"
        lines.append(f"| `{rule.name}` | `{check}` | {rule.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
