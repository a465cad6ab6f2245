"""What overlay mode's desired state (apps/incremental.py) knows of routers and floating IPs.

Routing on the sending hypervisor (apps/l3.py) widens who carries a network: a hypervisor
with a port on network A carries every network that shares a router with A (it routes into
them), and a router's gateway hypervisor carries all of the router's networks. ``Routing``
keeps the routers and floating IPs as they were folded in, the index from a network to its
routers, each router's gateway hypervisor and each floating IP's, and the external
neighbours the controller learned (ARP), so the desired state can say who carries what and
which pieces a change reaches.
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class External:
    """What the pieces need of a router's external network: its VNI and the gateway of the
    subnet the router's gateway is on (the next hop to the rest)."""

    vni: int
    gateway_ip: str | None


class Routing:
    def __init__(self):
        self.routers = {}         # router id -> Router folded in
        self.fips = {}            # floating IP id -> FloatingIP folded in
        self.net_routers = {}     # network id -> ids of routers with an interface on it
        self.gateway_of = {}      # router id -> its gateway hypervisor (or absent)
        self.port_fips = {}       # port id -> ids of the floating IPs associated with it
        self.neighbors = {}       # external network id -> {ip: mac} learned
        self.ext_gateway_ip = {}  # router id -> the gateway of its external subnet

    # -- folding in ----------------------------------------------------------------------------
    def fold_router(self, router_id, router):
        old = self.routers.pop(router_id, None)
        if old is not None:
            for n in networks_of(old):
                ids = self.net_routers.get(n)
                ids.discard(router_id)
                if not ids:
                    del self.net_routers[n]
        if router is not None:
            self.routers[router_id] = router
            for n in networks_of(router):
                self.net_routers.setdefault(n, set()).add(router_id)

    def fold_fip(self, fip_id, fip):
        old = self.fips.pop(fip_id, None)
        if old is not None and old.port_id:
            ids = self.port_fips.get(old.port_id)
            ids.discard(fip_id)
            if not ids:
                del self.port_fips[old.port_id]
        if fip is not None:
            self.fips[fip_id] = fip
            if fip.port_id:
                self.port_fips.setdefault(fip.port_id, set()).add(fip_id)

    def learn(self, net_id, ip, mac):
        """Note an external neighbour; True if it is new or moved."""
        known = self.neighbors.setdefault(net_id, {})
        if known.get(ip) == mac:
            return False
        known[ip] = mac
        return True

    # -- lookups -------------------------------------------------------------------------------
    def linked(self, net_id):
        """Networks sharing a router with ``net_id`` (itself included when it has one)."""
        out = set()
        for r in self.net_routers.get(net_id, ()):
            out |= networks_of(self.routers[r])
        return out

    def gateway_network(self, router_id):
        router = self.routers.get(router_id)
        return router.gateway.network_id if router and router.gateway else None

    def routers_through(self, ext_net_id):
        return [r for r, router in self.routers.items()
                if router.gateway and router.gateway.network_id == ext_net_id]

    def choose_gateways(self, physnet_of, mapped):
        """Recompute every router's gateway hypervisor: the lowest system-id among those
        whose bridge mappings reach the gateway's physical network (``mapped``: chassis id
        -> {physical network: ofport}; ``physnet_of``: network id -> its physical network).
        Returns {router id: (gateway before, gateway now)} of those that moved."""
        moved = {}
        for r in set(self.routers) | set(self.gateway_of):
            physnet = physnet_of(self.gateway_network(r)) if r in self.routers else None
            host = min((c for c, m in mapped.items() if physnet and physnet in m),
                       default=None)
            if host != self.gateway_of.get(r):
                moved[r] = (self.gateway_of.get(r), host)
                if host is None:
                    self.gateway_of.pop(r, None)
                else:
                    self.gateway_of[r] = host
        return moved

    def fip_host(self, fip_id, bound, physnet_of, mapped):
        """Where a floating IP lives: its port's hypervisor when that one reaches the
        external network (distributed), else its router's gateway hypervisor; None when
        not associated or its router has no gateway."""
        fip = self.fips.get(fip_id)
        router = self.routers.get(fip.router_id) if fip and fip.router_id else None
        if fip is None or fip.port_id is None or router is None or router.gateway is None:
            return None
        where = bound.get(fip.port_id)
        physnet = physnet_of(fip.network_id)
        if where is not None and physnet and physnet in mapped.get(where[0], {}):
            return where[0]
        return self.gateway_of.get(router.id)


def networks_of(router):
    """The tenant networks a router has interfaces on (not its gateway's)."""
    return {i.network_id for i in router.interfaces}
