"""``qnet trace``: what the desired state does with one packet from a port, and why.

Like ``ovn-trace``, the answer comes from the logical model and the flows compiled from it, not
from the switches: the desired state of the source port's switch (apps/incremental.py) is loaded
into an in-process switch model (apps/ofmodel) and the packet traced through it; a copy that
leaves through a VXLAN tunnel is traced on, through the switch at the other end, until it is
delivered to a port, sent to the controller or dropped.

Every step names its pipeline stage (apps/pipeline.py) and the *logical* reason of the flow it
hit: the piece that produced the flow (apps/pieces.py families), described from the piece's key
alone -- ``("local", port id)`` is "port P of network N", ``("network", id)`` "network N" --
so a family added later gets its reasons without code here (``NOTES`` may add a per-flow note).
A packet that matches nothing is dropped with the stage's own reason (``MISS_REASONS``).

To an IPv4 address, the trace first resolves its MAC address as the VM would: by an ARP request,
which the source switch's ``arp_responder`` answers for the ports of the source's network only.

``live`` (``read_back``: a switch's cookies as it holds them now) compares, on every switch the
packet crosses, the desired flows with the ones held (by cookie): flows missing or extra are
*drift*, and a step whose flow the switch lacks is marked.
"""
import dataclasses

import netaddr

from apps import ofmsg, secgroups
from apps import pipeline as pl
from apps.ofmodel import ModelDatapath, SwitchModel
from controller import errors

ETH_ARP, ETH_IPV4, ETH_IPV6 = 0x0806, 0x0800, 0x86DD
PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58}
BROADCAST = "ff:ff:ff:ff:ff:ff"
#: How many switches one packet may cross (source, destination, and room to spare).
MAX_HOPS = 4
STAGES = {t.number: t.name for t in pl.PIPELINE}

#: How a piece of each family relates to what its key names (a family not listed: its name).
FAMILY_ROLES = {
    "chassis": "the own flows of",
    "network": "the flows every switch of",
    "flood": "the flood groups of",
    "arp": "the ARP answers for",
    "local": "the flows of",
    "remote": "the way to",
    "sg": "the security group rules of",
    "sg_member": "the remote-group membership of",
    "neighbor": "the next-hop entry of",
    "localnet": "the physical port of",
    "router": "the routing of",
    "gateway": "the gateway (SNAT) of",
    "fip": "the NAT of",
}


@dataclasses.dataclass(frozen=True)
class Query:
    """One packet to trace: from ``port_id`` to ``to`` (an IP or a MAC address)."""

    port_id: str
    to: str
    protocol: int | None = None
    dport: int | None = None
    src_ip: str | None = None
    src_mac: str | None = None

    @classmethod
    def parse(cls, port_id, to, protocol=None, dport=None, src_ip=None, src_mac=None):
        """A Query from request parameters (strings), or InvalidInput saying what is wrong."""
        def bad(what):
            return errors.InvalidInput(error=what)
        if not to:
            raise bad("'to' (an IP or MAC address) is required")
        to = to.strip()
        if not (_is_mac(to) or _is_ip(to)):
            raise bad(f"'to' must be an IP or a MAC address, not '{to}'")
        proto = None
        if protocol not in (None, ""):
            proto = PROTOCOLS.get(str(protocol).lower())
            if proto is None:
                if not str(protocol).isdigit() or not 0 <= int(protocol) <= 255:
                    raise bad(f"protocol must be one of {', '.join(PROTOCOLS)} or 0-255, "
                              f"not '{protocol}'")
                proto = int(protocol)
        port = None
        if dport not in (None, ""):
            if proto not in (6, 17):
                raise bad("dport needs protocol tcp or udp")
            if not str(dport).isdigit() or not 1 <= int(dport) <= 65535:
                raise bad(f"dport must be 1-65535, not '{dport}'")
            port = int(dport)
        if src_ip not in (None, "") and not _is_ip(src_ip):
            raise bad(f"src_ip must be an IP address, not '{src_ip}'")
        if src_mac not in (None, "") and not _is_mac(src_mac):
            raise bad(f"src_mac must be a MAC address, not '{src_mac}'")
        if _is_ip(to) and src_ip and _version(to) != _version(src_ip):
            raise bad("src_ip and 'to' must be of the same IP version")
        return cls(port_id, str(netaddr.EUI(to, dialect=netaddr.mac_unix_expanded))
                   if _is_mac(to) else str(netaddr.IPAddress(to)), proto, port,
                   src_ip or None, str(netaddr.EUI(src_mac, dialect=netaddr.mac_unix_expanded))
                   if src_mac else None)


def _is_mac(text):
    return netaddr.valid_mac(text)


def _is_ip(text):
    return netaddr.valid_ipv4(text) or netaddr.valid_ipv6(text)


def _version(ip):
    return netaddr.IPAddress(ip).version


# -- reasons --------------------------------------------------------------------------------------
def _port_security_miss(tracer, switch, fields):
    port = tracer.port_at(switch, fields.get("in_port"))
    if port is None:
        return "no port of this switch may send this"
    allowed = ", ".join([port.mac, *port.ipv4, *port.ipv6,
                         *(f"{m} {a}" for m, a in port.pairs)])
    source = [fields.get(k) for k in ("eth_src", "ipv4_src", "arp_spa", "ipv6_src")]
    return (f"{tracer.name('port', port.id)} may send only from its own addresses "
            f"({allowed}) and this packet comes from "
            f"{' '.join(str(v) for v in source if v is not None)} (port security)")


def _l2_miss(tracer, switch, fields):
    vni = int(fields.get("metadata", 0)) & pl.VNI_MASK
    net = next((n for n in tracer.model.networks.values() if n.vni == vni), None)
    where = tracer.name("network", net.id) if net else f"VNI {vni}"
    return f"no port with MAC {fields.get('eth_dst')} on {where}"


#: Why a packet that matches no flow of a stage is dropped there (a stage not listed: it
#: matched no flow of it). ``f(tracer, switch, fields) -> str``.
MISS_REASONS = {
    "classify": lambda t, s, f: f"port {f.get('in_port')} of {s} is no port qnet bound there",
    "tunnel_in": lambda t, s, f: f"{s} hosts no network with VNI {f.get('tunnel_id')}",
    "port_security": _port_security_miss,
    "l2_lookup": _l2_miss,
    "tunnel_out": lambda t, s, f: f"{s} has no tunnel to the destination's switch",
    "ip_routing": lambda t, s, f: f"the router has no route to {f.get('ipv4_dst')}",
}


def _controller_reason(stage, fields):
    """Why a stage sends a packet up: DHCP, or the ICMP error a router answers."""
    if stage != "ip_routing":
        return "sent to the controller (it answers DHCP)"
    if fields.get("nw_ttl", 64) <= 1:
        return "its TTL runs out on the router: the controller answers ICMP time exceeded"
    return (f"the router has no route to {fields.get('ipv4_dst')}: the controller answers "
            "ICMP net unreachable")


def _sg_note(tracer, switch, flow, key):
    """The security-group rules that made a rules-table flow of the port: what admitted it."""
    port = tracer.model.ports.get(key[-1])
    found = secgroups.rules_behind(flow, tracer.model.groups_of(port)) if port else []
    if not found:
        return None
    return "admitted by " + "; ".join(
        f"rule {r.id} ({secgroups.describe_rule(r, lambda i: tracer.name('security_group', i))})"
        f" of {tracer.name('security_group', g.id)}"
        for g, r in found)


def _sg_refusal(tracer, switch, res, stage):
    """Why a packet found no rule: the groups of the port whose rules it met (the sender on
    the way out, the port l2_lookup chose on the way in)."""
    way = "out" if stage == "sg_egress_rules" else "in"
    port = None
    if way == "out":
        port = tracer.port_at(switch, res.in_fields.get("in_port"))
    else:
        _, origin = tracer.switch(switch)
        for table_id, entry in reversed(res.path):
            if entry is not None and STAGES.get(table_id) == "l2_lookup":
                keys = origin.get(entry.cookie, (None, []))[1]
                port = next((tracer.model.ports.get(k[-1]) for k in keys if k[0] == "local"),
                            None)
                break
    if port is None:
        return f"no security group rule lets it {way}"
    groups = ", ".join(tracer.name("security_group", g) for g in port.security_groups)
    return f"no rule of the groups of {tracer.name('port', port.id)} ({groups}) lets it {way}"

def _chassis_note(tracer, switch, flow, key):
    """Which of the switch's own flows: a stage's miss, or a tunnel's."""
    goto = next((i[1] for i in flow.instructions if i[0] == "goto"), None)
    if flow.priority == 0 and goto:
        return f"the table miss of {flow.table}, on to {goto}"
    peers = {p: peer for peer, p in tracer.desired.tunnels.get(switch, {}).items()}
    by_tag = {tag: peer for peer, tag in tracer.desired.tags.items()}
    match = dict(flow.match)
    if flow.table == "classify" and match.get("in_port") in peers:
        return f"from the tunnel of {peers[match['in_port']]}"
    if flow.table == "tunnel_out":
        return f"into the tunnel to {by_tag.get(match.get(pl.TUNNEL_DEST_REG), '?')}"
    return None


#: Richer notes for the flows of a family: ``f(tracer, switch, flow, key) -> str or None``; a
#: family not listed gets none (its reason from the key is enough).
NOTES = {
    "chassis": _chassis_note,
    "sg": _sg_note,
    "local": lambda t, switch, flow, key: (
        "allows source " + " ".join(str(v) for k, v in flow.match
                                    if k in ("eth_src", "ipv4_src", "ipv6_src", "arp_spa"))
        if flow.table == "port_security" else None),
}


class Tracer:
    """Traces packets through a desired state (``desired``: apps/incremental.PieceState with
    overlay's tunnels; ``model``: apps/model.LogicalModel). ``describe(kind, id)`` names a
    resource for the caller (default: its id); ``read_back(switch)``: the cookies a switch
    holds now, or None when it is not connected (None: no live comparison)."""

    def __init__(self, desired, model, describe=None, read_back=None):
        self.desired, self.model = desired, model
        self.describe = describe or (lambda kind, id_: id_)
        self.read_back = read_back
        self._switches = {}
        self._held = {}

    # -- naming ------------------------------------------------------------------------------
    def name(self, kind, id_):
        return f"{kind} {self.describe(kind, id_)}"

    def subject(self, switch, key):
        """What a piece key names, in words: "port P (mac, ips) of network N", ..."""
        if len(key) == 1:
            return f"hypervisor {switch}"
        ident = key[-1]
        if ident in self.model.ports:
            port = self.model.ports[ident]
            addresses = ", ".join((port.mac, *port.ipv4, *port.ipv6))
            return (f"{self.name('port', ident)} ({addresses}) of "
                    f"{self.name('network', port.network_id)}")
        if ident in self.model.networks:
            return f"{self.name('network', ident)} (VNI {self.model.networks[ident].vni})"
        for attr, items in vars(self.model).items():
            if not attr.startswith("_") and isinstance(items, dict) and ident in items:
                kind = attr[:-3] + "y" if attr.endswith("ies") else attr.rstrip("s")
                return self.name(kind, ident)
        return f"{key[0]} {ident}"

    def reason(self, switch, key, flow):
        role = FAMILY_ROLES.get(key[0], f"the {key[0]} flows of")
        text = f"{role} {self.subject(switch, key)}"
        note = NOTES.get(key[0])
        note = note(self, switch, flow, key) if note and flow is not None else None
        return f"{text}: {note}" if note else text

    def port_at(self, switch, ofport):
        port_id = self.desired.port_at(switch, ofport)
        return self.model.ports.get(port_id) if port_id else None

    # -- the switches as the desired state has them -------------------------------------------
    def switch(self, key):
        """(SwitchModel loaded with ``key``'s desired state, {cookie: (Flow, piece keys)})."""
        if key not in self._switches:
            held = self.desired.switches.get(key)
            pieces = held.pieces if held is not None else {}
            ports = set(self.desired.bound_on.get(key, {}).values()) | \
                set(self.desired.tunnels.get(key, {}).values())
            model = SwitchModel(key, sorted(ports))
            dp = ModelDatapath(model, record=False)
            state = held.state() if held is not None else None
            if state is not None:
                for msg in ofmsg.messages(dp, ofmsg.changes(ofmsg.Installed(), state)):
                    dp.send_msg(msg)
            origin = {}
            for piece_key, piece in sorted(pieces.items(), key=lambda kv: repr(kv[0])):
                for flow in piece.flows:
                    origin.setdefault(flow.cookie, (flow, []))[1].append(piece_key)
            self._switches[key] = (model, origin)
        return self._switches[key]

    def held(self, key):
        """Cookies ``key``'s switch holds now (live), or None."""
        if self.read_back is None:
            return None
        if key not in self._held:
            self._held[key] = self.read_back(key)
        return self._held[key]

    # -- tracing -------------------------------------------------------------------------------
    def run(self, query):
        port = self.model.ports.get(query.port_id)
        if port is None:
            raise errors.PortNotFound(id=query.port_id)
        src_mac = query.src_mac or port.mac
        result = {"port_id": port.id, "to": query.to, "phases": [], "verdicts": []}
        where = self.desired.bound.get(port.id)
        if where is None or not port.admin_up:
            why = ("it is administratively down" if not port.admin_up else
                   "no hypervisor reports an interface that binds it (attachment or port id "
                   "as iface-id)")
            result["verdicts"].append({"result": "dropped", "stage": None, "hypervisor": None,
                                       "reason": f"{self.name('port', port.id)} sends nothing: "
                                                 f"{why}"})
            return self._finish(result)
        switch, ofport = where
        dst_mac = query.to if _is_mac(query.to) else None
        if dst_mac is None:
            ip_version = _version(query.to)
            src_ip = query.src_ip or next(iter(port.ipv4 if ip_version == 4 else port.ipv6),
                                          "0.0.0.0" if ip_version == 4 else "::")
            if ip_version == 4:
                hop = self.next_hop(port, src_ip, query.to)
                if hop is None:
                    result["verdicts"] = [{
                        "result": "dropped", "hypervisor": None, "stage": None,
                        "reason": f"{query.to} is not on the subnet of {src_ip} and that "
                                  "subnet has no gateway: the VM has no route to it"}]
                    return self._finish(result)
                dst_mac = self._arp(result, switch, ofport, port, src_mac, src_ip, hop)
            else:
                dst_mac = self._neighbour(result, port, query.to)
            if dst_mac is None:
                return self._finish(result)
        else:
            src_ip = query.src_ip or next(iter(port.ipv4), None)
        fields = packet(src_mac, dst_mac, src_ip, None if _is_mac(query.to) else query.to,
                        query.protocol, query.dport)
        phase = {"packet": describe_packet(fields), "steps": []}
        result["phases"].append(phase)
        result["verdicts"] = self._walk(phase["steps"], switch, ofport, fields, MAX_HOPS)
        return self._finish(result)

    def _finish(self, result):
        if self.read_back is not None:
            result["drift"] = [self.drift(key) for key in
                               dict.fromkeys(s["hypervisor"] for p in result["phases"]
                                             for s in p["steps"])]
        result["summary"] = summary(result["verdicts"])
        for phase in result["phases"]:
            lacking = next((s for s in phase["steps"] if s.get("held") is False), None)
            if lacking is not None:
                result["summary"].append(
                    f"but {lacking['hypervisor']} lacks the flow of {lacking['stage']} this "
                    f"packet takes (drift): the switch loses it there until it is resynced")
                break
        return result

    def next_hop(self, port, src_ip, target):
        """Whom the VM asks for by ARP to reach ``target``: ``target`` itself on its own
        subnet (or when no subnet of the port holds ``src_ip``), else that subnet's gateway
        (None: there is none)."""
        for sub in self.model.subnets.values():
            if sub.network_id == port.network_id and sub.ip_version == 4 and \
                    netaddr.IPAddress(src_ip) in netaddr.IPNetwork(sub.cidr):
                if netaddr.IPAddress(target) in netaddr.IPNetwork(sub.cidr):
                    return target
                return sub.gateway
        return target

    def _arp(self, result, switch, ofport, port, src_mac, src_ip, target):
        """The MAC the source learns for ``target`` by ARP (None: no answer; the verdict
        then says why)."""
        fields = {"eth_src": src_mac, "eth_dst": BROADCAST, "eth_type": ETH_ARP, "arp_op": 1,
                  "arp_sha": src_mac, "arp_spa": src_ip, "arp_tha": "00:00:00:00:00:00",
                  "arp_tpa": target}
        phase = {"packet": describe_packet(fields), "steps": []}
        result["phases"].append(phase)
        res = self._trace(phase["steps"], switch, ofport, fields)
        for out in res.outputs:
            if out.port == ofport and int(out.fields.get("arp_op", 0)) == 2:
                phase["answer"] = out.fields["arp_sha"]
                return out.fields["arp_sha"]
        if res.dropped or not res.outputs:
            result["verdicts"] = [self._drop(switch, res, fields)]
        else:
            result["verdicts"] = [{
                "result": "dropped", "hypervisor": switch, "stage": "arp_responder",
                "reason": f"no port of {self.name('network', port.network_id)} holds "
                          f"{target}: nobody answers the ARP request (it floods the network)"}]
        return None

    def _neighbour(self, result, port, target):
        """IPv6: the MAC of the port of the source's network that holds ``target``."""
        for other in self.model.ports_on_network(port.network_id):
            if target in other.ipv6:
                return other.mac
        result["verdicts"] = [{"result": "dropped", "hypervisor": None, "stage": None,
                               "reason": f"no port of {self.name('network', port.network_id)}"
                                         f" holds {target}"}]
        return None

    def _walk(self, steps, switch, in_port, fields, hops):
        """Trace on ``switch`` and on through tunnels; the verdicts of every copy."""
        res = self._trace(steps, switch, in_port, fields)
        verdicts = []
        tunnels = {p: peer for peer, p in self.desired.tunnels.get(switch, {}).items()}
        for out in res.outputs:
            peer = tunnels.get(out.port)
            if peer is not None:
                back = self.desired.tunnels.get(peer, {}).get(switch)
                if back is None or hops <= 1:
                    verdicts.append({"result": "dropped", "hypervisor": peer, "stage": None,
                                     "reason": f"{peer} has no tunnel from {switch}"})
                    continue
                carried = {k: v for k, v in out.fields.items()
                           if k != "in_port" and k != "metadata" and not k.startswith("reg")}
                steps.append({"hypervisor": switch, "table": None, "stage": "tunnel",
                              "flow": f"VXLAN to {peer}, VNI {carried.get('tunnel_id')}",
                              "reason": f"the tunnel between {switch} and {peer}"})
                verdicts += self._walk(steps, peer, back, carried, hops - 1)
                continue
            port = self.port_at(switch, out.port)
            verdicts.append({"result": "delivered", "hypervisor": switch, "ofport": out.port,
                             "port_id": port.id if port else None,
                             "reason": f"delivered to {self.name('port', port.id)}"
                                       if port else f"output to port {out.port} of {switch}"})
        for pin in res.packet_ins:
            verdicts.append({"result": "controller", "hypervisor": switch,
                             "stage": STAGES.get(pin.table_id),
                             "reason": _controller_reason(STAGES.get(pin.table_id), fields)})
        if res.dropped:
            verdicts.append(self._drop(switch, res, fields))
        return verdicts

    def _trace(self, steps, switch, in_port, fields):
        model, origin = self.switch(switch)
        fields = {k: v for k, v in fields.items() if v is not None}
        res = model.trace(in_port, **fields)
        held = self.held(switch)
        for table_id, entry in res.path:
            stage = STAGES.get(table_id, str(table_id))
            step = {"hypervisor": switch, "table": table_id, "stage": stage}
            if entry is None:
                step.update(flow="no flow matched", reason="table miss: dropped")
            else:
                flow, keys = origin.get(entry.cookie, (None, []))
                step["flow"] = format_flow(flow) if flow else f"cookie {entry.cookie:#x}"
                step["reason"] = "; ".join(self.reason(switch, k, flow) for k in keys) or \
                    "a flow no piece of the desired state produced"
                if held is not None:
                    step["held"] = entry.cookie in held
            steps.append(step)
        return res

    def _drop(self, switch, res, fields):
        table_id, entry = res.path[-1] if res.path else (None, None)
        stage = STAGES.get(table_id)
        last = dict(res.in_fields)
        if entry is None and stage in ("sg_egress_rules", "sg_ingress_rules"):
            reason = _sg_refusal(self, switch, res, stage)
        elif entry is None:
            why = MISS_REASONS.get(stage)
            reason = why(self, switch, {**last, **_metadata(res)}) if why else \
                f"no flow of {stage} matches it"
        else:
            _, origin = self.switch(switch)
            flow, keys = origin.get(entry.cookie, (None, []))
            reason = f"a flow of {stage} drops it ({format_flow(flow) if flow else ''}), " \
                     f"from " + ("; ".join(self.reason(switch, k, flow) for k in keys) or
                                 "no piece")
        return {"result": "dropped", "hypervisor": switch, "stage": stage, "reason": reason}

    def drift(self, key):
        """What ``key``'s switch holds that its desired state does not, and the reverse."""
        held = self.held(key)
        if held is None:
            return {"hypervisor": key, "connected": False, "missing": [], "extra": 0}
        _, origin = self.switch(key)
        missing = [{"table": pl.TABLES[flow.table].number, "stage": flow.table,
                    "flow": format_flow(flow),
                    "reason": "; ".join(self.reason(key, k, flow) for k in keys)}
                   for cookie, (flow, keys) in sorted(origin.items()) if cookie not in held]
        return {"hypervisor": key, "connected": True, "missing": missing,
                "extra": len(set(held) - set(origin))}


def _metadata(res):
    """The packet's metadata when it was dropped (written by classify/tunnel_in)."""
    metadata = 0
    for _, entry in res.path:
        for inst in entry.instructions if entry is not None else ():
            if hasattr(inst, "metadata_mask"):
                metadata = (metadata & ~inst.metadata_mask) | (inst.metadata & inst.metadata_mask)
    return {"metadata": metadata}


def packet(src_mac, dst_mac, src_ip, dst_ip, protocol, dport):
    """OXM fields of the traced packet: IPv4/IPv6 to ``dst_ip`` (ICMP echo unless a protocol
    is given), or a bare Ethernet frame when only a MAC is known... with the source's IP."""
    fields = {"eth_src": src_mac, "eth_dst": dst_mac}
    ip = dst_ip or src_ip
    if ip is None:
        return {**fields, "eth_type": ETH_IPV4}
    v6 = _version(ip) == 6
    fields["eth_type"] = ETH_IPV6 if v6 else ETH_IPV4
    fields["nw_ttl"] = 64          # a router on the way decrements it
    if src_ip:
        fields["ipv6_src" if v6 else "ipv4_src"] = src_ip
    if dst_ip:
        fields["ipv6_dst" if v6 else "ipv4_dst"] = dst_ip
    proto = protocol if protocol is not None else (58 if v6 else 1)
    fields["ip_proto"] = proto
    if proto == 1:
        fields["icmpv4_type"] = 8
    elif proto == 58:
        fields["icmpv6_type"] = 128
    elif proto in (6, 17) and dport:
        fields["tcp_dst" if proto == 6 else "udp_dst"] = dport
    return fields


def describe_packet(fields):
    return " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)


def format_flow(flow):
    """A Flow in dump-flows words: priority, match, instructions."""
    match = ",".join(f"{k}={_value(v)}" for k, v in flow.match)
    actions = []
    for ins in flow.instructions:
        if ins[0] == "goto":
            actions.append(f"goto:{ins[1]}")
        elif ins[0] == "metadata":
            actions.append(f"metadata:={ins[1]:#x}")
        elif ins[0] == "meter":
            actions.append(f"meter:{ins[1]}")
        elif ins[0] == "apply":
            actions += [",".join(str(a) for a in act) if act[0] != "set" else
                        f"{act[1]}:={_value(act[2])}" for act in ins[1]]
    return f"priority={flow.priority}" + (f",{match}" if match else "") + \
        " actions=" + (" ".join(a.replace(",", ":", 1) for a in actions) or "drop")


def _value(v):
    if isinstance(v, tuple):
        return f"{_value(v[0])}/{_value(v[1])}"
    return f"{v:#x}" if isinstance(v, int) and v > 0xFFFF else str(v)


def summary(verdicts):
    """One line per distinct verdict: delivered to port X / dropped at stage Y because Z."""
    lines = []
    for v in verdicts:
        if v["result"] == "delivered":
            line = f"{v['reason']} on {v['hypervisor']}"
        elif v["result"] == "controller":
            line = f"{v['reason']} (stage {v['stage']} on {v['hypervisor']})"
        elif v.get("stage"):
            line = f"dropped at {v['stage']} on {v['hypervisor']} because {v['reason']}"
        else:
            line = f"dropped because {v['reason']}"
        if line not in lines:
            lines.append(line)
    return lines
