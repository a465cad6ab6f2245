"""Bandwidth limits as meters, on in-process switches: which packets pass which meter, and what
the desired-state diff sends when a policy is added, changed and removed."""
import pytest
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps import flows, meters, ofmsg
from apps.model import place
from apps.ofmodel import ModelDatapath, SwitchModel
from apps.openflow import meter_stats_view
from controller.logical import BandwidthLimit, QoSPolicy
from tests.unit.overlay_fixtures import chassis, iface, model, network, port

MAC1, MAC2, MAC3 = "fa:16:3e:00:00:01", "fa:16:3e:00:00:02", "fa:16:3e:00:00:03"
IP1, IP2, IP3 = "10.0.0.11", "10.0.0.12", "10.0.0.13"
TUNNEL = 5


def limits(egress=None, ingress=None):
    """BandwidthLimits from (max_kbps, max_burst_kbps) per direction."""
    return tuple(BandwidthLimit(d, *r) for d, r in (("egress", egress), ("ingress", ingress))
                 if r is not None)


def policy(policy_id, egress=None, ingress=None):
    return QoSPolicy(policy_id, limits(egress, ingress))


class Hypervisor:
    """hv1 with vm1 (ofport 1) and vm3 (ofport 3), vm2 behind the tunnel on hv2; a fake switch
    that keeps what it was sent, and the controller's record of what it holds."""

    def __init__(self, policies=(), port_policy=None, network_policy=None):
        self.model = model([network("net", 1001, qos_policy_id=network_policy)], [
            port("p1", "net", MAC1, IP1, "vm1", qos_policy_id=port_policy),
            port("p2", "net", MAC2, IP2, "vm2"), port("p3", "net", MAC3, IP3, "vm3")])
        for p in policies:
            self.model.put(p)
        self.chassis = [
            chassis("hv1", "172.16.1.1", iface("tap1", 1, "vm1"), iface("tap3", 3, "vm3"),
                    iface("vx", TUNNEL, type_="vxlan", remote_ip="172.16.2.1")),
            chassis("hv2", "172.16.2.1", iface("tap2", 1, "vm2"),
                    iface("vx", 7, type_="vxlan", remote_ip="172.16.1.1"), datapath_id=2)]
        self.dp = ModelDatapath(SwitchModel(1, ports=range(1, 10)))
        self.installed = ofmsg.Installed()

    def reconcile(self):
        """Send the diff, as the controller does; return the messages sent (no barrier)."""
        desired = flows.compile_chassis("hv1", self.model, place(self.model, self.chassis))
        msgs = ofmsg.diff(self.dp, self.installed, desired)
        for msg in msgs:
            self.dp.send_msg(msg)
        assert self.dp.switch.errors == []
        self.installed = ofmsg.Installed.from_state(desired)
        return msgs[:-1]

    def update_policy(self, item):
        self.model.put(item)

    def set_port_policy(self, policy_id):
        self.model.put(port("p1", "net", MAC1, IP1, "vm1", qos_policy_id=policy_id))

    def send(self, in_port, src_mac, dst_mac, src_ip, dst_ip, **extra):
        return self.dp.switch.trace(in_port, eth_src=src_mac, eth_dst=dst_mac, eth_type=0x0800,
                                    ipv4_src=src_ip, ipv4_dst=dst_ip, ip_proto=6, **extra)

    def meter_config(self):
        """The switch's bandwidth meters (not its packet-in meters)."""
        return {m.meter_id: (m.bands[0].rate, m.bands[0].burst_size)
                for m in self.dp.switch.meters.values() if m.meter_id < meters.PACKET_IN_METERS}


def bandwidth(by_id):
    """The bandwidth meters of {meter id: ...} (not the packet-in meters)."""
    return {mid: m for mid, m in by_id.items() if mid < meters.PACKET_IN_METERS}


EGRESS_1 = meters.meter_id(1, "egress")
INGRESS_1 = meters.meter_id(1, "ingress")


def test_meter_ids_are_stable_per_port_and_direction():
    assert (EGRESS_1, INGRESS_1) == (2, 3)
    assert meters.meter_id(3, "egress") == 6 and meters.meter_id(3, "ingress") == 7
    ids = {meters.meter_id(p, d) for p in range(1, 200) for d in ("egress", "ingress")}
    assert len(ids) == 398 and min(ids) >= 1
    assert meters.direction_of(7) == "ingress" and meters.direction_of(6) == "egress"


@pytest.mark.parametrize("max_kbps,burst,expected", [
    (1000, 0, 300), (10000, 0, 3000), (100000, 0, 30000), (10, 0, 50), (100, 0, 50),
    (1000, 777, 777)])
def test_burst_rule(max_kbps, burst, expected):
    assert meters.burst_kbits(max_kbps, burst) == expected


def test_egress_limit_meters_what_the_vm_sends_and_nothing_else():
    hv = Hypervisor([policy("gold", egress=(10000, 0))], port_policy="gold")
    hv.reconcile()
    assert hv.meter_config() == {EGRESS_1: (10000, 3000)}
    out = hv.send(1, MAC1, MAC2, IP1, IP2)
    assert out.output_ports() == [TUNNEL] and out.meters == [EGRESS_1]
    out = hv.send(1, MAC1, MAC3, IP1, IP3)
    assert out.output_ports() == [3] and out.meters == [EGRESS_1]
    # the other port on the same switch is not metered, either way
    assert hv.send(3, MAC3, MAC2, IP3, IP2).meters == []
    out = hv.send(TUNNEL, MAC2, MAC1, IP2, IP1, tunnel_id=1001)
    assert out.output_ports() == [1] and out.meters == []


def test_ingress_limit_meters_what_reaches_the_vm_from_anywhere():
    hv = Hypervisor([policy("gold", ingress=(2000, 500))], port_policy="gold")
    hv.reconcile()
    assert hv.meter_config() == {INGRESS_1: (2000, 500)}
    out = hv.send(TUNNEL, MAC2, MAC1, IP2, IP1, tunnel_id=1001)
    assert out.output_ports() == [1] and out.meters == [INGRESS_1]
    out = hv.send(3, MAC3, MAC1, IP3, IP1)
    assert out.output_ports() == [1] and out.meters == [INGRESS_1]
    assert hv.send(1, MAC1, MAC3, IP1, IP3).meters == []
    assert hv.send(TUNNEL, MAC2, MAC3, IP2, IP3, tunnel_id=1001).meters == []


def test_both_directions_between_two_limited_ports_on_one_switch():
    hv = Hypervisor([policy("gold", egress=(1000, 0), ingress=(3000, 0))],
                    network_policy="gold")
    hv.reconcile()
    out = hv.send(1, MAC1, MAC3, IP1, IP3)
    assert out.output_ports() == [3]
    assert out.meters == [meters.meter_id(1, "egress"), meters.meter_id(3, "ingress")]
    assert len(hv.meter_config()) == 4   # two ports, two directions


def test_a_ports_own_policy_overrides_its_networks():
    hv = Hypervisor([policy("net-wide", egress=(50000, 0)), policy("own", egress=(1000, 0))],
                    port_policy="own", network_policy="net-wide")
    hv.reconcile()
    assert hv.meter_config() == {EGRESS_1: (1000, 300),
                                 meters.meter_id(3, "egress"): (50000, 15000)}
    hv.set_port_policy(None)   # back to the network's
    hv.reconcile()
    assert hv.meter_config()[EGRESS_1] == (50000, 15000)


def test_a_rate_change_modifies_the_meter_in_place_and_touches_no_flow():
    hv = Hypervisor([policy("gold", egress=(10000, 0))], port_policy="gold")
    hv.reconcile()
    flows_before = hv.dp.switch.flow_count()
    hv.update_policy(policy("gold", egress=(50000, 0)))
    msgs = hv.reconcile()
    assert [type(m).__name__ for m in msgs] == ["OFPMeterMod"]
    assert msgs[0].command == parser.ofproto.OFPMC_MODIFY
    assert hv.meter_config() == {EGRESS_1: (50000, 15000)}
    assert hv.dp.switch.flow_count() == flows_before
    assert hv.send(1, MAC1, MAC2, IP1, IP2).meters == [EGRESS_1]
    assert hv.reconcile() == []   # converged: nothing more to send


def test_adding_and_removing_a_policy_keeps_traffic_flowing():
    hv = Hypervisor([policy("gold", egress=(10000, 0), ingress=(10000, 0))])
    hv.reconcile()
    flows_before = hv.dp.switch.flow_count()
    hv.set_port_policy("gold")
    msgs = hv.reconcile()
    kinds = [type(m).__name__ for m in msgs]
    # meters first, so the flows that use them are accepted (the fake switch checks)
    assert kinds[:2] == ["OFPMeterMod", "OFPMeterMod"]
    assert hv.dp.switch.flow_count() == flows_before   # replaced, not added beside
    assert hv.send(1, MAC1, MAC2, IP1, IP2).meters == [EGRESS_1]
    hv.set_port_policy(None)
    msgs = hv.reconcile()
    # meters are deleted last: deleting a meter would take its flows with it
    assert [type(m).__name__ for m in msgs[-2:]] == ["OFPMeterMod", "OFPMeterMod"]
    assert all(m.command == parser.ofproto.OFPMC_DELETE for m in msgs[-2:])
    assert hv.meter_config() == {}
    assert hv.dp.switch.flow_count() == flows_before
    out = hv.send(1, MAC1, MAC2, IP1, IP2)
    assert out.output_ports() == [TUNNEL] and out.meters == []
    assert hv.send(TUNNEL, MAC2, MAC1, IP2, IP1, tunnel_id=1001).output_ports() == [1]


def test_a_deleted_policy_removes_the_meter():
    hv = Hypervisor([policy("gold", egress=(10000, 0))], port_policy="gold")
    hv.reconcile()
    hv.model.remove(hv.model.qos_policies["gold"])
    hv.reconcile()
    assert hv.meter_config() == {}
    assert hv.send(1, MAC1, MAC2, IP1, IP2).output_ports() == [TUNNEL]


def test_meters_read_back_after_a_restart_need_no_rewrite():
    hv = Hypervisor([policy("gold", egress=(10000, 0), ingress=(2000, 700))],
                    port_policy="gold")
    hv.reconcile()
    # a new controller knows only what the switch reports
    read_back = {stat.meter_id: ofmsg.meter_from_config(hv.dp, stat)
                 for stat in hv.dp.switch.meter_config()}
    assert bandwidth(read_back) == {EGRESS_1: meters.Meter(EGRESS_1, 10000, 3000),
                                    INGRESS_1: meters.Meter(INGRESS_1, 2000, 700)}
    # the packet-in meters (in packets per second) read back as they were made, too
    hv.installed = ofmsg.Installed(hv.installed.flows, hv.installed.groups, read_back)
    assert hv.reconcile() == []


def test_a_foreign_meter_config_is_rewritten():
    hv = Hypervisor([policy("gold", egress=(10000, 0))], port_policy="gold")
    hv.reconcile()
    dp = hv.dp
    dp.send_msg(parser.OFPMeterMod(dp, command=dp.ofproto.OFPMC_MODIFY,
                                   flags=dp.ofproto.OFPMF_PKTPS, meter_id=EGRESS_1,
                                   bands=[parser.OFPMeterBandDrop(rate=5, burst_size=0)]))
    read_back = {s.meter_id: ofmsg.meter_from_config(dp, s) for s in dp.switch.meter_config()}
    assert bandwidth(read_back) == {EGRESS_1: None}
    hv.installed = ofmsg.Installed(hv.installed.flows, hv.installed.groups, read_back)
    msgs = hv.reconcile()
    assert len(msgs) == 1 and msgs[0].command == dp.ofproto.OFPMC_MODIFY
    assert hv.meter_config() == {EGRESS_1: (10000, 3000)}


def test_meter_stats_view():
    wanted = meters.port_meters(4, limits(egress=(1000, 0), ingress=(2000, 100)))
    stats = {meters.meter_id(4, "egress"): parser.OFPMeterStats(
        meter_id=8, flow_count=1, packet_in_count=100, byte_in_count=150000, duration_sec=3,
        duration_nsec=0, band_stats=[parser.OFPMeterBandStats(7, 10500)])}
    assert meter_stats_view(wanted, stats) == [
        {"direction": "egress", "meter_id": 8, "rate_kbps": 1000, "burst_kbits": 300,
         "packets": 100, "bytes": 150000, "dropped_packets": 7, "dropped_bytes": 10500},
        {"direction": "ingress", "meter_id": 9, "rate_kbps": 2000, "burst_kbits": 100,
         "packets": None, "bytes": None, "dropped_packets": None, "dropped_bytes": None}]


def test_the_model_follows_policy_changes():
    from controller.context import Context
    from controller.plugin import Change
    hv = Hypervisor(network_policy="gold")
    p1 = hv.model.ports["p1"]
    assert hv.model.limits_of(p1) == ()
    gold = policy("gold", egress=(1000, 0))
    touched = hv.model.apply(Change("qos_policy", "created", Context.admin(), None, None,
                                    after=gold))
    assert touched == {"net"}   # every port of net falls back to the network's policy
    assert hv.model.limits_of(p1) == limits(egress=(1000, 0))
    hv.model.apply(Change("qos_policy", "updated", Context.admin(), None, None, before=gold,
                          after=policy("gold", ingress=(5, 7))))
    assert hv.model.limits_of(p1) == limits(ingress=(5, 7))
    hv.model.apply(Change("qos_policy", "deleted", Context.admin(), None, None, before=gold))
    assert hv.model.limits_of(p1) == ()
