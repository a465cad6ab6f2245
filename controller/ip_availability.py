"""How many addresses each network and subnet has, and how many are used (operators' view).

Served by the ``network-ip-availability`` API extension; read-only, admin only.
"""
from sqlalchemy import func, select
from sqlalchemy.orm import object_session, selectinload

from controller import errors, ipam
from controller.models import IPAllocation, Network, Subnet
from controller.resource import ResourceManager


class IpAvailabilityManager(ResourceManager):
    resource = "network_ip_availability"
    collection = "network_ip_availabilities"
    model = Network
    not_found = errors.NetworkNotFound
    columns = {"network_id": "id", "network_name": "name", "tenant_id": "project_id"}
    load_options = (selectinload(Network.subnets),)

    def filter_clause(self, attr, values):
        if attr == "ip_version":  # networks with subnets of that version (Neutron's filter)
            return Network.id.in_(select(Subnet.network_id).where(Subnet.ip_version.in_(values)))
        return super().filter_clause(attr, values)

    def list(self, ctx, filters=None, *args, **kwargs):
        """As Neutron: an ``ip_version`` filter also leaves out the other version's subnets
        (``openstack ip availability list`` always sends one)."""
        items, more = super().list(ctx, filters, *args, **kwargs)
        versions = (filters or {}).get("ip_version")
        if versions:
            items = [_totals(item, [s for s in item["subnet_ip_availability"]
                                    if s["ip_version"] in versions]) for item in items]
        return items, more

    def to_dict(self, net):
        session = object_session(net)
        used = dict(session.execute(
            select(IPAllocation.subnet_id, func.count()).where(IPAllocation.network_id == net.id)
            .group_by(IPAllocation.subnet_id)).all())
        subnets = [{"subnet_id": s.id, "subnet_name": s.name, "cidr": s.cidr,
                    "ip_version": s.ip_version, "total_ips": ipam.pool_size(s.allocation_pools),
                    "used_ips": used.get(s.id, 0)} for s in net.subnets]
        return _totals({"network_id": net.id, "network_name": net.name,
                        "project_id": net.project_id, "tenant_id": net.project_id}, subnets)


def _totals(network, subnets):
    """``network``'s usage made of ``subnets``'."""
    return {**network, "total_ips": sum(s["total_ips"] for s in subnets),
            "used_ips": sum(s["used_ips"] for s in subnets), "subnet_ip_availability": subnets}
