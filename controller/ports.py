"""Ports: a place on a network where an interface plugs in, with its MAC and fixed IPs."""
import random
import types

import netaddr
from sqlalchemy import bindparam, insert, or_, select
from sqlalchemy.orm import joinedload, object_session, selectinload

from controller import errors, ipam, logical, rbac
from controller.context import Context
from controller.models import IPAllocation, Network, Port, Subnet, utcnow
from controller.networks import as_parent
from controller.resource import ResourceManager, isoformat, new_id, touch

#: Port ids per ``IN (...)`` when a list reads the fixed IPs of its rows (well under the bound
#: parameter limits of SQLite and PostgreSQL).
IN_CHUNK = 500

# The statements every port create runs, built once with bind parameters: building a statement
# and the cache key SQLAlchemy derives from it cost about what running it does, and a reused
# statement keeps its key. They name table columns, not ORM attributes, so rows come back
# without ORM processing.
_PORTS, _SUBNETS, _ALLOCATIONS = Port.__table__.c, Subnet.__table__.c, IPAllocation.__table__.c
_SUBNETS_OF_NETWORK = (
    select(_SUBNETS.id, _SUBNETS.ip_version, _SUBNETS.cidr, _SUBNETS.gateway_ip,
           _SUBNETS.allocation_pools)
    .where(_SUBNETS.network_id == bindparam("network_id"))
    .order_by(_SUBNETS.created_at, _SUBNETS.id))
_USED_AMONG = select(_ALLOCATIONS.ip_address).where(
    _ALLOCATIONS.subnet_id == bindparam("subnet_id"),
    _ALLOCATIONS.ip_address.in_(bindparam("candidates", expanding=True)))
_INSERT_PORT = insert(Port.__table__)
# What report_status compares a report with.
_BINDING_OF_PORT = select(_PORTS.status, _PORTS.binding_datapath, _PORTS.binding_ofport,
                          _PORTS.binding_host, _PORTS.binding_error).where(
    _PORTS.id == bindparam("id"))
_INSERT_ALLOCATIONS = insert(IPAllocation.__table__)
# A port's network's owner, and whether it is shared with the port's project.
_NETWORK_OWNER = select(
    Network.__table__.c.project_id,
    or_(Network.__table__.c.shared.is_(True),
        rbac.shared_with("network", Network.__table__.c.id, bindparam("project_id")))
    .label("shared")).where(Network.__table__.c.id == bindparam("id"))
#: Who writes a back-end's status reports.
BACKEND = Context.admin()
#: A port's device owner and addresses (one row per address; one row of NULLs for none), for
#: any caller (admin) and for the port's own project: ``PortManager.addresses``.
_ADDRESSES = {"admin": select(_PORTS.device_owner, _ALLOCATIONS.ip_address,
                              _ALLOCATIONS.subnet_id)
              .select_from(Port.__table__.outerjoin(IPAllocation.__table__,
                                                    _ALLOCATIONS.port_id == _PORTS.id))
              .where(_PORTS.id == bindparam("id")).order_by(_ALLOCATIONS.id)}
_ADDRESSES["own"] = _ADDRESSES["admin"].where(_PORTS.project_id == bindparam("project"))


class PortManager(ResourceManager):
    resource = "port"
    collection = "ports"
    model = Port
    not_found = errors.PortNotFound
    columns = {"tenant_id": "project_id", "binding:host_id": "binding_host"}
    load_options = (selectinload(Port.fixed_ips), selectinload(Port.security_group_bindings))
    # One port: its addresses and groups joined into the one SELECT (selectinload would add
    # a SELECT per collection: half the CPU of a port update, docs/benchmarks.md).
    find_options = (joinedload(Port.fixed_ips), joinedload(Port.security_group_bindings))
    defaults = {"port_security_enabled": True, "allowed_address_pairs": [], "device_owner": "",
                "binding:host_id": "", "binding:profile": {}}

    def addresses(self, session, ctx, port_id):
        """(device owner, [(ip_address, subnet_id), ...]) of port ``port_id`` if ``ctx`` may
        see it (``find``'s rule), else not-found: what a floating IP's association asks of a
        port, in one plain SELECT without loading the port (it is on the path of associate
        -> first packet, docs/l3.md)."""
        if self.core.policy.is_admin(ctx):
            rows = session.execute(_ADDRESSES["admin"], {"id": port_id}).all()
        else:
            rows = session.execute(_ADDRESSES["own"], {"id": port_id,
                                                       "project": ctx.project_id}).all()
        if not rows:
            raise self.not_found(id=port_id)
        return rows[0].device_owner, [(r.ip_address, r.subnet_id) for r in rows
                                      if r.ip_address is not None]

    def target(self, row):
        """A port's owner and its network's: who may change what on a shared network."""
        network = object_session(row).execute(
            _NETWORK_OWNER, {"id": row.network_id, "project_id": row.project_id}).first()
        return {**super().target(row), **as_parent(network.project_id, network.shared)}

    def filter_clause(self, attr, values):
        """``fixed_ips`` filters take Neutron's ``ip_address=X`` / ``subnet_id=Y`` form."""
        if attr == "fixed_ips":
            ip_clauses = []
            for value in values:
                key, _, wanted = value.partition("=")
                if key not in ("ip_address", "subnet_id") or not wanted:
                    raise errors.InvalidInput(
                        error=f"fixed_ips filter '{value}' is not ip_address=X or subnet_id=Y")
                ip_clauses.append(getattr(IPAllocation, key) == wanted)
            return Port.id.in_(select(IPAllocation.port_id).where(*ip_clauses))
        if attr == "security_groups":
            return self.core.security_groups.ports_in(values)
        return super().filter_clause(attr, values)

    def to_dict(self, port, fixed_ips=None, security_groups=None):
        """The API body of a port.

        ``port`` is a Port, or any object with the port columns as attributes (a list's plain
        row, a create's new values) given with its ``fixed_ips`` as (subnet_id, ip_address)
        pairs in allocation order and its ``security_groups`` ids; the body is the same
        either way.
        """
        if fixed_ips is None:
            fixed_ips = [(a.subnet_id, a.ip_address) for a in port.fixed_ips]
        if security_groups is None:
            security_groups = [b.security_group_id for b in port.security_group_bindings]
        bound = port.binding_datapath is not None
        return {
            "id": port.id,
            "name": port.name,
            "description": port.description,
            "project_id": port.project_id,
            "tenant_id": port.project_id,
            "network_id": port.network_id,
            "mac_address": port.mac_address,
            "fixed_ips": [{"subnet_id": subnet_id, "ip_address": ip}
                          for subnet_id, ip in fixed_ips],
            "device_id": port.device_id,
            "device_owner": port.device_owner,
            "admin_state_up": port.admin_state_up,
            "status": port.status,
            "attachment": port.attachment,
            "binding_error": port.binding_error,
            "port_security_enabled": port.port_security_enabled,
            "allowed_address_pairs": [dict(p) for p in port.allowed_address_pairs],
            "qos_policy_id": port.qos_policy_id,
            "security_groups": sorted(security_groups),
            "binding:host_id": port.binding_host,
            "binding:profile": dict(port.binding_profile or {}),
            "binding:vif_type": ("ovs" if bound else
                                 "binding_failed" if port.binding_error else "unbound"),
            "binding:vif_details": ({"datapath_id": port.binding_datapath,
                                     "ofport": port.binding_ofport} if bound else {}),
            "binding:vnic_type": "normal",
            "created_at": isoformat(port.created_at),
            "updated_at": isoformat(port.updated_at),
            "revision_number": port.revision_number,
        }

    # -- lists -----------------------------------------------------------------------------------
    # A page of ports is read as plain rows plus one query for all their addresses: building
    # ORM objects (and selectin-loading fixed_ips) was the larger part of listing thousands.
    def list_select(self):
        return select(*Port.__table__.columns)

    def list_rows(self, session, query):
        return session.execute(query).all()

    def rows_to_dicts(self, session, rows):
        ids = [row.id for row in rows]
        fixed_ips = self._fixed_ips_of(session, ids)
        groups = self.core.security_groups.groups_of_ports(session, ids, IN_CHUNK)
        return [self.to_dict(row, fixed_ips.get(row.id, ()), groups.get(row.id, ()))
                for row in rows]

    @staticmethod
    def _fixed_ips_of(session, port_ids):
        """{port id: [(subnet_id, ip_address), ...]} in allocation order."""
        out = {}
        for i in range(0, len(port_ids), IN_CHUNK):
            rows = session.execute(
                select(IPAllocation.port_id, IPAllocation.subnet_id, IPAllocation.ip_address)
                .where(IPAllocation.port_id.in_(port_ids[i:i + IN_CHUNK]))
                .order_by(IPAllocation.id))
            for port_id, subnet_id, ip in rows:
                out.setdefault(port_id, []).append((subnet_id, ip))
        return out

    # -- addresses -----------------------------------------------------------------------------
    def _choose_mac(self, session, network_id, requested, port_id=None):
        """The port's MAC: the requested one if no other port of the network has it, else a
        random one under the base MAC.

        A random MAC is not looked up first: with 2**24 of them a clash is rare, and then the
        uniq_ports_mac constraint fails the INSERT and ``run_write`` runs the whole create again
        with a new MAC. A requested MAC is checked, so its clash is a clear 409 MacAddressInUse.
        """
        if requested is None:
            return ipam.random_mac(self.core.config.base_mac)
        mac = ipam.normalize_mac(requested)
        holder = session.scalar(select(Port.id).where(Port.network_id == network_id,
                                                      Port.mac_address == mac))
        if holder is not None and holder != port_id:
            raise errors.MacAddressInUse(net_id=network_id, mac=mac)
        return mac

    @staticmethod
    def _subnets(session, network_id):
        """The network's subnets, oldest first, as rows of what address choice needs."""
        return session.execute(_SUBNETS_OF_NETWORK, {"network_id": network_id}).all()

    @staticmethod
    def _auto_ip(session, sub):
        """A free address of ``sub``: random probes first, an exact scan when they all miss."""
        for count in ipam.PROBE_ROUNDS:
            candidates = ipam.random_candidates(sub.allocation_pools, count)
            used = set(session.scalars(_USED_AMONG, {"subnet_id": sub.id,
                                                     "candidates": candidates}))
            free = [ip for ip in candidates if ip not in used]
            if free:
                return random.choice(free)  # not the lowest: concurrent writers rarely collide
        used = session.scalars(select(IPAllocation.ip_address).where(
            IPAllocation.subnet_id == sub.id)).all()
        return ipam.first_free(sub.allocation_pools, used)

    def _allocate(self, session, network_id, requested, device_owner, keep=()):
        """Turn requested fixed_ips (or None: the defaults) into [(subnet, ip)].

        Explicit addresses are checked (usable, not the gateway, not taken); the others come
        from the pools. Without a request a port gets one address from the first IPv4 subnet
        that has one free, and one from the first IPv6 subnet.
        """
        subnets = self._subnets(session, network_id)
        by_id = {s.id: s for s in subnets}
        kept = {(a.subnet_id, a.ip_address) for a in keep}
        out = []
        if requested is None:
            for version in (4, 6):
                family = [s for s in subnets if s.ip_version == version]
                if not family:
                    continue
                for sub in family:
                    ip = self._auto_ip(session, sub)
                    if ip is not None:
                        out.append((sub, ip))
                        break
                else:
                    raise errors.IpAddressGenerationFailure(net_id=network_id)
            return out
        seen = set()
        for entry in requested:
            sub = by_id.get(entry.get("subnet_id")) if entry.get("subnet_id") else None
            if entry.get("subnet_id") and sub is None:
                raise errors.InvalidInput(
                    error=f"subnet {entry['subnet_id']} is not on network {network_id}")
            ip = entry.get("ip_address")
            if ip is not None:
                addr = netaddr.IPAddress(ip)
                if sub is None:
                    sub = next((s for s in subnets if addr in netaddr.IPNetwork(s.cidr)), None)
                    if sub is None:
                        raise errors.InvalidInput(
                            error=f"IP address {ip} is in no subnet of network {network_id}")
                ip = ipam.check_address_in_subnet(ip, netaddr.IPNetwork(sub.cidr))
                if (sub.id, ip) in seen:
                    raise errors.InvalidInput(error=f"IP address {ip} requested twice")
                if (sub.id, ip) not in kept:
                    if ip == sub.gateway_ip and not device_owner.startswith("network:router"):
                        raise errors.IpAddressInUse(net_id=network_id, ip=ip)
                    if session.scalar(select(IPAllocation.id).where(
                            IPAllocation.subnet_id == sub.id, IPAllocation.ip_address == ip)):
                        raise errors.IpAddressInUse(net_id=network_id, ip=ip)
            else:
                held = next((a.ip_address for a in keep if a.subnet_id == sub.id), None)
                ip = held or self._auto_ip(session, sub)
                if ip is None:
                    raise errors.IpAddressGenerationFailure(net_id=network_id)
            seen.add((sub.id, ip))
            out.append((sub, ip))
        return out

    @staticmethod
    def _address_pairs(pairs, port_mac):
        out = []
        for pair in pairs:
            try:
                ip = netaddr.IPNetwork(pair["ip_address"])
            except (netaddr.AddrFormatError, ValueError, TypeError):
                raise errors.InvalidInput(
                    error=f"allowed address pair '{pair['ip_address']}' is not an IP or CIDR")
            host = ip.prefixlen == (32 if ip.version == 4 else 128)
            value = str(ip.ip) if host else str(ip.cidr)
            mac = ipam.normalize_mac(pair["mac_address"]) if pair.get("mac_address") \
                else port_mac
            entry = {"ip_address": value, "mac_address": mac}
            if entry in out:
                raise errors.InvalidInput(error=f"duplicate allowed address pair {entry}")
            out.append(entry)
        return out

    def _check_attachment(self, session, project_id, interface_id, port_id):
        """An interface is plugged into one port of its project at a time. Another project
        may name the same interface: that blocks no one and binds nothing it should not
        (docs/security.md)."""
        holder = session.scalar(select(Port.id).where(Port.project_id == project_id,
                                                      Port.attachment == interface_id))
        if holder is not None and holder != port_id:
            raise errors.AlreadyAttached(attachment=interface_id, id=port_id)

    # -- writes ------------------------------------------------------------------------------------
    def _attachment_changes(self, ctx, old, new):
        before = old["attachment"] if old else None
        after = new["attachment"] if new else None
        changes = []
        if before is not None and before != after:
            changes.append(self.change(ctx, "unplugged", old, new, resource="interface"))
        if after is not None and before != after:
            changes.append(self.change(ctx, "plugged", old, new, resource="interface"))
        return changes

    def create(self, ctx, attrs):
        def work(session):
            network_id, network_owner, shared, net_security = self.core.networks.find_brief(
                session, ctx, attrs["network_id"])
            project = self.owner_of_new(ctx, attrs)
            self.authorize(ctx, "create", {"project_id": project, "tenant_id": project,
                                           **as_parent(network_owner, shared)}, attrs)
            mac = self._choose_mac(session, network_id, attrs.get("mac_address"))
            # a port that states no port_security_enabled takes its network's (as Neutron)
            port = self._new_port({"port_security_enabled": net_security is not False, **attrs},
                                  project, network_id, mac)
            self.core.qos.check_usable(session, ctx, port.qos_policy_id)
            self._check_security(port)
            groups, changes = self.core.security_groups.groups_of_new_port(
                session, ctx, port, attrs.get("security_groups"))
            if port.attachment is not None:
                self._check_attachment(session, project, port.attachment, port.id)
            fixed_ips = [(sub.id, ip) for sub, ip in self._allocate(
                session, network_id, attrs.get("fixed_ips"), port.device_owner)]
            self._insert(session, port, fixed_ips)
            self.core.security_groups.bind(session, port.id, groups)
            new = self.to_dict(port, fixed_ips, groups)
            changes.append(self.change(ctx, "created", None, new))
            return new, changes + self._attachment_changes(ctx, None, new)

        return self.core.write(work)

    def create_owned(self, session, ctx, network_id, project, device_owner, device_id,
                     fixed_ips=None):
        """A port the server makes for a router or a floating IP, inside the caller's
        transaction (no policy: the caller judged the action that needs it): no port
        security (it stands for other addresses), ``fixed_ips`` requested as on a create.
        Returns (its API body, its Changes)."""
        attrs = {"device_owner": device_owner, "device_id": device_id,
                 "port_security_enabled": False}
        port = self._new_port(attrs, project, network_id, self._choose_mac(session, network_id,
                                                                           None))
        allocated = [(sub.id, ip) for sub, ip in self._allocate(session, network_id, fixed_ips,
                                                                device_owner)]
        if not allocated:
            raise errors.InvalidInput(error=f"network {network_id} has no subnet to give "
                                            f"the {device_owner} port an address")
        self._insert(session, port, allocated)
        new = self.to_dict(port, allocated, ())
        return new, [self.change(ctx, "created", None, new)]

    def delete_owned(self, session, ctx, port_id):
        """Delete a port the server made (see ``create_owned``); returns its Changes."""
        port = session.get(Port, port_id)
        if port is None:
            return []
        old = self.to_dict(port)
        session.delete(port)
        return [self.change(ctx, "deleted", old, None)]

    def _new_port(self, attrs, project, network_id, mac):
        """Every column of a new port (the defaults spelled out: the body is built from it)."""
        now = utcnow()
        return types.SimpleNamespace(
            id=attrs.get("id") or new_id(), project_id=project, network_id=network_id,
            name=attrs.get("name", ""), description=attrs.get("description", ""),
            mac_address=mac, device_id=attrs.get("device_id", ""),
            device_owner=attrs.get("device_owner", ""),
            admin_state_up=attrs.get("admin_state_up", True), status="DOWN",
            attachment=attrs.get("attachment"),
            binding_host=attrs.get("binding:host_id", ""), binding_datapath=None,
            binding_ofport=None, binding_error=None,
            binding_profile=attrs.get("binding:profile", {}),
            port_security_enabled=attrs.get("port_security_enabled", True),
            allowed_address_pairs=self._address_pairs(attrs.get("allowed_address_pairs", []),
                                                      mac),
            qos_policy_id=attrs.get("qos_policy_id"),
            created_at=now, updated_at=now, revision_number=0)

    @staticmethod
    def _insert(session, port, fixed_ips):
        """Store a new port and its addresses: two Core INSERTs in the caller's transaction.

        The ORM's unit of work (object state, flush ordering) was a fifth of a create's cost and
        bought nothing here: the rows are written once, and the body comes from the same values.
        """
        session.execute(_INSERT_PORT, vars(port))
        if fixed_ips:
            session.execute(_INSERT_ALLOCATIONS, [
                {"port_id": port.id, "subnet_id": subnet_id, "network_id": port.network_id,
                 "ip_address": ip} for subnet_id, ip in fixed_ips])

    def _l3_owner(self, session, port):
        """What makes ``port`` a router's or a floating IP's (the server's to change), or
        None: ports of the tenant's own making carry no such row, whatever their
        device_owner says."""
        kind = self.core.routers.router_port_type(session, port.id)
        if kind is None and self.core.floating_ips.is_floating_port(session, port.id):
            kind = "network:floatingip"
        return kind

    #: what makes a router's or a floating IP's port what it is: not changed by the port API.
    #: Its filtering and plug too: a router's port has port security off (it forwards other
    #: addresses), so an interface plugged into it could send as anyone on the network
    L3_FIXED = ("mac_address", "fixed_ips", "device_owner", "device_id", "attachment",
                "port_security_enabled", "allowed_address_pairs", "security_groups")

    def _check_l3_owned(self, session, port, attrs):
        changed = [k for k in self.L3_FIXED if k in attrs]
        if changed and self._l3_owner(session, port) is not None:
            raise errors.L3PortInUse(port_id=port.id, device_owner=port.device_owner,
                                     done="given a new " + ", ".join(changed))

    @staticmethod
    def _check_security(port):
        if not port.port_security_enabled and port.allowed_address_pairs:
            raise errors.Conflict("Port security must be enabled to have allowed address pairs "
                                  f"on port {port.id}.")

    def update(self, ctx, id_, attrs, only_if_free=False):
        def work(session):
            port = self.find(session, ctx, id_)
            self.check_owner(ctx, port, "update", attrs)
            if only_if_free and port.attachment not in (None, attrs.get("attachment")):
                raise errors.PortInUse(id=port.id, attachment=port.attachment)
            old = self.to_dict(port)
            self._check_l3_owned(session, port, attrs)
            lost_floating_ips = []
            if "mac_address" in attrs:
                port.mac_address = self._choose_mac(session, port.network_id,
                                                    attrs["mac_address"], port.id)
            if "fixed_ips" in attrs:
                wanted = self._allocate(session, port.network_id, attrs["fixed_ips"],
                                        attrs.get("device_owner", port.device_owner),
                                        keep=port.fixed_ips)
                wanted_keys = {(s.id, ip) for s, ip in wanted}
                current = {(a.subnet_id, a.ip_address): a for a in port.fixed_ips}
                for key, alloc in current.items():
                    if key not in wanted_keys:
                        port.fixed_ips.remove(alloc)
                session.flush()
                lost_floating_ips = self.core.floating_ips.forget_addresses(
                    session, ctx, port.id, kept={ip for _, ip in wanted_keys})
                for sub, ip in wanted:
                    if (sub.id, ip) not in current:
                        port.fixed_ips.append(IPAllocation(subnet_id=sub.id,
                                                           network_id=port.network_id,
                                                           ip_address=ip))
            if "allowed_address_pairs" in attrs:
                port.allowed_address_pairs = self._address_pairs(attrs["allowed_address_pairs"],
                                                                 port.mac_address)
            if "attachment" in attrs and attrs["attachment"] is not None:
                self._check_attachment(session, port.project_id, attrs["attachment"],
                                       port.id)
            if attrs.get("qos_policy_id") is not None:
                self.core.qos.check_usable(session, ctx, attrs["qos_policy_id"])
            simple = {"name": "name", "description": "description", "device_id": "device_id",
                      "device_owner": "device_owner", "admin_state_up": "admin_state_up",
                      "port_security_enabled": "port_security_enabled",
                      "attachment": "attachment", "binding:host_id": "binding_host",
                      "binding:profile": "binding_profile", "qos_policy_id": "qos_policy_id"}
            for key, column in simple.items():
                if key in attrs:
                    setattr(port, column, attrs[key])
            if "attachment" in attrs and attrs["attachment"] != old["attachment"]:
                # A new interface is not where the old one was bound: the back-end rebinds.
                port.binding_datapath = port.binding_ofport = port.binding_error = None
                port.status = "DOWN"
            self._check_security(port)
            self._update_groups(session, port, attrs, old["security_groups"])
            touch(port)
            session.flush()
            new = self.to_dict(port)
            return new, ([self.change(ctx, "updated", old, new)]
                         + self._attachment_changes(ctx, old, new)
                         + lost_floating_ips)

        return self.core.write(work)

    def _update_groups(self, session, port, attrs, current):
        groups = self.core.security_groups
        wanted = groups.groups_of_updated_port(session, port, attrs, current)
        if sorted(wanted) != current:
            groups.bind(session, port.id, wanted, replace=True)
            session.expire(port, ["security_group_bindings"])

    def report_status(self, id_, status, host="", datapath=None, ofport=None, error=None):
        """For back-ends: where a port is bound and whether it carries traffic, or ``error``:
        why an interface that claims it was not bound (the port is then DOWN and unbound).

        A real change is a write like any other: one transaction, and a ``port`` Change with
        action ``status`` for every listener of the core's changes (a back-end ignores its own
        reports: they change nothing it computes). It is the back-end's answer, not a
        tenant's change, so no plug-in is asked to veto it. Returns False when the port no
        longer exists.

        Back-ends report every port they see, and most reports change nothing (a new port is
        stored DOWN and unbound, which is what its first report says): a plain read answers
        those, and only a real change takes the write lock and a transaction.
        """
        with self.core.db.read() as session:
            current = session.execute(_BINDING_OF_PORT, {"id": id_}).first()
        if current is None:
            return False
        if tuple(current) == (status, datapath, ofport, host or current.binding_host, error):
            return True

        def work(session):
            try:
                port = self.find(session, BACKEND, id_)
            except errors.PortNotFound:
                return False, []
            old = self.to_dict(port)
            port.status, port.binding_datapath, port.binding_ofport = status, datapath, ofport
            port.binding_error = error
            if host:
                port.binding_host = host
            session.flush()
            return True, [self.change(BACKEND, "status", old, self.to_dict(port))]
        return self.core.write(work, veto=False)

    def report_statuses(self, reports, batch=1000):
        """``report_status`` for many ports at once -- a cold start reports every port: the
        current bindings are read with one query, and the ports whose status really changed
        are written in one transaction, a Change each, ``batch`` ports at a time. ``reports``:
        (id, status, host, datapath, ofport, error) tuples. Ports that no longer exist are
        skipped. Returns how many ports changed."""
        reports = list(reports)
        changed = 0
        for start in range(0, len(reports), batch):
            wanted = {r[0]: r[1:] for r in reports[start:start + batch]}
            with self.core.db.read() as session:
                rows = session.execute(select(_PORTS.id, *_BINDING_OF_PORT.selected_columns)
                                       .where(_PORTS.id.in_(list(wanted)))).all()
            todo = {}
            for row in rows:
                status, host, datapath, ofport, error = wanted[row.id]
                if tuple(row[1:]) != (status, datapath, ofport, host or row.binding_host, error):
                    todo[row.id] = wanted[row.id]
            if todo:
                changed += self.core.write(lambda session, todo=todo: self._write_statuses(
                    session, todo), veto=False)
        return changed

    def _write_statuses(self, session, todo):
        # one port (a port-up's report, just after its flows left): joined, as ``find``
        options = self.find_options if len(todo) == 1 else self.load_options
        query = select(self.model).where(self.model.id.in_(list(todo))).options(*options)
        changes = []
        for port in session.scalars(query).unique():
            status, host, datapath, ofport, error = todo[port.id]
            old = self.to_dict(port)
            port.status, port.binding_datapath, port.binding_ofport = status, datapath, ofport
            port.binding_error = error
            if host:
                port.binding_host = host
            changes.append((old, port))
        session.flush()
        return len(changes), [self.change(BACKEND, "status", old, self.to_dict(port))
                              for old, port in changes]

    def stats(self, ctx, id_):
        """The back-end's counters for a port the caller can see (404 otherwise)."""
        port = self.get(ctx, id_)
        return {"port_id": port["id"],
                **self.core.plugin.port_stats(logical.from_api("port", port))}

    def plug(self, ctx, id_, interface_id):
        """Plug an interface into a port that is free (or already holds it): Quantum's rule."""
        return self.update(ctx, id_, {"attachment": interface_id}, only_if_free=True)

    def delete(self, ctx, id_, only_if_unplugged=False):
        def work(session):
            port = self.find(session, ctx, id_)
            self.check_owner(ctx, port, "delete")
            if only_if_unplugged and port.attachment is not None:
                raise errors.PortInUse(id=port.id, attachment=port.attachment)
            if self._l3_owner(session, port) is not None:
                raise errors.L3PortInUse(port_id=port.id, device_owner=port.device_owner,
                                         done="deleted")
            old = self.to_dict(port)
            changes = self.core.floating_ips.forget_addresses(session, ctx, port.id)
            session.delete(port)
            return None, (changes + self._attachment_changes(ctx, old, None)
                          + [self.change(ctx, "deleted", old, None)])

        self.core.write(work)
