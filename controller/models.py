"""Database tables of the logical model (SQLAlchemy 2.x).

Uniqueness that the API promises is enforced by the database itself (unique constraints), so it
holds across processes and on PostgreSQL as well as SQLite: the core checks first to give a clear
error, and the constraint catches the races that slip between check and commit.
"""
import datetime

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, tzinfo=None)


class Base(DeclarativeBase):
    pass


class Timestamped:
    """Columns every API resource carries (Neutron's standard attributes)."""

    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)


class Project(Base):
    """A tenant. Resources name their project by id; tokens belong to one."""

    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class Token(Base):
    """An API token. Only its SHA-256 digest is stored: a stolen database reveals no token."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    # When the token stops working (UTC); null: it lasts until revoked.
    expires_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)


class Hypervisor(Base):
    """A hypervisor registered by ``qnet-manage hypervisor add``: with ``hypervisors =
    registered``, only these system-ids are accepted on the OVSDB manager (the allow-list)."""

    __tablename__ = "hypervisors"
    system_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    tunnel_ip: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class Network(Timestamped, Base):
    __tablename__ = "networks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="", index=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    mtu: Mapped[int] = mapped_column(Integer)
    # The VXLAN network identifier that isolates this network on the wire.
    segmentation_id: Mapped[int] = mapped_column(Integer, unique=True)
    # The QoS policy of the network's ports that name none of their own (qos extension).
    qos_policy_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    # The port_security_enabled of its new ports that state none (port-security extension,
    # as in Neutron); null (databases made before the column) means true.
    port_security_enabled: Mapped[bool | None] = mapped_column(Boolean, nullable=True,
                                                               default=True)
    # router:external (external-net extension): routers may set their gateway on it and
    # floating IPs come from it. Nullable like every column added to an existing table; null
    # reads as false.
    router_external: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=False)
    # provider:network_type "flat" with its provider:physical_network (the name a hypervisor's
    # bridge mapping gives a physical bridge); both null for a VXLAN network.
    network_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    physical_network: Mapped[str | None] = mapped_column(String(64), nullable=True)

    subnets: Mapped[list["Subnet"]] = relationship(
        back_populates="network", cascade="all, delete-orphan", order_by="Subnet.created_at")


class Subnet(Timestamped, Base):
    __tablename__ = "subnets"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"),
                                            index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    ip_version: Mapped[int] = mapped_column(Integer)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Lists of small records that are never queried by SQL: kept as JSON.
    allocation_pools: Mapped[list] = mapped_column(JSON, default=list)
    dns_nameservers: Mapped[list] = mapped_column(JSON, default=list)
    host_routes: Mapped[list] = mapped_column(JSON, default=list)

    network: Mapped[Network] = relationship(back_populates="subnets")


class Port(Timestamped, Base):
    __tablename__ = "ports"
    __table_args__ = (
        UniqueConstraint("network_id", "mac_address", name="uniq_ports_mac"),
        # A network's ports in id order: lists filter on network_id and page by id (keyset), so
        # this index serves each page as a range scan with no sort. It also serves every
        # network_id lookup, so network_id needs no index of its own.
        Index("ix_ports_network_id_id", "network_id", "id"),
        # An attachment (interface id) is unique within its project only: another project
        # setting the same string neither fails (no blocking) nor binds (docs/security.md).
        Index("uniq_ports_project_attachment", "project_id", "attachment", unique=True),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255), default="")
    mac_address: Mapped[str] = mapped_column(String(17))
    device_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    # The interface (a VM's vNIC, ...) plugged into this port; one port per interface and
    # project (see __table_args__).
    attachment: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    # Where the attachment was found: filled in by the back-end, or set by an admin.
    binding_host: Mapped[str] = mapped_column(String(255), default="")
    binding_datapath: Mapped[str | None] = mapped_column(String(16), nullable=True)
    binding_ofport: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Why the back-end bound no interface to this port although one claims it (e.g. an
    # attachment claim that names no project: controller/binding.py); null otherwise.
    binding_error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    binding_profile: Mapped[dict] = mapped_column(JSON, default=dict)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_address_pairs: Mapped[list] = mapped_column(JSON, default=list)
    # The port's own QoS policy; when null, its network's applies (qos extension).
    qos_policy_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)

    fixed_ips: Mapped[list["IPAllocation"]] = relationship(
        back_populates="port", cascade="all, delete-orphan", order_by="IPAllocation.id")
    # Read-only here: memberships are written with plain statements (controller/
    # security_groups.py) and go with the port by the foreign key's cascade.
    security_group_bindings: Mapped[list["SecurityGroupPortBinding"]] = relationship(
        viewonly=True, order_by="SecurityGroupPortBinding.security_group_id")


class IPAllocation(Base):
    """One address held by one port. The unique constraint is the last word on duplicates."""

    __tablename__ = "ipallocations"
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address", name="uniq_ip_per_subnet"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id", ondelete="CASCADE"), index=True)
    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnets.id", ondelete="CASCADE"))
    network_id: Mapped[str] = mapped_column(String(36), index=True)
    ip_address: Mapped[str] = mapped_column(String(64))

    port: Mapped[Port] = relationship(back_populates="fixed_ips")


class QosPolicy(Timestamped, Base):
    """A named set of QoS rules that ports and networks refer to (qos extension).

    Ports and networks name a policy by a plain indexed column, not a foreign key: a column
    added to an existing table cannot gain a constraint on SQLite, and "in use" is a clear
    409 from the core rather than a database error.
    """

    __tablename__ = "qos_policies"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)

    bandwidth_limit_rules: Mapped[list["BandwidthLimitRule"]] = relationship(
        back_populates="policy", cascade="all, delete-orphan",
        order_by="BandwidthLimitRule.direction")


class BandwidthLimitRule(Base):
    """A rate limit in one direction: egress (sent by the port's interface) or ingress."""

    __tablename__ = "qos_bandwidth_limit_rules"
    __table_args__ = (UniqueConstraint("qos_policy_id", "direction",
                                       name="uniq_qos_rule_direction"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    qos_policy_id: Mapped[str] = mapped_column(
        ForeignKey("qos_policies.id", ondelete="CASCADE"), index=True)
    max_kbps: Mapped[int] = mapped_column(Integer)
    # 0: the default burst (see apps/meters.py)
    max_burst_kbps: Mapped[int] = mapped_column(Integer, default=0)
    direction: Mapped[str] = mapped_column(String(8))

    policy: Mapped[QosPolicy] = relationship(back_populates="bandwidth_limit_rules")


class RbacPolicy(Base):
    """Who else may use a network, a QoS policy or an address group (Neutron's RBAC policies):
    ``action`` ``access_as_shared`` (see it, put ports on it / attach it / name it in security
    group rules) or ``access_as_external`` (a network: routers' gateways and floating IPs), for
    ``target_project`` (a project id or ``*``: every project). The ``shared`` and
    ``router:external`` columns of networks and QoS policies mirror these rows
    (controller/rbac.py keeps them in step)."""

    __tablename__ = "rbac_policies"
    __table_args__ = (UniqueConstraint("object_type", "object_id", "action", "target_project",
                                       name="uniq_rbac_entry"),
                      Index("ix_rbac_target", "target_project", "object_type", "action"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(32))
    target_project: Mapped[str] = mapped_column(String(255))


class SecurityGroup(Timestamped, Base):
    """A project's set of allow rules that ports name (security-group extension)."""

    __tablename__ = "securitygroups"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    # False: no connection tracking; replies need rules of their own.
    stateful: Mapped[bool] = mapped_column(Boolean, default=True)

    rules: Mapped[list["SecurityGroupRule"]] = relationship(
        back_populates="group", cascade="all, delete-orphan",
        foreign_keys="SecurityGroupRule.security_group_id", order_by="SecurityGroupRule.id")


class SecurityGroupRule(Timestamped, Base):
    """One allow rule. ``protocol`` is kept as the caller gave it (a name or a number's text,
    as Neutron answers it back); ports are the ICMP type and code for ICMP."""

    __tablename__ = "securitygrouprules"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("securitygroups.id", ondelete="CASCADE"), index=True)
    # Peers are that group's ports; deleting the group deletes the rules that name it (as
    # Neutron: the core reports each group that loses a rule as updated).
    remote_group_id: Mapped[str | None] = mapped_column(
        ForeignKey("securitygroups.id", ondelete="CASCADE"), nullable=True, index=True)
    direction: Mapped[str] = mapped_column(String(8))
    ethertype: Mapped[str] = mapped_column(String(4))
    protocol: Mapped[str | None] = mapped_column(String(40), nullable=True)
    port_range_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    port_range_max: Mapped[int | None] = mapped_column(Integer, nullable=True)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Peers are that address group's CIDRs; an address group a rule names cannot be deleted.
    remote_address_group_id: Mapped[str | None] = mapped_column(
        ForeignKey("address_groups.id"), nullable=True, index=True)

    group: Mapped[SecurityGroup] = relationship(back_populates="rules",
                                                foreign_keys=[security_group_id])


class AddressGroup(Timestamped, Base):
    """A project's named set of CIDRs that security group rules may name as their peers
    (Neutron's address-group extension)."""

    __tablename__ = "address_groups"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")

    addresses: Mapped[list["AddressGroupAddress"]] = relationship(
        cascade="all, delete-orphan", order_by="AddressGroupAddress.address")


class AddressGroupAddress(Base):
    """One CIDR of an address group (kept in its network form: 10.0.0.0/24)."""

    __tablename__ = "address_group_addresses"
    address_group_id: Mapped[str] = mapped_column(
        ForeignKey("address_groups.id", ondelete="CASCADE"), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)


class SecurityGroupPortBinding(Base):
    """A port's membership of a security group."""

    __tablename__ = "securitygroupportbindings"
    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id", ondelete="CASCADE"),
                                         primary_key=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("securitygroups.id"),
                                                   primary_key=True, index=True)


class DefaultSecurityGroup(Base):
    """Each project's ``default`` group, made on first use; the primary key lets only one
    writer make it when two first uses race (the loser's write is retried and finds it)."""

    __tablename__ = "default_security_group"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("securitygroups.id", ondelete="CASCADE"), unique=True)
# -- the cluster (controller/changelog.py, controller/cluster.py) -------------------------------
_SEQ = BigInteger().with_variant(Integer, "sqlite")   # SQLite autoincrements INTEGER keys only


class ChangeRecord(Base):
    """One committed change, written in the transaction that made it: the log every instance of
    a cluster follows to patch its in-memory model (controller/changelog.py). It holds the
    Change's bodies and typed values as JSON text, so that a follower replays the very Change
    the origin's plug-in saw, whatever the resource."""

    __tablename__ = "change_log"
    # never reuse a number (SQLite would reuse the highest after a delete)
    __table_args__ = {"sqlite_autoincrement": True}
    seq: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(String(36))
    resource: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    context: Mapped[str] = mapped_column(Text)
    old: Mapped[str | None] = mapped_column(Text, nullable=True)
    new: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: the typed values (controller/logical.py), as JSON (changelog.typed_to_json)
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Instance(Base):
    """A running ``qnet serve`` of the cluster, as it last reported itself (heartbeat and how
    far it has applied the change log; ``qnet-manage cluster status``)."""

    __tablename__ = "cluster_instances"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    api_url: Mapped[str] = mapped_column(String(255), default="")
    started_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    #: the database's clock (seconds since the epoch) at the last heartbeat
    heartbeat: Mapped[float] = mapped_column(Float)
    applied_seq: Mapped[int] = mapped_column(_SEQ, default=0)
    #: PostgreSQL backend of its change-log listener: gone when the process died
    backend_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Lease(Base):
    """Who masters the switches: held by one instance until ``expires`` (the database's clock),
    renewed by it; every new holder takes the next ``generation``, which it announces to the
    switches in OpenFlow role requests, so that they refuse an older master (cluster.py)."""

    __tablename__ = "cluster_leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(36))
    generation: Mapped[int] = mapped_column(_SEQ)
    expires: Mapped[float] = mapped_column(Float)


class Router(Timestamped, Base):
    """A virtual router (router extension). Its interfaces and gateway are ports, tied to it
    by RouterPort rows (not by the ports' own device_id, which a port's owner may write)."""

    __tablename__ = "routers"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    # The router's own number 1..32767, unique: the back-end derives its conntrack zone from it.
    zone: Mapped[int] = mapped_column(Integer, unique=True)
    # The gateway port on the external network (a RouterPort of type router_gateway too).
    gw_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    # Extra routes [{"destination", "nexthop"}] (extraroute extension): never queried by SQL.
    routes: Mapped[list] = mapped_column(JSON, default=list)


class RouterPort(Base):
    """A port of a router: an interface on a tenant subnet, or the gateway. A port belongs to
    at most one router (primary key); deleting either removes the row."""

    __tablename__ = "routerports"
    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id", ondelete="CASCADE"),
                                         primary_key=True)
    router_id: Mapped[str] = mapped_column(ForeignKey("routers.id", ondelete="CASCADE"),
                                           index=True)
    # network:router_interface or network:router_gateway
    port_type: Mapped[str] = mapped_column(String(255))


class Quota(Base):
    """A project's limit for one resource, where it differs from the default
    (controller/quotas.py)."""

    __tablename__ = "quotas"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer)


class FloatingIP(Timestamped, Base):
    """A floating IP (``/v2.0/floatingips``): an address of an external network, held by a
    port of its own there (device owner network:floatingip), that stands for one fixed
    address of one port through the router that connects that port's subnet to the external
    network. One floating IP per fixed address (unique constraint)."""

    __tablename__ = "floatingips"
    __table_args__ = (UniqueConstraint("fixed_port_id", "fixed_ip_address",
                                       name="uniq_floatingips_fixed"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    floating_network_id: Mapped[str] = mapped_column(String(36), index=True)
    floating_port_id: Mapped[str] = mapped_column(ForeignKey("ports.id", ondelete="CASCADE"),
                                                  unique=True)
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    fixed_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    router_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
