"""Flows and groups per switch for the overlay pipeline, from the real compiler (no switches).

    python -m simulations.bench_flows

Scenarios: the seed demo (2 tenants x 3 networks, fw/web/db spread over 3 hypervisors) and
3 hypervisors x 50 ports x 10 networks (ports spread round-robin). The model is built through the
core (in-memory SQLite, noop plug-in), so the figures are those of the API's own objects.
"""
import json
import time

from apps import flows
from apps.model import LogicalModel, place
from controller.context import Context
from controller.core import Core
from controller.plugins.noop import NoopPlugin
from simulations import fixtures
from tunnel.mesh import wanted_tunnels

SEED = {"fw": ("dmz-net", "web-net"), "web": ("web-net", "db-net"), "db": ("db-net",)}


def build_chassis(core, plugs, hypervisors):
    """plugs: [(hypervisor index, attachment)]; returns chassis objects with tunnels wired."""
    chassis = [fixtures.chassis(f"hv{i + 1}", f"172.16.0.{i + 1}", datapath_id=i + 1)
               for i in range(hypervisors)]
    for n, (h, attachment) in enumerate(plugs):
        chassis[h].interfaces[f"tap{n}"] = fixtures.iface(f"tap{n}", n + 1, attachment)
    model = LogicalModel.load(core)
    wanted = wanted_tunnels(model, place(model, chassis).bound,
                            {c.system_id: c.tunnel_ip for c in chassis})
    for c in chassis:
        for k, (name, ip) in enumerate(sorted(wanted[c.system_id].items())):
            c.interfaces[name] = fixtures.iface(name, 1000 + k, type_="vxlan", remote_ip=ip)
    return model, chassis


def measure(model, chassis):
    placement = place(model, chassis)
    t0 = time.perf_counter()
    states = {c.system_id: flows.compile_chassis(c.system_id, model, placement) for c in chassis}
    secs = time.perf_counter() - t0
    return {c: {"flows": len(s.flows), "groups": len(s.groups)} for c, s in states.items()}, secs


def seed_scenario():
    core = Core.from_url("sqlite://", NoopPlugin())
    plugs = []
    for t, tenant in enumerate(("tenant-a", "tenant-b")):
        ctx = Context(tenant)
        nets = {}
        for k, name in enumerate(("dmz-net", "web-net", "db-net")):
            nets[name] = core.networks.create(ctx, {"name": name})
            core.subnets.create(ctx, {"network_id": nets[name]["id"],
                                      "cidr": f"10.0.{k + 1}.0/24"})
        for i, (server, nics) in enumerate(SEED.items()):
            for j, net in enumerate(nics):
                att = f"{tenant}/{server}/eth{j}"
                core.ports.create(ctx, {"network_id": nets[net]["id"], "attachment": att})
                plugs.append(((i + t) % 3, att))
    return measure(*build_chassis(core, plugs, 3))


def wide_scenario(hypervisors=3, ports=50, networks=10):
    core = Core.from_url("sqlite://", NoopPlugin())
    ctx = Context("bench")
    nets = []
    for k in range(networks):
        net = core.networks.create(ctx, {"name": f"n{k}"})
        core.subnets.create(ctx, {"network_id": net["id"], "cidr": f"10.{k}.0.0/24"})
        nets.append(net)
    plugs = []
    for h in range(hypervisors):
        for p in range(ports):
            att = f"hv{h}/vm{p}"
            core.ports.create(ctx, {"network_id": nets[p % networks]["id"], "attachment": att})
            plugs.append((h, att))
    return measure(*build_chassis(core, plugs, hypervisors))


def main():
    results = {}
    for name, fn in (("seed (2 tenants, 3 hypervisors)", seed_scenario),
                     ("3 hypervisors x 50 ports x 10 networks", wide_scenario)):
        per_switch, secs = fn()
        results[name] = {"per_switch": per_switch, "compile_seconds": round(secs, 4)}
        print(f"{name}:")
        for sw, n in per_switch.items():
            print(f"  {sw}: {n['flows']} flows, {n['groups']} groups")
        print(f"  compile time for all switches: {secs * 1000:.1f} ms")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
