"""DesiredState on its own: after any sequence of model and chassis changes (ports, networks,
interfaces plugged, moved and renumbered, tunnel ports and tunnel addresses changing, chassis
coming and going, ports joining and leaving security groups whose rules name other groups),
each switch's incremental state equals ``compile_chassis`` over everything,
the deltas it returned add up to that state, and the tunnels it asks for are those
``tunnel.mesh.wanted_tunnels`` computes from scratch."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps import flows, ofmsg
from apps.incremental import DesiredState
from apps.model import place
from controller.logical import SecurityGroup, SecurityGroupRule
from tests.unit.overlay_fixtures import chassis, iface, model, network, port
from tunnel.mesh import wanted_tunnels

NETWORKS, PORTS, GROUPS = 3, 10, 3


def group(k, names=None):
    """Security group g<k>: egress anywhere, and ingress from the members of group g<names>
    (its own by default; None in names: no remote group)."""
    gid = f"g{k}"
    rules = [SecurityGroupRule(f"{gid}-out", "egress", "IPv4")]
    if names is not None:
        rules.append(SecurityGroupRule(f"{gid}-in", "ingress", "IPv4",
                                       remote_group_id=f"g{names}"))
    return SecurityGroup(gid, "demo", True, tuple(rules))


class World:
    def __init__(self):
        self.model = model([network(f"n{k}", 100 + k) for k in range(NETWORKS)], [])
        self.model.security_groups.update({f"g{k}": group(k, k) for k in range(GROUPS)})
        self.chassis = {f"hv{i}": chassis(f"hv{i}", f"172.16.0.{i + 1}", datapath_id=i + 1)
                        for i in range(3)}
        self.state = DesiredState()
        self.held = {}                  # chassis id -> Installed built from the deltas alone
        self.dirty = (set(), set(), set())

    def apply(self, op, a, b, c):
        ports, networks, changed = self.dirty
        hvs = sorted(self.chassis)
        ch = self.chassis[hvs[b % len(hvs)]] if hvs else None
        pid, net = f"p{a % PORTS}", f"n{c % NETWORKS}"
        if op == "port":
            old = self.model.ports.get(pid)
            self.model.put(port(pid, old.network_id if old else net,
                                "fa:16:3e:00:00:%02x" % (a + c), f"10.0.0.{a + 2}",
                                f"vm{pid}", security=c != 1, admin_up=b != 2,
                                security_groups={0: ("g0",), 1: ("g1",),
                                                 2: ("g0", "g2")}.get((a + b) % 4, ())))
            ports.add(pid)
        elif op == "rules":
            # a group's rules name another group (or none): as the reconciler does, its
            # members and those of the groups named before and after are refolded
            gid, names = f"g{a % GROUPS}", None if c == 3 else c % GROUPS
            before = self.model.security_groups[gid]
            self.model.put(group(a % GROUPS, names))
            named = {r.remote_group_id for g in (before, self.model.security_groups[gid])
                     for r in g.rules} - {None}
            for g in named | {gid}:
                ports.update(self.model.ports_in_group(g))
        elif op == "delete_port" and pid in self.model.ports:
            self.model.remove(self.model.ports[pid])
            ports.add(pid)
        elif op in ("plug", "move") and ch is not None:
            if op == "move":
                for other in self.chassis.values():
                    if other.interfaces.pop(f"tap{pid}", None) is not None:
                        changed.add(other.system_id)
            ch.interfaces[f"tap{pid}"] = iface(f"tap{pid}", 1 + c, f"vm{pid}")
            changed.add(ch.system_id)
        elif op == "unplug" and ch is not None and ch.interfaces.pop(f"tap{pid}", None):
            changed.add(ch.system_id)
        elif op == "tunnel" and ch is not None:
            peer = self.chassis[hvs[c % len(hvs)]]
            name = f"vx{peer.system_id}"
            if name in ch.interfaces and a % 3 == 0:
                del ch.interfaces[name]
            else:   # a re-created tunnel may get a new number, never one the bridge uses
                taken = {i.ofport for n, i in ch.interfaces.items() if n != name}
                ofport = next(n for n in range(50 + a, 200) if n not in taken)
                ch.interfaces[name] = iface(name, ofport, type_="vxlan", remote_ip=peer.tunnel_ip)
            changed.add(ch.system_id)
        elif op == "network":
            net_value, sub = network(net, 100 + c % NETWORKS, dhcp=a % 2 == 0, admin_up=b != 2)
            self.model.put(net_value)
            self.model.put(sub)
            networks.add(net)
        elif op == "tunnel_ip" and ch is not None:
            ch.tunnel_ip = None if a % 4 == 0 else f"172.16.0.{a % 5 + 1}"
            changed.add(ch.system_id)
        elif op == "chassis_gone" and ch is not None:
            del self.chassis[ch.system_id]
        elif op == "chassis_new":
            name = f"hv{3 + a}"
            if name not in self.chassis:
                self.chassis[name] = chassis(name, f"172.16.1.{a}", datapath_id=10 + a)
                changed.add(name)

    def update(self):
        ports, networks, changed = self.dirty
        deltas = self.state.update(self.model, list(self.chassis.values()), ports, networks,
                                   changed)
        self.dirty = (set(), set(), set())
        # A chassis the state has seen go is a new, empty switch if it comes back; one that
        # went and came back within a batch was never gone for the state, nor for its switch.
        for system_id in set(self.held) - set(self.chassis):
            del self.held[system_id]
        for system_id, delta in deltas.items():
            held = self.held.setdefault(system_id, ofmsg.Installed())
            for group, _ in delta.groups:
                held.groups[group.group_id] = group
            for f in delta.adds:
                assert f.cookie not in held.flows
                held.flows[f.cookie] = f
            for *_, cookie in delta.deletes:
                del held.flows[cookie]
            for gid in delta.group_deletes:
                del held.groups[gid]

    def check(self):
        placement = place(self.model, self.chassis.values())
        assert set(self.state.switches) == set(self.chassis)
        for system_id in self.chassis:
            full = flows.compile_chassis(system_id, self.model, placement)
            state = self.state.state(system_id)
            assert set(state.flows) == set(full.flows)
            assert state.groups == full.groups
            held = self.held.get(system_id, ofmsg.Installed())
            assert set(held.flows) == set(full.flows) and held.groups == full.groups
        ips = {c.system_id: c.tunnel_ip for c in self.chassis.values() if c.tunnel_ip}
        for system_id, wanted in wanted_tunnels(self.model, placement.bound, ips).items():
            assert self.state.wanted_tunnels(system_id) == wanted


OPERATIONS = st.lists(st.tuples(
    st.sampled_from(["port", "port", "delete_port", "plug", "plug", "move", "unplug", "tunnel",
                     "tunnel", "network", "tunnel_ip", "chassis_gone", "chassis_new", "rules"]),
    st.integers(0, 9), st.integers(0, 3), st.integers(0, 3)), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS, st.integers(1, 4))
def test_incremental_state_and_its_deltas_equal_the_full_recomputation(ops, batch):
    world = World()
    world.update()
    for n, (op, a, b, c) in enumerate(ops):
        world.apply(op, a, b, c)
        if n % batch == 0:          # sometimes several changes fold into one update
            world.update()
            world.check()
    world.update()
    world.check()
