"""From flow values to OpenFlow 1.3 messages (os-ken objects), and the diff that says which to send.

``diff`` is pure: given what a switch holds and what it should hold, it returns the messages that
take it there -- groups before the flows that use them, deletions of flows before the groups they
used, a barrier last. Nothing is ever wiped: flows that are already right are not touched.
"""
from apps import pipeline as pl

INSTRUCTION_ORDER = {"meter": 0, "apply": 1, "metadata": 2, "goto": 3}
ALL_ONES = 0xFFFFFFFFFFFFFFFF


def _port(dp, port):
    ofp = dp.ofproto
    return {"in_port": ofp.OFPP_IN_PORT, "controller": ofp.OFPP_CONTROLLER}.get(port, port)


def encode_actions(dp, actions):
    parser, ofp = dp.ofproto_parser, dp.ofproto
    out = []
    for action in actions:
        kind = action[0]
        if kind == "output":
            out.append(parser.OFPActionOutput(_port(dp, action[1]), ofp.OFPCML_NO_BUFFER))
        elif kind == "set":
            out.append(parser.OFPActionSetField(**{action[1]: action[2]}))
        elif kind == "group":
            out.append(parser.OFPActionGroup(action[1]))
        elif kind == "move":
            out.append(parser.NXActionRegMove(src_field=action[1], dst_field=action[2],
                                              n_bits=action[3]))
        else:
            raise ValueError(f"unknown action {action!r}")
    return out


def encode_instructions(dp, instructions):
    parser, ofp = dp.ofproto_parser, dp.ofproto
    out = []
    for ins in sorted(instructions, key=lambda i: INSTRUCTION_ORDER[i[0]]):
        if ins[0] == "goto":
            out.append(parser.OFPInstructionGotoTable(pl.TABLES[ins[1]].number))
        elif ins[0] == "metadata":
            out.append(parser.OFPInstructionWriteMetadata(ins[1], ins[2]))
        elif ins[0] == "apply":
            out.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS,
                                                    encode_actions(dp, ins[1])))
        elif ins[0] == "meter":
            out.append(parser.OFPInstructionMeter(ins[1]))
    return out


def add_flow(dp, flow):
    parser, ofp = dp.ofproto_parser, dp.ofproto
    return parser.OFPFlowMod(dp, cookie=flow.cookie, table_id=pl.TABLES[flow.table].number,
                             command=ofp.OFPFC_ADD, priority=flow.priority,
                             match=parser.OFPMatch(**dict(flow.match)),
                             instructions=encode_instructions(dp, flow.instructions))


def delete_flow(dp, table_id, priority, match, cookie):
    """Delete exactly one flow: same table, priority, match *and* cookie, so a newer flow that
    replaced it under the same match (with another cookie) survives."""
    parser, ofp = dp.ofproto_parser, dp.ofproto
    return parser.OFPFlowMod(dp, cookie=cookie, cookie_mask=ALL_ONES, table_id=table_id,
                             command=ofp.OFPFC_DELETE_STRICT, priority=priority, match=match,
                             out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY)


def group_mod(dp, group, command):
    parser, ofp = dp.ofproto_parser, dp.ofproto
    buckets = [parser.OFPBucket(actions=encode_actions(dp, b)) for b in group.buckets]
    return parser.OFPGroupMod(dp, command=command, type_=ofp.OFPGT_ALL,
                              group_id=group.group_id, buckets=buckets)


def delete_group(dp, group_id):
    parser, ofp = dp.ofproto_parser, dp.ofproto
    return parser.OFPGroupMod(dp, command=ofp.OFPGC_DELETE, type_=ofp.OFPGT_ALL,
                              group_id=group_id)


class Installed:
    """What a switch holds, as far as qnet knows: flows by cookie, groups by id.

    A flow is (table_id, priority, match) where match is a Flow's match tuple (flows we sent)
    or an os-ken OFPMatch (flows read back from the switch after a reconnect). A group is its
    Group value, or None when read back (content unknown: it will be rewritten if wanted).
    """

    def __init__(self, flows=None, groups=None):
        self.flows = dict(flows or {})
        self.groups = dict(groups or {})

    @classmethod
    def from_state(cls, state, kept=None):
        """What a switch holds after ``diff`` took it to ``state``; with ``kept`` (the
        Installed before an unpruned diff), its flows and groups that were left in place."""
        flows = dict(kept.flows) if kept else {}
        groups = dict(kept.groups) if kept else {}
        flows.update((c, (pl.TABLES[f.table].number, f.priority, f.match))
                     for c, f in state.flows.items())
        groups.update(state.groups)
        return cls(flows, groups)


def diff(dp, installed, desired, prune=True):
    """Messages that take ``installed`` to ``desired`` (a flows.SwitchState), plus a barrier.
    With ``prune=False`` nothing is deleted: flows and groups not desired stay in place."""
    ofp, parser = dp.ofproto, dp.ofproto_parser
    msgs = []
    for gid, group in sorted(desired.groups.items()):
        if gid not in installed.groups:
            msgs.append(group_mod(dp, group, ofp.OFPGC_ADD))
        elif installed.groups[gid] != group:
            msgs.append(group_mod(dp, group, ofp.OFPGC_MODIFY))
    for cookie, flow in desired.flows.items():
        if cookie not in installed.flows:
            msgs.append(add_flow(dp, flow))
    for cookie, (table_id, priority, match) in installed.flows.items():
        if prune and cookie not in desired.flows:
            if isinstance(match, tuple):
                match = parser.OFPMatch(**dict(match))
            msgs.append(delete_flow(dp, table_id, priority, match, cookie))
    for gid in sorted(set(installed.groups) - set(desired.groups) if prune else ()):
        msgs.append(delete_group(dp, gid))
    if msgs:
        msgs.append(parser.OFPBarrierRequest(dp))
    return msgs
