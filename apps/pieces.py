"""The piece families a switch's desired state is made of, declared once for both modes.

A switch holds the union of pieces (apps/flows.py ``Piece``), each under a key ``(family,)``
or ``(family, id)``, and a change recomputes only the pieces that read it (apps/incremental.py
``PieceState``). Both modes' desired states -- overlay's ``incremental.DesiredState`` and
fabric's ``fabric_state.FabricState`` -- take their keys, and the builders of the edge
families, from ``FAMILIES`` below: **this is the one place a new pipeline stage or flow family
(security groups, a router's gateway) is added for both modes.**

* An *edge* family sits where a port or its network is (port security, ARP answers, delivery,
  QoS meters): it reads only the model, so one builder serves both modes (``build``).
* A *transport* family carries frames between switches: VXLAN tunnels in overlay, fabric paths
  in fabric. Each mode builds it (``transport_<name>(switch, id)`` of its desired state).

``held_on`` says which switches hold a family's piece: EVERY switch, the EDGE switches of the
network (those with ports of it bound), every CARRIER of it (edges and, in fabric, the transit
switches on its paths), the port's HOST switch, or the REMOTE carriers (all but its host);
NAMING: the edges where some bound port's rules name one of the port's security groups.
The routing families (apps/l3.py, overlay mode) are held where routing puts them: every
hypervisor carrying a router (ROUTER_HOSTS), its GATEWAY hypervisor, a floating IP's
FIP_HOST; a routed network's edges then include every hypervisor that routes into it.
"""
import dataclasses

from apps import flows

SWITCH, NETWORK, PORT, ROUTER, FLOATING_IP = "switch", "network", "port", "router", "fip"
EVERY, EDGE, CARRIER, HOST, REMOTE = "every", "edge", "carrier", "host", "remote"
#: the EDGE switches where a bound port's rules name one of the port's security groups as
#: their remote group (apps/secgroups.py ``members_wanted``): a member's address flows
NAMING = "naming"
#: routing families (apps/l3.py): on every hypervisor carrying the router, on its gateway
#: hypervisor, where a floating IP lives
ROUTER_HOSTS, GATEWAY, FIP_HOST = "router hosts", "gateway", "floating IP host"


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    scope: str            # what the key's id names: SWITCH (no id), NETWORK or PORT
    held_on: str
    #: edge families: ``build(port, vni, inputs)`` (EDGE, NAMING) or ``build(port, vni, ofport,
    #: inputs)`` (HOST; ``inputs`` apps/model.py PortInputs: its limits, security groups and
    #: the rules naming them), shared by every switch holding it; None: a transport family
    build: object = None
    #: a routing family: the mode's ``routed_piece(switch, key)`` builds it (fabric mode
    #: holds none: it refuses routers, apps/fabric.py)
    routed: bool = False
    #: an edge family that also reads the routers of the port's network (its inputs then
    #: carry the port's ``legs``, apps/secgroups.py ``routed_legs``)
    through_routers: bool = False


def _arp(port, vni, inputs):
    return flows.arp_piece(port, vni) if port.ipv4 else None


def _local(port, vni, ofport, inputs):
    return flows.local_port_piece(port, ofport, vni, inputs.limits, inputs.groups)


def _security_groups(port, vni, ofport, inputs):
    return flows.security_group_piece(port, ofport, inputs.groups)


def _member(port, vni, inputs):
    return flows.member_piece(port, vni, inputs.referenced, inputs.legs)


FAMILIES = (
    Family("chassis", SWITCH, EVERY),         # table misses, the switch's links or tunnels
    Family("network", NETWORK, EDGE),         # per network at its edges: DHCP (+ tunnel_in)
    Family("flood", NETWORK, CARRIER),        # the network's flood groups on each switch
    Family("arp", PORT, EDGE, _arp),          # ARP answers for the port's addresses
    Family("local", PORT, HOST, _local),      # classify, port security, delivery, meters
    Family("remote", PORT, REMOTE),           # the way to the port from other switches
    Family("sg", PORT, HOST, _security_groups),   # its security groups' rules (conntrack)
    Family("sg_member", PORT, NAMING, _member,    # its addresses in remote-group conjunctions
           through_routers=True),
    Family("neighbor", PORT, EDGE, routed=True),   # a routed network's port as next hop
    Family("localnet", NETWORK, GATEWAY, routed=True),   # an external network's physical port
    Family("router", ROUTER, ROUTER_HOSTS, routed=True),  # admission, echo, routes, TTL
    Family("gateway", ROUTER, GATEWAY, routed=True),      # SNAT, the gateway IP's ARP, un-SNAT
    Family("fip", FLOATING_IP, FIP_HOST, routed=True),    # DNAT/SNAT of one floating IP
)
BY_NAME = {f.name: f for f in FAMILIES}
NETWORK_FAMILIES = tuple(f for f in FAMILIES if f.scope == NETWORK)
PORT_FAMILIES = tuple(f for f in FAMILIES if f.scope == PORT)
