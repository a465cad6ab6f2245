"""The OpenFlow pipeline of an integration bridge, declared once (OVN-style numbered stages).

| table | name            | does                                                                      |
|------:|-----------------|---------------------------------------------------------------------------|
|     0 | classify        | VM port -> its egress meter (QoS), metadata := VNI, to port_security; tunnel port -> tunnel_in; fabric link -> fabric_in; else drop |
|     1 | fabric_in       | (fabric mode) eth_src of a network crossing this switch -> metadata := VNI + FROM_TUNNEL; else drop |
|     2 | tunnel_in       | tun_id of a hosted network -> metadata := VNI + FROM_TUNNEL, to l2_lookup; else drop |
|     5 | port_security   | a port sends only from its MAC and IPs (plus allowed address pairs) and its IPv6 link-local address; else drop. DHCP client packets pass the port's DHCP meter |
|     6 | egress_guard    | from ports with port security: the port's own neighbour discovery (it advertises only its addresses) and a router port's RAs go on; other NS/NA, RAs, redirects, DHCP/DHCPv6 server packets are dropped; else on |
|    10 | arp_responder   | ARP requests for IPs the model knows are answered here, never broadcast  |
|    15 | dhcp            | DHCP client packets go to the controller (through the switch's packet-in meter), which answers from IPAM |
|    20 | l2_lookup       | known MAC -> local port (through its ingress meter), or tun_id := VNI and out the tunnel to its host; broadcast -> flood group; else drop |

Isolation comes from metadata, never VLANs: every lookup after ``classify`` matches the network's
VNI in the metadata, so frames of one network can never match another network's flows.
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Table:
    number: int
    name: str
    #: tables a flow in this one may continue to (goto_table)
    next: tuple = ()
    #: what a packet that matches no flow gets: "drop" or the name of the next table
    miss: str = "drop"


PIPELINE = (
    Table(0, "classify", next=("fabric_in", "tunnel_in", "port_security")),
    Table(1, "fabric_in", next=("l2_lookup",)),
    Table(2, "tunnel_in", next=("l2_lookup",)),
    Table(5, "port_security", next=("egress_guard", "arp_responder")),
    Table(6, "egress_guard", next=("arp_responder",), miss="arp_responder"),
    Table(10, "arp_responder", next=("dhcp",), miss="dhcp"),
    Table(15, "dhcp", next=("l2_lookup",), miss="l2_lookup"),
    Table(20, "l2_lookup", next=("tunnel_out",)),
    Table(25, "tunnel_out"),
)
TABLES = {t.name: t for t in PIPELINE}

# metadata layout: the network's VNI in the low 24 bits; bit 32 set when the frame came in
# from another switch, through a tunnel (it must then only be delivered locally: split horizon)
# or a fabric link (docs/fabric.md).
VNI_MASK = 0xFFFFFF
FROM_TUNNEL = 1 << 32
METADATA_MASK = VNI_MASK | FROM_TUNNEL

# The register l2_lookup writes the destination switch's tunnel tag into (tunnel/mesh.py
# tunnel_tag): flows towards a remote port name the switch, not the local tunnel port, so they
# are the same on every switch and one tunnel_out flow per peer maps the tag to its port.
TUNNEL_DEST_REG = "reg0"

# Every flow qnet installs carries this prefix in the top byte of its cookie; the rest is a
# hash of the flow's content, so "which flows are mine and are they current" is a cookie lookup.
COOKIE_PREFIX = 0x71 << 56
COOKIE_PREFIX_MASK = 0xFF << 56


class PipelineError(ValueError):
    """A flow that does not fit the declared pipeline (a bug in the compiler, never input)."""


def check_flow(flow):
    """Raise PipelineError unless ``flow`` uses a declared table and declared transitions."""
    table = TABLES.get(flow.table)
    if table is None:
        raise PipelineError(f"unknown table {flow.table!r} in {flow}")
    for instruction in flow.instructions:
        if instruction[0] == "goto" and instruction[1] not in table.next:
            raise PipelineError(f"{flow.table} may not continue to {instruction[1]}: {flow}")
    return flow


def table_misses():
    """The miss behaviour of every table, as (table, next table or None for drop)."""
    return [(t.name, None if t.miss == "drop" else t.miss) for t in PIPELINE]
