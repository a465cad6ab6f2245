"""The extension framework: extensions add attributes to existing resources and new resources.

An extension is a class with an ``alias``; ``attributes()`` returns ``{collection: {name: Attr}}``
merged into the core resources, ``resources()`` returns new ``ResourceSpec``s, and
``managers(core)`` returns the core-side managers that serve those (``{collection: manager}``).
Enabled extensions are listed at ``/v2.0/extensions`` and ``/v1.0/extensions``.
"""
import copy

from controller import rbac
from controller import security_groups as sg
from controller.ip_availability import IpAvailabilityManager
from controller.qos import DIRECTIONS, MAX_KBPS
from controller.routers import MAX_ROUTES
from rest import types as t
from rest.attributes import (CORE_RESOURCES, FIXED_IP, HOST_ROUTE, Action, Attr, ResourceSpec,
                             standard_attributes)

UPDATED = "2026-11-25T00:00:00-00:00"
#: An address count: an IPv6 subnet holds more than any database integer (reported, never set).
COUNT = t.Integer(0, None)


class Extension:
    alias = ""
    name = ""
    description = ""
    updated = UPDATED

    def attributes(self):
        return {}

    def resources(self):
        return []

    def managers(self, core):
        return {}

    def describe(self):
        return {"alias": self.alias, "name": self.name, "description": self.description,
                "updated": self.updated, "links": []}


class PortSecurity(Extension):
    alias = "port-security"
    name = "Port Security"
    description = ("port_security_enabled on ports: when true (the default) a port may only "
                   "send from its own MAC and IPs, plus its allowed address pairs; on "
                   "networks: the value of their new ports that state none.")

    def attributes(self):
        return {"ports": {"port_security_enabled": Attr(t.Boolean(), post=True, put=True,
                                                        sort=True)},
                "networks": {"port_security_enabled": Attr(
                    t.Boolean(), post=True, put=True,
                    doc="Default of the network's new ports (true unless set).")}}


class AllowedAddressPairs(Extension):
    alias = "allowed-address-pairs"
    name = "Allowed Address Pairs"
    description = ("Extra (IP or CIDR, MAC) pairs a port may send from, e.g. a VRRP "
                   "virtual IP; the MAC defaults to the port's own.")

    def attributes(self):
        pair = t.Record({"ip_address": t.IpOrCidr(), "mac_address": t.MacAddress()},
                        ("ip_address",))
        return {"ports": {"allowed_address_pairs": Attr(t.ListOf(pair, 10), post=True,
                                                        put=True, filter=False)}}


class Provider(Extension):
    alias = "provider"
    name = "Provider Network"
    description = ("How a network is carried on the wire (admin only): VXLAN and its VNI, or "
                   "flat on a physical network that hypervisors reach through their bridge "
                   "mapping of that name.")

    def attributes(self):
        return {"networks": {
            "provider:network_type": Attr(t.Enum("vxlan", "flat"), post=True,
                                          doc="vxlan (the default) or flat (needs "
                                              "provider:physical_network)."),
            "provider:physical_network": Attr(t.String(64), post=True, nullable=True,
                                              filter=False,
                                              doc="A flat network's physical network: the "
                                                  "name in hypervisors' bridge mappings."),
            "provider:segmentation_id": Attr(t.Integer(1, 16777215), post=True, put=True,
                                             sort=True),
        }}


class Attachment(Extension):
    alias = "attachment"
    name = "Interface attachment"
    description = ("attachment on ports: the id of the interface (a VM's vNIC, ...) plugged "
                   "into the port, e.g. nova.example.com/<tenant>/server/<id>/eth0. An "
                   "interface is plugged into at most one port of its project at a time; "
                   "another project naming the same id blocks nothing and binds nothing "
                   "(a hypervisor binds an attachment only for the project it declares).")

    def attributes(self):
        return {"ports": {
            "attachment": Attr(t.String(255), post=True, put=True, nullable=True, sort=False),
            "binding_error": Attr(t.String(255), nullable=True, filter=False,
                                  doc="Why no interface is bound although one claims this "
                                      "port (e.g. an attachment claim naming no project); "
                                      "null otherwise."),
        }}


class PortBinding(Extension):
    alias = "binding"
    name = "Port Binding"
    description = ("Where a port's interface is bound (host, switch and OpenFlow port); "
                   "admins may pin it with binding:host_id / binding:profile.")

    def attributes(self):
        return {"ports": {
            "binding:host_id": Attr(t.String(255), post=True, put=True, sort=True),
            "binding:profile": Attr(t.FreeDict(), post=True, put=True, filter=False),
            "binding:vif_type": Attr(t.String(), filter=False),
            "binding:vif_details": Attr(t.FreeDict(), filter=False),
            "binding:vnic_type": Attr(t.String(), filter=False),
        }}


class NetworkIpAvailability(Extension):
    alias = "network-ip-availability"
    name = "Network IP Availability"
    description = "Total and used addresses per network and subnet (admin only, read-only)."

    def resources(self):
        subnet_usage = t.ListOf(t.Record({
            "subnet_id": t.Uuid(), "subnet_name": t.String(), "cidr": t.Cidr(),
            "ip_version": t.Enum(4, 6), "total_ips": COUNT, "used_ips": COUNT}))
        return [ResourceSpec(
            "network_ip_availability", "network_ip_availabilities", {
                "network_id": Attr(t.Uuid(), sort=True),
                "network_name": Attr(t.String(), sort=True),
                "project_id": Attr(t.String(64), sort=True),
                "tenant_id": Attr(t.String(64), sort=True),
                "total_ips": Attr(COUNT, filter=False),
                "used_ips": Attr(COUNT, filter=False),
                "subnet_ip_availability": Attr(subnet_usage, filter=False),
                "ip_version": Attr(t.Enum(4, 6), doc="A filter only: networks with subnets "
                                                     "of this version, counting only those."),
            }, path="network-ip-availabilities", read_only=True, doc=self.description)]

    def managers(self, core):
        return {"network_ip_availabilities": IpAvailabilityManager(core)}


class Qos(Extension):
    alias = "qos"
    name = "Quality of Service"
    description = ("QoS policies with bandwidth limit rules (max_kbps, max_burst_kbps, "
                   "direction egress|ingress; at most one rule per direction), named by "
                   "qos_policy_id on ports and networks: a network's policy applies to its "
                   "ports that name none. Enforced with OpenFlow meters by the openflow "
                   "back-end; max_burst_kbps 0 picks a burst that lets TCP reach the rate.")

    def attributes(self):
        policy_id = Attr(t.Uuid(), post=True, put=True, nullable=True,
                         doc="QoS policy (own or shared); null: none.")
        return {"ports": {"qos_policy_id": Attr(
                    t.Uuid(), post=True, put=True, nullable=True,
                    doc="QoS policy (own or shared); null: the network's policy applies.")},
                "networks": {"qos_policy_id": policy_id}}

    def resources(self):
        rule = t.Record({"id": t.Uuid(), "type": t.Enum("bandwidth_limit"),
                         "qos_policy_id": t.Uuid(), "max_kbps": t.Integer(1, MAX_KBPS),
                         "max_burst_kbps": t.Integer(0, MAX_KBPS),
                         "direction": t.Enum(*DIRECTIONS)})
        policies = ResourceSpec("policy", "policies", {
            **standard_attributes(),
            "shared": Attr(t.Boolean(), post=True, put=True, sort=True,
                           doc="Usable by every project (admin only)."),
            "rules": Attr(t.ListOf(rule), filter=False),
        }, path="qos/policies", doc="QoS policies: sets of rules that ports and networks name.")
        rules = ResourceSpec("bandwidth_limit_rule", "bandwidth_limit_rules", {
            "id": Attr(t.Uuid(), sort=True),
            "max_kbps": Attr(t.Integer(1, MAX_KBPS), post=True, put=True, required=True,
                             sort=True, doc="Rate limit in kbit/s."),
            "max_burst_kbps": Attr(t.Integer(0, MAX_KBPS), post=True, put=True, sort=True,
                                   doc="Burst in kbit; 0 (the default): 30% of max_kbps "
                                       "(at least 50 kbit), enough for TCP to reach the rate."),
            "direction": Attr(t.Enum(*DIRECTIONS), post=True, put=True, sort=True,
                              doc="egress (default): sent by the port's interface; ingress: "
                                  "received by it."),
        }, path="qos/policies/{policy_id}/bandwidth_limit_rules",
            doc="Bandwidth limits of a QoS policy, at most one per direction.")
        return [policies, rules]

    def managers(self, core):
        return {"policies": core.qos, "bandwidth_limit_rules": core.qos_rules}


class SecurityGroups(Extension):
    alias = "security-group"
    name = "security-group"
    description = ("Security groups: sets of allow rules (direction, ethertype, protocol, "
                   "port range or ICMP type/code, remote prefix or remote group) that ports "
                   "name with security_groups; what no rule of a port's groups allows is "
                   "dropped. Each project has a 'default' group (members reach each other, "
                   "all egress), given to new ports that name no group while port security "
                   "is on. stateful (default true): replies of allowed connections pass.")

    def attributes(self):
        return {"ports": {"security_groups": Attr(
            t.ListOf(t.Uuid(), 100), post=True, put=True, nullable=True,
            doc="Security groups of the port's project; omitted or null on create: the "
                "project's default group (none when port security is off); [] or null on "
                "update: none.")}}

    def resources(self):
        nullable = dict(post=True, nullable=True, sort=False)
        rule_attrs = {
            **{k: v for k, v in standard_attributes().items() if k != "name"},
            "project_id": Attr(t.String(64), sort=True, doc="The group's project."),
            "tenant_id": Attr(t.String(64), sort=True, doc="Alias of project_id."),
            "security_group_id": Attr(t.Uuid(), post=True, required=True, sort=True),
            "direction": Attr(t.Enum(*sg.DIRECTIONS), post=True, required=True, sort=True),
            "ethertype": Attr(t.Enum(*sg.ETHERTYPES), post=True, sort=True,
                              doc="Default IPv4."),
            "protocol": Attr(t.IpProtocol(), **nullable,
                             doc="A name (tcp, udp, icmp, ipv6-icmp, ...) or a number 0..255; "
                                 "null: any."),
            "port_range_min": Attr(t.Integer(0, 65535), **nullable,
                                   doc="First destination port; for ICMP the type."),
            "port_range_max": Attr(t.Integer(0, 65535), **nullable,
                                   doc="Last destination port; for ICMP the code."),
            "remote_ip_prefix": Attr(t.IpOrCidr(), **nullable,
                                     doc="Peers' addresses (answered as a CIDR); null: any."),
            "remote_group_id": Attr(t.Uuid(), **nullable,
                                    doc="Peers: the ports of this group (of the same project)."),
            "remote_address_group_id": Attr(
                t.Uuid(), **nullable,
                doc="Peers: the CIDRs of this address group (of the same project, or shared "
                    "with it by an RBAC policy), as they are at any time."),
        }
        rule_schema = t.Record({name: t.Nullable(a.type) if a.nullable else a.type
                                for name, a in rule_attrs.items()})
        groups = ResourceSpec("security_group", "security_groups", {
            **standard_attributes(),
            "stateful": Attr(t.Boolean(), post=True, put=True, sort=True,
                             doc="Default true; false: no connection tracking, replies need "
                                 "rules. Not changeable while ports use the group."),
            "security_group_rules": Attr(t.ListOf(rule_schema), filter=False),
        }, path="security-groups", doc="Security groups: sets of allow rules that ports name.")
        rules = ResourceSpec("security_group_rule", "security_group_rules", rule_attrs,
                             path="security-group-rules",
                             doc="Allow rules of security groups; a rule cannot be changed "
                                 "(only its description): delete it and create another.")
        return [groups, rules]

    def managers(self, core):
        return {"security_groups": core.security_groups,
                "security_group_rules": core.security_group_rules}
class AddressGroups(Extension):
    alias = "address-group"
    name = "Address group"
    description = ("Address groups: named sets of CIDRs (add_addresses / remove_addresses) "
                   "that security group rules name with remote_address_group_id; a rule "
                   "follows its address group's changes. An address group a rule names "
                   "cannot be deleted.")

    def resources(self):
        addresses = t.ListOf(t.IpOrCidr(), 1000)
        attrs = {
            **standard_attributes(),
            "addresses": Attr(addresses, post=True, filter=False,
                              doc="CIDRs (an address is its /32 or /128), answered in their "
                                  "network form; changed only by the actions."),
        }
        body = t.Record({name: a.type for name, a in attrs.items()})
        answer = {"type": "object", "additionalProperties": False,
                  "required": ["address_group"], "properties": {"address_group": body.schema}}
        change = t.Record({"addresses": addresses}, ("addresses",))
        return [ResourceSpec("address_group", "address_groups", attrs, path="address-groups",
                             doc="Address groups: sets of CIDRs security group rules name.",
                             actions={
                                 "add_addresses": Action(change, answer,
                                                         "Add CIDRs to an address group"),
                                 "remove_addresses": Action(
                                     change, answer, "Remove CIDRs from an address group")})]

    def managers(self, core):
        return {"address_groups": core.address_groups}


class RemoteAddressGroups(Extension):
    alias = "security-groups-remote-address-group"
    name = "Remote address group id field for security group rules"
    description = ("remote_address_group_id on security group rules: their peers are the "
                   "CIDRs of an address group.")


class RbacPolicies(Extension):
    alias = "rbac-policies"
    name = "RBAC Policies"
    description = ("Share a network, a QoS policy or an address group with some projects "
                   "(access_as_shared), or make a network external to them "
                   "(access_as_external, admin only); target_tenant '*' (admin only) is every "
                   "project, which is what shared=true and router:external=true stand for.")

    def resources(self):
        return [ResourceSpec("rbac_policy", "rbac_policies", {
            "id": Attr(t.Uuid(), sort=True),
            "project_id": Attr(t.String(64), sort=True, doc="The object's owner."),
            "tenant_id": Attr(t.String(64), sort=True, doc="Alias of project_id."),
            "object_type": Attr(t.Enum(*rbac.OBJECT_TYPES), post=True, required=True,
                                sort=True),
            "object_id": Attr(t.Uuid(), post=True, required=True, sort=True,
                              doc="The network, QoS policy or address group (the caller's "
                                  "own, or any for an admin)."),
            "action": Attr(t.Enum(rbac.SHARED, rbac.EXTERNAL), post=True, required=True,
                           sort=True, doc="access_as_external: networks only."),
            "target_tenant": Attr(t.ProjectOrEveryone(), post=True, put=True, required=True,
                                  sort=True, doc="A project id, or '*': every project."),
        }, path="rbac-policies",
            doc="Who else may use a network, a QoS policy or an address group.")]

    def managers(self, core):
        return {"rbac_policies": core.rbac_policies}


class RbacAddressGroups(Extension):
    alias = "rbac-address-group"
    name = "Add address_group type to RBAC"
    description = ("object_type address_group in RBAC policies (access_as_shared): the "
                   "projects an entry names see the address group and name it in their "
                   "security group rules; only its owner changes it.")


class ExternalNet(Extension):
    alias = "external-net"
    name = "Neutron external network"
    description = ("router:external on networks (admin only): routers set their gateway on "
                   "an external network and floating IPs come from it; every project sees "
                   "it.")

    def attributes(self):
        return {"networks": {"router:external": Attr(
            t.Boolean(), post=True, put=True,
            doc="External: routers' gateways and floating IPs (admin only).")}}


def _gateway_info():
    return t.Record({"network_id": t.Uuid(), "enable_snat": t.Boolean(),
                     "external_fixed_ips": t.ListOf(FIXED_IP, 10)}, ("network_id",))


class L3(Extension):
    alias = "router"
    name = "Neutron L3 Router"
    description = ("Routers between a project's subnets, with a gateway on an external "
                   "network (SNAT), and floating IPs: external addresses that stand for a "
                   "port's fixed address. add_router_interface / remove_router_interface "
                   "take a subnet_id or a port_id.")

    def resources(self):
        info = {"type": "object", "additionalProperties": False, "properties": {
            "id": t.Uuid.schema, "tenant_id": t.String(64).schema,
            "project_id": t.String(64).schema, "port_id": t.Uuid.schema,
            "network_id": t.Uuid.schema, "subnet_id": {**t.Uuid.schema, "nullable": True},
            "subnet_ids": {"type": "array", "items": t.Uuid.schema}}}
        interface = t.Record({"subnet_id": t.Uuid(), "port_id": t.Uuid()}, min_keys=1)
        routers = ResourceSpec("router", "routers", {
            **standard_attributes(),
            "admin_state_up": Attr(t.Boolean(), post=True, put=True, sort=True),
            "status": Attr(t.String(16), sort=True),
            "external_gateway_info": Attr(
                _gateway_info(), post=True, put=True, nullable=True, filter=False,
                doc="The gateway: network_id (an external network), enable_snat (admin "
                    "only; default true), external_fixed_ips (admin only). Null: none."),
        }, doc="Virtual routers: interfaces on subnets, a gateway on an external network.",
            actions={
                "add_router_interface": Action(
                    interface, info, "Attach a subnet (the router takes its gateway "
                                     "address) or a free port to a router"),
                "remove_router_interface": Action(
                    interface, info, "Detach a subnet or port from a router (its port "
                                     "is deleted)")})
        floatingips = ResourceSpec("floatingip", "floatingips", {
            "id": Attr(t.Uuid(), sort=True),
            "project_id": Attr(t.String(64), post=True, sort=True),
            "tenant_id": Attr(t.String(64), post=True, sort=True),
            "description": Attr(t.String(255), post=True, put=True, sort=True),
            "floating_network_id": Attr(t.Uuid(), post=True, required=True, sort=True,
                                        doc="The external network the address comes from."),
            "floating_ip_address": Attr(t.IpAddress(), post=True, sort=True,
                                        doc="Chosen by the server (admins may choose)."),
            "port_id": Attr(t.Uuid(), post=True, put=True, nullable=True,
                            doc="The port it stands for (reachable through a router of the "
                                "project with its gateway on the external network); null: "
                                "none."),
            "fixed_ip_address": Attr(t.IpAddress(), post=True, put=True, nullable=True,
                                     doc="Which of the port's IPv4 addresses (needed when it "
                                         "has several)."),
            "router_id": Attr(t.Uuid(), nullable=True),
            "status": Attr(t.String(16), sort=True),
            "created_at": Attr(t.Timestamp(), sort=True, filter=False),
            "updated_at": Attr(t.Timestamp(), sort=True, filter=False),
            "revision_number": Attr(t.Integer(0), sort=True),
        }, doc="Floating IPs: addresses of an external network that stand for a port's.")
        return [routers, floatingips]

    def managers(self, core):
        return {"routers": core.routers, "floatingips": core.floating_ips}


class ExtraRoute(Extension):
    alias = "extraroute"
    name = "Neutron Extra Route"
    description = ("routes on routers: destination CIDRs and the next hop (on one of the "
                   "router's subnets) each goes to.")

    def attributes(self):
        return {"routers": {"routes": Attr(t.ListOf(HOST_ROUTE, MAX_ROUTES), put=True,
                                           filter=False)}}


class ExtGwMode(Extension):
    alias = "ext-gw-mode"
    name = "Neutron L3 Configurable external gateway mode"
    description = ("enable_snat in a router's external_gateway_info (admin only): whether "
                   "traffic leaving through the gateway takes the gateway's address.")


class PortStats(Extension):
    alias = "qnet-port-stats"
    name = "Port statistics"
    description = ("GET /v2.0/ports/{id}/qnet-stats: the back-end's counters of a port, such "
                   "as packets and bytes its bandwidth-limit meters passed and dropped (501 "
                   "when the back-end keeps none).")


class Quotas(Extension):
    alias = "quotas"
    name = "Quota management support"
    description = ("Per-project limits on what draws on pools projects share: floating IPs "
                   "and routers (each gateway takes an external address). GET "
                   "/v2.0/quotas/{project_id} (one's own; admin: any), PUT and DELETE (back "
                   "to the defaults) by an admin; a create past the limit is 409 OverQuota.")

    def resources(self):
        limit = t.Integer(-1)
        return [ResourceSpec("quota", "quotas", {
            "project_id": Attr(t.String(64), filter=False),
            "tenant_id": Attr(t.String(64), filter=False),
            "floatingip": Attr(limit, put=True, filter=False, doc="Floating IPs (-1: no limit)."),
            "router": Attr(limit, put=True, filter=False, doc="Routers (-1: no limit)."),
        }, creatable=False, id_schema={"type": "string", "minLength": 1, "maxLength": 64},
            doc="Each project's limits; the list holds projects with limits of their own.")]

    def managers(self, core):
        return {"quotas": core.quotas}


DEFAULT_EXTENSIONS = (PortSecurity, AllowedAddressPairs, Provider, Attachment, PortBinding,
                      NetworkIpAvailability, Qos, PortStats, ExternalNet, L3, ExtraRoute,
                      ExtGwMode, SecurityGroups, AddressGroups, RemoteAddressGroups,
                      RbacPolicies, RbacAddressGroups, Quotas)


class Registry:
    """The resources the API serves: the core ones plus whatever the extensions add."""

    def __init__(self, extensions=None):
        self.extensions = [cls() for cls in (extensions or DEFAULT_EXTENSIONS)]
        self.resources = {}
        for spec in CORE_RESOURCES:
            spec = copy.copy(spec)
            spec.attributes = dict(spec.attributes)
            self.resources[spec.collection] = spec
        for ext in self.extensions:
            for collection, attrs in ext.attributes().items():
                self.resources[collection].attributes.update(attrs)
            for spec in ext.resources():
                self.resources[spec.collection] = spec

    def bind(self, core):
        """Give the core the managers the extensions' new resources need."""
        for ext in self.extensions:
            core.managers.update(ext.managers(core))

    def describe(self):
        return [ext.describe() for ext in self.extensions]

    def enabled(self, alias):
        return any(ext.alias == alias for ext in self.extensions)

    def by_path(self, path):
        for spec in self.resources.values():
            if spec.url == path:
                return spec
        return None
