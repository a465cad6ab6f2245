"""An in-process model of OpenFlow 1.3 switches and a packet tracer.

Feed a switch the os-ken OF1.3 message *objects* the controller builds (``OFPFlowMod``,
``OFPGroupMod``, ``OFPMeterMod``, ``OFPBarrierRequest``, stats requests...) and then ask what it
would do with a packet::

    sw = SwitchModel(dpid=1, ports=[1, 2, 3])
    sw.apply_all(msgs)                     # or ModelDatapath(sw).send_msg(msg)
    res = sw.trace(in_port=1, eth_src='..', eth_dst='..', eth_type=0x0800, ...)
    assert res.output_ports() == [2]
    assert res.is_output(9, tunnel_id=1001)

The unit tests, the scale simulation and the benches run the real controller against it; a
packet tracer over the flows a controller computed is a product feature built on the same model.

One job per module:

* ``fields``    OXM field names, widths, user value <-> int, raw frame -> fields
* ``match``     canonical matches, prerequisites, covers/overlaps
* ``flowtable`` flow entries and tables: add, modify, select, delete, lookup
* ``checks``    what a switch verifies before accepting a flow or group
* ``groups``    group-mods and meter-mods
* ``messages``  each os-ken message -> state change and replies
* ``errors``    refusals: SwitchError, OFPErrorMsg, OFError
* ``switch``    SwitchModel: one switch's state, ``apply`` and ``trace``
* ``tracer``    the pipeline a packet runs through, TraceResult
* ``datapath``  ModelDatapath: a SwitchModel behind os-ken's Datapath interface
* ``network``   SwitchNetwork: many switches in one process
* ``conntrack`` per-zone connection tables: what ``ct`` sees and commits
* ``dump``      canonical dumps for comparisons, dump-flows text for messages

Not modelled: counters, timeouts, rate limiting, NAT, learn.
"""
from apps.ofmodel.datapath import ModelDatapath
from apps.ofmodel.dump import flow_table_dump, format_flows, group_dump, meter_dump, switch_dump
from apps.ofmodel.errors import OFError, SwitchError
from apps.ofmodel.fields import field_to_int, field_to_user, packet_fields
from apps.ofmodel.flowtable import FlowEntry
from apps.ofmodel.groups import GroupEntry, MeterEntry
from apps.ofmodel.network import SwitchNetwork
from apps.ofmodel.switch import SwitchModel
from apps.ofmodel.tracer import Output, PacketIn, TraceResult

__all__ = [
    'SwitchModel', 'ModelDatapath', 'SwitchNetwork', 'FlowEntry', 'GroupEntry', 'MeterEntry',
    'TraceResult', 'Output', 'PacketIn', 'SwitchError', 'OFError', 'flow_table_dump',
    'packet_fields', 'group_dump', 'meter_dump', 'switch_dump', 'format_flows', 'field_to_int',
    'field_to_user',
]
