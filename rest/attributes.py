"""The API's resources, declared once as data (in the manner of Neutron's attribute maps).

Each attribute says whether it may be set (on create, on update), whether it can be filtered and
sorted on, and its type; who may set or see it is the authorization policy's to say
(controller/policy.py). Validation, list queries and the OpenAPI document are
all derived from these tables; extensions add attributes to them (rest/extensions.py).
"""
import dataclasses

from rest import types as t


@dataclasses.dataclass(frozen=True)
class Attr:
    type: t.Type
    post: bool = False          # may be given on create
    put: bool = False           # may be changed on update
    required: bool = False      # must be given on create
    nullable: bool = False      # null is a valid value
    filter: bool = True         # usable as a list filter
    sort: bool = False          # usable as sort_key (non-null columns only: keyset paging)
    doc: str = ""


@dataclasses.dataclass(frozen=True)
class Action:
    """A PUT on one member that is not an update (``routers/{id}/add_router_interface``):
    the body is a ``request`` record (no wrapper key), the answer a JSON object described by
    the ``response`` schema; the manager's method of the action's name serves it."""

    request: t.Record
    response: dict
    doc: str = ""


@dataclasses.dataclass
class ResourceSpec:
    """One collection of the v2.0 API; ``core.managers[collection]`` serves it."""

    resource: str
    collection: str
    attributes: dict
    path: str = ""              # URL path under /v2.0 (defaults to the collection name)
    read_only: bool = False
    doc: str = ""
    actions: dict = dataclasses.field(default_factory=dict)   # name -> Action
    #: False: no POST (a quota is set with PUT on its project, never created)
    creatable: bool = True
    #: JSON schema of the {id} in the item's URL (None: a UUID; a quota's is a project id)
    id_schema: dict | None = None

    @property
    def url(self):
        return self.path or self.collection


NAME = t.String(255)
DESCRIPTION = t.String(255)
PROJECT = t.String(64)


def standard_attributes():
    """Attributes every resource has (Neutron's id/project/description/timestamps)."""
    return {
        "id": Attr(t.Uuid(), sort=True),
        "project_id": Attr(PROJECT, post=True, sort=True,
                           doc="Owner; only admins may create for another project."),
        "tenant_id": Attr(PROJECT, post=True, sort=True, doc="Alias of project_id."),
        "name": Attr(NAME, post=True, put=True, sort=True),
        "description": Attr(DESCRIPTION, post=True, put=True, sort=True),
        "created_at": Attr(t.Timestamp(), sort=True, filter=False),
        "updated_at": Attr(t.Timestamp(), sort=True, filter=False),
        "revision_number": Attr(t.Integer(0), sort=True),
    }


NETWORK = {
    **standard_attributes(),
    "admin_state_up": Attr(t.Boolean(), post=True, put=True, sort=True),
    "shared": Attr(t.Boolean(), post=True, put=True, sort=True,
                   doc="Visible to, and usable by, every project (admin only)."),
    "status": Attr(t.String(16), sort=True),
    "mtu": Attr(t.Integer(68, 9000), post=True, put=True, sort=True,
                doc="Default 1450: room for the VXLAN header on a 1500-byte underlay."),
    "subnets": Attr(t.ListOf(t.Uuid())),
}

ALLOCATION_POOL = t.Record({"start": t.IpAddress(), "end": t.IpAddress()}, ("start", "end"))
HOST_ROUTE = t.Record({"destination": t.Cidr(), "nexthop": t.IpAddress()},
                      ("destination", "nexthop"))
IPV6_MODE = t.Enum("slaac", "dhcpv6-stateful", "dhcpv6-stateless")

SUBNET = {
    **standard_attributes(),
    "network_id": Attr(t.Uuid(), post=True, required=True, sort=True),
    "ip_version": Attr(t.Enum(4, 6), post=True, sort=True,
                       doc="Inferred from the CIDR when omitted."),
    "cidr": Attr(t.Cidr(), post=True, required=True, sort=True),
    "gateway_ip": Attr(t.IpAddress(), post=True, put=True, nullable=True,
                       doc="Defaults to the first host address; null for no gateway."),
    "allocation_pools": Attr(t.ListOf(ALLOCATION_POOL, 100), post=True, put=True, filter=False),
    "enable_dhcp": Attr(t.Boolean(), post=True, put=True, sort=True),
    "dns_nameservers": Attr(t.ListOf(t.IpAddress(), 10), post=True, put=True, filter=False),
    "host_routes": Attr(t.ListOf(HOST_ROUTE, 50), post=True, put=True, filter=False),
    "ipv6_ra_mode": Attr(IPV6_MODE, post=True, nullable=True),
    "ipv6_address_mode": Attr(IPV6_MODE, post=True, nullable=True),
    "subnetpool_id": Attr(t.Uuid(), nullable=True, filter=False),
}

FIXED_IP = t.Record({"subnet_id": t.Uuid(), "ip_address": t.IpAddress()}, min_keys=1)

PORT = {
    **standard_attributes(),
    "network_id": Attr(t.Uuid(), post=True, required=True, sort=True),
    "mac_address": Attr(t.MacAddress(), post=True, put=True, sort=True),
    "fixed_ips": Attr(t.ListOf(FIXED_IP, 50), post=True, put=True,
                      doc="Filter with fixed_ips=ip_address=X or fixed_ips=subnet_id=Y."),
    "device_id": Attr(t.String(255), post=True, put=True, sort=True),
    "device_owner": Attr(t.String(255), post=True, put=True, sort=True),
    "admin_state_up": Attr(t.Boolean(), post=True, put=True, sort=True),
    "status": Attr(t.String(16), sort=True),
}

CORE_RESOURCES = [
    ResourceSpec("network", "networks", NETWORK,
                 doc="Isolated L2 networks; each is carried on the wire by its own VNI."),
    ResourceSpec("subnet", "subnets", SUBNET,
                 doc="IPv4/IPv6 ranges of a network, with the pools ports get addresses from."),
    ResourceSpec("port", "ports", PORT,
                 doc="Places on a network where an interface plugs in (its MAC and fixed IPs)."),
]
