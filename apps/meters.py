"""Bandwidth limits as OpenFlow meters, per (switch, OpenFlow port): pure functions.

A port's QoS policy becomes at most two meters on the switch where the port is bound: the
**egress** meter polices what the VM sends (the classify flow of its port goes through it), the
**ingress** meter what it receives (the flow that delivers to the port goes through it). Both are
a single drop band in kbit/s with a burst.

Meter ids are derived from the OpenFlow port number and the direction (``ofport * 2 + 0|1``), so
they need no allocator and survive a controller restart: the id of a port's meter is the same
whatever order ports were bound in, a policy change only *modifies* the meter in place (the flows
that refer to it do not change: no flow churn, no gap in traffic), and removing the limit deletes
it. Fabric mode reuses the same functions for the edge switch's access ports.

Burst: a drop band polices with a token bucket of ``burst`` kbit. Too small and TCP never gets
near the rate (in the lab a 1,000 kbit/s meter with a 100 kbit burst gave TCP 425-656 kbit/s:
every loss halves the congestion window before the bucket can absorb the next window); too large
and a short transfer runs at line rate until the bucket is empty. Measured on the lab's userspace
OVS (TCP, steady state): burst = 10% of the rate gave 43-52% of the rate, 20% gave 89-92%, and
30% gave 96% at 1, 10 and 100 Mbit/s alike. So ``max_burst_kbps = 0`` (the default) means
**30% of max_kbps (0.3 s at the rate), at least 50 kbit** (four full-size frames).

Packet-in meters (``PKTPS``, counted in packets) cap what reaches the controller, so that one VM
or one switch cannot flood it: every switch has one on the flows that send to the controller
(DHCP, fabric LLDP), and every VM port one on its DHCP client packets, so a VM that floods DHCP
uses up its own budget, not its neighbours' on the same switch. Their ids are
``PACKET_IN_METERS | ofport`` (``| 0`` for the switch's: no port is numbered 0): bit 31 is never
set in a QoS meter id, because Open vSwitch numbers ports below 0xff00.
"""
import dataclasses

EGRESS, INGRESS = "egress", "ingress"
KBPS, PKTPS = "kbps", "pktps"
PACKET_IN_METERS = 1 << 31
# A normal DHCP client sends a few packets per exchange (DISCOVER, REQUEST, retries seconds
# apart): 10/s with a burst of 20 never delays it. A switch's controller-bound traffic is
# bounded by 200/s with a burst of 400: a hypervisor booting dozens of VMs at once
# (two packets each, plus LLDP every few seconds per fabric port) stays far below it, and the
# controller answers a few thousand DHCP packets a second, so it is never the bottleneck
# for the switches that behave.
PORT_DHCP_RATE_PPS, PORT_DHCP_BURST = 10, 20
SWITCH_PACKET_IN_RATE_PPS, SWITCH_PACKET_IN_BURST = 200, 400
_DIRECTION_BIT = {EGRESS: 0, INGRESS: 1}
BURST_FRACTION_PERCENT = 30
MIN_BURST_KBITS = 50


@dataclasses.dataclass(frozen=True)
class Meter:
    """One meter: a drop band at ``rate_kbps`` with a bucket of ``burst_kbits`` (packets per
    second and packets when ``unit`` is PKTPS)."""

    meter_id: int
    rate_kbps: int
    burst_kbits: int
    unit: str = KBPS


def meter_id(ofport, direction):
    """The id of the meter for ``direction`` of the port at ``ofport`` (ids start at 2)."""
    return ofport << 1 | _DIRECTION_BIT[direction]


def direction_of(meter_id_):
    return INGRESS if meter_id_ & 1 else EGRESS


def burst_kbits(max_kbps, max_burst_kbps=0):
    """The bucket size: the rule's own burst, or the default (see the module docstring)."""
    if max_burst_kbps:
        return max_burst_kbps
    return max(max_kbps * BURST_FRACTION_PERCENT // 100, MIN_BURST_KBITS)


def port_meters(ofport, limits):
    """{direction: Meter} for the port at ``ofport`` with ``limits`` (BandwidthLimits of
    controller/logical.py, at most one per direction, as ``LogicalModel.limits_of`` gives them)."""
    return {limit.direction: Meter(meter_id(ofport, limit.direction), limit.max_kbps,
                                   burst_kbits(limit.max_kbps, limit.max_burst_kbps))
            for limit in sorted(limits, key=lambda limit: limit.direction)}


def meter_instruction(meters, direction):
    """The instruction that sends a flow's packets through the port's meter, if it has one."""
    meter = meters.get(direction)
    return () if meter is None else (("meter", meter.meter_id),)


def switch_packet_in_meter():
    """The meter every controller-bound flow of a switch goes through."""
    return Meter(PACKET_IN_METERS, SWITCH_PACKET_IN_RATE_PPS, SWITCH_PACKET_IN_BURST, PKTPS)


def port_dhcp_meter(ofport):
    """The meter the DHCP client packets of the VM port at ``ofport`` go through."""
    return Meter(PACKET_IN_METERS | ofport, PORT_DHCP_RATE_PPS, PORT_DHCP_BURST, PKTPS)
