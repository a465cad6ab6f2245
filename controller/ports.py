"""Ports: a place on a network where an interface plugs in, with its MAC and fixed IPs."""
import random

import netaddr
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from controller import errors, ipam
from controller.models import IPAllocation, Network, Port, Subnet
from controller.resource import ResourceManager, isoformat, new_id, touch

MAC_TRIES = 16


class PortManager(ResourceManager):
    resource = "port"
    collection = "ports"
    model = Port
    not_found = errors.PortNotFound
    columns = {"tenant_id": "project_id", "binding:host_id": "binding_host"}
    load_options = (selectinload(Port.fixed_ips),)

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
        return super().filter_clause(attr, values)

    def to_dict(self, port):
        bound = port.binding_datapath is not None
        return {
            "id": port.id,
            "name": port.name,
            "description": port.description,
            "project_id": port.project_id,
            "tenant_id": port.project_id,
            "network_id": port.network_id,
            "mac_address": port.mac_address,
            "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                          for a in port.fixed_ips],
            "device_id": port.device_id,
            "device_owner": port.device_owner,
            "admin_state_up": port.admin_state_up,
            "status": port.status,
            "attachment": port.attachment,
            "port_security_enabled": port.port_security_enabled,
            "allowed_address_pairs": [dict(p) for p in port.allowed_address_pairs],
            "binding:host_id": port.binding_host,
            "binding:profile": dict(port.binding_profile or {}),
            "binding:vif_type": "ovs" if bound else "unbound",
            "binding:vif_details": ({"datapath_id": port.binding_datapath,
                                     "ofport": port.binding_ofport} if bound else {}),
            "binding:vnic_type": "normal",
            "created_at": isoformat(port.created_at),
            "updated_at": isoformat(port.updated_at),
            "revision_number": port.revision_number,
        }

    # -- addresses -----------------------------------------------------------------------------
    def _choose_mac(self, session, network_id, requested, port_id=None):
        if requested is not None:
            mac = ipam.normalize_mac(requested)
            holder = session.scalar(select(Port.id).where(Port.network_id == network_id,
                                                          Port.mac_address == mac))
            if holder is not None and holder != port_id:
                raise errors.MacAddressInUse(net_id=network_id, mac=mac)
            return mac
        for _ in range(MAC_TRIES):
            mac = ipam.random_mac(self.core.config.base_mac)
            if session.scalar(select(Port.id).where(Port.network_id == network_id,
                                                    Port.mac_address == mac)) is None:
                return mac
        raise errors.Conflict(f"No free MAC address found on network {network_id}.")

    @staticmethod
    def _auto_ip(session, sub):
        """A free address of ``sub``: random probes first, an exact scan when they all miss."""
        candidates = ipam.random_candidates(sub.allocation_pools)
        used = set(session.scalars(select(IPAllocation.ip_address).where(
            IPAllocation.subnet_id == sub.id, IPAllocation.ip_address.in_(candidates))))
        free = [ip for ip in candidates if ip not in used]
        if free:
            return random.choice(free)  # not the lowest: concurrent writers rarely collide
        used = session.scalars(select(IPAllocation.ip_address).where(
            IPAllocation.subnet_id == sub.id)).all()
        return ipam.first_free(sub.allocation_pools, used)

    def _allocate(self, session, network, requested, device_owner, keep=()):
        """Turn requested fixed_ips (or None: the defaults) into [(subnet, ip)].

        Explicit addresses are checked (usable, not the gateway, not taken); the others come
        from the pools. Without a request a port gets one address from the first IPv4 subnet
        that has one free, and one from the first IPv6 subnet.
        """
        subnets = list(session.scalars(select(Subnet).where(Subnet.network_id == network.id)
                                       .order_by(Subnet.created_at, Subnet.id)))
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
                    raise errors.IpAddressGenerationFailure(net_id=network.id)
            return out
        seen = set()
        for entry in requested:
            sub = by_id.get(entry.get("subnet_id")) if entry.get("subnet_id") else None
            if entry.get("subnet_id") and sub is None:
                raise errors.InvalidInput(
                    error=f"subnet {entry['subnet_id']} is not on network {network.id}")
            ip = entry.get("ip_address")
            if ip is not None:
                addr = netaddr.IPAddress(ip)
                if sub is None:
                    sub = next((s for s in subnets if addr in netaddr.IPNetwork(s.cidr)), None)
                    if sub is None:
                        raise errors.InvalidInput(
                            error=f"IP address {ip} is in no subnet of network {network.id}")
                ip = ipam.check_address_in_subnet(ip, netaddr.IPNetwork(sub.cidr))
                if (sub.id, ip) in seen:
                    raise errors.InvalidInput(error=f"IP address {ip} requested twice")
                if (sub.id, ip) not in kept:
                    if ip == sub.gateway_ip and not device_owner.startswith("network:router"):
                        raise errors.IpAddressInUse(net_id=network.id, ip=ip)
                    if session.scalar(select(IPAllocation.id).where(
                            IPAllocation.subnet_id == sub.id, IPAllocation.ip_address == ip)):
                        raise errors.IpAddressInUse(net_id=network.id, ip=ip)
            else:
                held = next((a.ip_address for a in keep if a.subnet_id == sub.id), None)
                ip = held or self._auto_ip(session, sub)
                if ip is None:
                    raise errors.IpAddressGenerationFailure(net_id=network.id)
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

    def _check_attachment(self, session, interface_id, port_id):
        holder = session.scalar(select(Port.id).where(Port.attachment == interface_id))
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
            network = self.core.networks.find(session, ctx, attrs["network_id"])
            project = self.owner_of_new(ctx, attrs)
            device_owner = attrs.get("device_owner", "")
            mac = self._choose_mac(session, network.id, attrs.get("mac_address"))
            port = Port(id=attrs.get("id") or new_id(), project_id=project,
                        network_id=network.id, name=attrs.get("name", ""),
                        description=attrs.get("description", ""), mac_address=mac,
                        device_id=attrs.get("device_id", ""), device_owner=device_owner,
                        admin_state_up=attrs.get("admin_state_up", True), status="DOWN",
                        port_security_enabled=attrs.get("port_security_enabled", True),
                        binding_host=attrs.get("binding:host_id", ""),
                        binding_profile=attrs.get("binding:profile", {}), fixed_ips=[])
            port.allowed_address_pairs = self._address_pairs(
                attrs.get("allowed_address_pairs", []), mac)
            self._check_security(port)
            if attrs.get("attachment") is not None:
                self._check_attachment(session, attrs["attachment"], port.id)
                port.attachment = attrs["attachment"]
            for sub, ip in self._allocate(session, network, attrs.get("fixed_ips"),
                                          device_owner):
                port.fixed_ips.append(IPAllocation(subnet_id=sub.id, network_id=network.id,
                                                   ip_address=ip))
            session.add(port)
            session.flush()
            new = self.to_dict(port)
            changes = [self.change(ctx, "created", None, new)]
            return new, changes + self._attachment_changes(ctx, None, new)

        return self.core.write(work)

    @staticmethod
    def _check_security(port):
        if not port.port_security_enabled and port.allowed_address_pairs:
            raise errors.Conflict("Port security must be enabled to have allowed address pairs "
                                  f"on port {port.id}.")

    def update(self, ctx, id_, attrs, only_if_free=False):
        def work(session):
            port = self.find(session, ctx, id_)
            self.check_owner(ctx, port, "update")
            if only_if_free and port.attachment not in (None, attrs.get("attachment")):
                raise errors.PortInUse(id=port.id, attachment=port.attachment)
            old = self.to_dict(port)
            if "mac_address" in attrs:
                port.mac_address = self._choose_mac(session, port.network_id,
                                                    attrs["mac_address"], port.id)
            if "fixed_ips" in attrs:
                network = session.get(Network, port.network_id)
                wanted = self._allocate(session, network, attrs["fixed_ips"],
                                        attrs.get("device_owner", port.device_owner),
                                        keep=port.fixed_ips)
                wanted_keys = {(s.id, ip) for s, ip in wanted}
                current = {(a.subnet_id, a.ip_address): a for a in port.fixed_ips}
                for key, alloc in current.items():
                    if key not in wanted_keys:
                        port.fixed_ips.remove(alloc)
                session.flush()
                for sub, ip in wanted:
                    if (sub.id, ip) not in current:
                        port.fixed_ips.append(IPAllocation(subnet_id=sub.id,
                                                           network_id=port.network_id,
                                                           ip_address=ip))
            if "allowed_address_pairs" in attrs:
                port.allowed_address_pairs = self._address_pairs(attrs["allowed_address_pairs"],
                                                                 port.mac_address)
            if "attachment" in attrs and attrs["attachment"] is not None:
                self._check_attachment(session, attrs["attachment"], port.id)
            simple = {"name": "name", "description": "description", "device_id": "device_id",
                      "device_owner": "device_owner", "admin_state_up": "admin_state_up",
                      "port_security_enabled": "port_security_enabled",
                      "attachment": "attachment", "binding:host_id": "binding_host",
                      "binding:profile": "binding_profile"}
            for key, column in simple.items():
                if key in attrs:
                    setattr(port, column, attrs[key])
            if "attachment" in attrs and attrs["attachment"] != old["attachment"]:
                # A new interface is not where the old one was bound: the back-end rebinds.
                port.binding_datapath = port.binding_ofport = None
                port.status = "DOWN"
            self._check_security(port)
            touch(port)
            session.flush()
            new = self.to_dict(port)
            return new, ([self.change(ctx, "updated", old, new)]
                         + self._attachment_changes(ctx, old, new))

        return self.core.write(work)

    def report_status(self, id_, status, host="", datapath=None, ofport=None):
        """For back-ends: where a port is bound and whether it carries traffic.

        This is the back-end's answer to a change, not a tenant's change, so the plug-in is not
        told about it. Returns False when the port no longer exists.
        """
        def work(session):
            port = session.get(Port, id_)
            if port is None:
                return False
            port.status, port.binding_datapath, port.binding_ofport = status, datapath, ofport
            if host:
                port.binding_host = host
            return True
        return self.core.db.run_write(work)

    def plug(self, ctx, id_, interface_id):
        """Plug an interface into a port that is free (or already holds it): Quantum's rule."""
        return self.update(ctx, id_, {"attachment": interface_id}, only_if_free=True)

    def delete(self, ctx, id_, only_if_unplugged=False):
        def work(session):
            port = self.find(session, ctx, id_)
            self.check_owner(ctx, port, "delete")
            if only_if_unplugged and port.attachment is not None:
                raise errors.PortInUse(id=port.id, attachment=port.attachment)
            old = self.to_dict(port)
            session.delete(port)
            return None, (self._attachment_changes(ctx, old, None)
                          + [self.change(ctx, "deleted", old, None)])

        self.core.write(work)
