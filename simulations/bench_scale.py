"""Scale: N in-process switches and P ports driven by the real controller (simulations/fakecloud.py).

    python -m simulations.bench_scale                       # N in {10,100,1000} x P in {1k,10k,100k}
    python -m simulations.bench_scale --sizes 100x10000 --plot scale.png

For each size, in a fresh process (so memory figures are per size): the cloud as a restarted
controller finds it (every VM interface plugged, tunnel ports in place, empty flow tables), then

- cold start: the first pass, until every switch holds its full desired state;
- one port add (a new port of network 0, its VM plugged on a switch hosting it), one port delete,
  one port move (a VM re-plugged on another switch of its network): median of ``--repeat``;
- flows and groups per switch (max, mean), peak RSS of the process;
- and in another process the same cold start against switches that keep nothing
  (fakecloud.NullSwitch): the peak RSS of the controller alone.

Times are CPU seconds of the process (one clock, ``time.process_time``), split into the
controller's (everything the real controller code does: chassis reports, incremental update,
encoding the messages to bytes, status reports written through the real core into an SQLite
database) and the simulation's (the switches reading the bytes back with os-ken's parser and
applying them, the fake OVSDB rows); the table shows the controller's and the total, and the
cold start's wall-clock time. The switches that keep nothing count the messages in the bytes and
decode one in a thousand. ``--plot FILE`` writes a PNG when matplotlib is installed
(``pip install -e .[plot]``).
"""
import argparse
import gc
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from apps.openflow import OpenFlowPlugin
from controller.context import Context
from controller.plugin import Change
from simulations.fakecloud import Scenario, Simulated, scale_port

SIZES = [(n, p) for n in (10, 100, 1000) for p in (1000, 10000, 100000)]
ADMIN = Context.admin()


def timed(cloud, step):
    """Run ``step()`` then settle; (controller CPU s, total CPU s, flow-mods, switches
    touched, wall s). One clock: process CPU time, of which ``Simulated`` is the switches'."""
    cpu, simulated, wall = time.process_time(), Simulated.seconds, time.perf_counter()
    step()
    work, sent = cloud.settle()
    total = time.process_time() - cpu
    return (total - (Simulated.seconds - simulated), total, sent, work.switches_touched,
            time.perf_counter() - wall)


def store(core, model, ports=None):
    """Write the model's networks, subnets and ports (or only ``ports``) into the core's
    database in bulk, with the ids the model uses: the rows the controller's status reports
    update. (100,000 API calls would time the API, not the controller.)"""
    from sqlalchemy import insert
    from controller.models import IPAllocation, Network, Port, Subnet
    rows = {Network: [], Subnet: [], Port: [], IPAllocation: []}
    if ports is None:
        for net in model.networks.values():
            rows[Network].append(dict(id=net.id, project_id="bench", mtu=net.mtu,
                                      segmentation_id=net.vni))
        for sub in model.subnets.values():
            rows[Subnet].append(dict(id=sub.id, project_id="bench", network_id=sub.network_id,
                                     ip_version=4, cidr=sub.cidr, gateway_ip=sub.gateway))
        ports = model.ports.values()
    for port in ports:
        rows[Port].append(dict(id=port.id, project_id="bench", network_id=port.network_id,
                               mac_address=port.mac, attachment=port.attachment))
        rows[IPAllocation].extend(dict(port_id=port.id, subnet_id="sub-" + port.network_id,
                                       network_id=port.network_id, ip_address=ip)
                                  for ip in port.ipv4)
    with core.db.write_engine.begin() as conn:
        for table, values in rows.items():
            if values:
                conn.execute(insert(table.__table__), values)


def unstore(core, port_id):
    from sqlalchemy import delete
    from controller.models import IPAllocation, Port
    with core.db.write_engine.begin() as conn:
        conn.execute(delete(IPAllocation.__table__).where(IPAllocation.port_id == port_id))
        conn.execute(delete(Port.__table__).where(Port.id == port_id))


def run_case(n, p, repeat, null=False):
    from controller.core import Core
    from controller.db import Database
    scenario = Scenario(n, p)
    plugin = OpenFlowPlugin()
    t = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="qnet-bench-scale-")
    plugin.core = Core(Database(f"sqlite:///{workdir}/qnet.sqlite"), plugin)
    cloud = scenario.build(plugin, null_switches=null)
    store(plugin.core, plugin.model)
    cloud.publish()                  # the chassis reports, as the OVSDB monitor delivers them
    build = time.perf_counter() - t
    gc.collect()
    cold_ctl, cold_total, cold_sent, _, cold_wall = timed(cloud, lambda: None)
    active = active_ports(plugin.core)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"switches": n, "ports": p, "networks": scenario.k, "span": scenario.span,
           "build_s": build, "cold_ctl_s": cold_ctl, "cold_total_s": cold_total,
           "cold_wall_s": cold_wall, "cold_flow_mods": cold_sent, "active_in_db": active,
           "cold_peak_rss_mib": rss}
    if not null:
        for system_id in cloud.hypervisors:       # the switches hold exactly the desired state
            if set(cloud.flows_of(system_id)) != \
                    set(cloud.controller.desired.state(system_id).flows):
                raise SystemExit(f"{system_id} does not hold its desired state")
        counts = [hv.dp.switch.flow_count() for hv in cloud.hypervisors.values()]
        groups = [len(hv.dp.switch.groups) for hv in cloud.hypervisors.values()]
        out.update(flows_max=max(counts), flows_mean=sum(counts) / len(counts),
                   groups_max=max(groups))
    host = scenario.system_id(scenario.switch_of(0, 0))
    other = scenario.system_id(scenario.switch_of(0, 1))
    results = {"add": [], "delete": [], "move": []}
    for r in range(repeat):
        i = p + r
        new = scale_port(i, 0, 252, f"vm-{i}")

        store(plugin.core, plugin.model, [new])       # the API's part, not timed

        def add():
            plugin.notify(Change("port", "created", ADMIN, None, None, after=new))
            cloud.plug(host, f"tap{i}", f"vm-{i}")

        def move():
            cloud.unplug(host, f"tap{i}")
            cloud.plug(other, f"tap{i}", f"vm-{i}")

        def delete():
            plugin.notify(Change("port", "deleted", ADMIN, None, None, before=new))
            cloud.unplug(other, f"tap{i}")
        for name, step in (("add", add), ("move", move), ("delete", delete)):
            results[name].append(timed(cloud, step))
        unstore(plugin.core, new.id)                   # the API's part of the delete
    for name, runs in results.items():
        if not runs:
            continue
        out[f"{name}_ctl_ms"] = statistics.median(r[0] for r in runs) * 1e3
        out[f"{name}_total_ms"] = statistics.median(r[1] for r in runs) * 1e3
        out[f"{name}_flow_mods"] = statistics.median(r[2] for r in runs)
        out[f"{name}_switches"] = statistics.median(r[3] for r in runs)
    out["hosts_of_network"] = len(scenario.hosts(0))
    shutil.rmtree(workdir, ignore_errors=True)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def active_ports(core):
    """Ports the database holds as ACTIVE: the status reports arrived."""
    from sqlalchemy import func, select
    from controller.models import Port
    with core.db.read() as session:
        return session.scalar(select(func.count()).select_from(Port).where(
            Port.status == "ACTIVE"))


def table(rows):
    head = ("| switches | ports | cold start: controller / total CPU s, wall s | flow-mods | "
            "port add: ctl ms, flow-mods, switches | delete | move | flows/switch max, mean | "
            "controller alone: cold start CPU s, wall s, peak RSS MiB | with the fake switches |")
    lines = [head, "|" + "---:|" * 10]
    for r in rows:
        lines.append(
            f"| {r['switches']:,} | {r['ports']:,} | {r['cold_ctl_s']:.1f} / "
            f"{r['cold_total_s']:.1f}, {r['cold_wall_s']:.1f} | {r['cold_flow_mods']:,} | "
            f"{r['add_ctl_ms']:.1f}, {r['add_flow_mods']:.0f}, {r['add_switches']:.0f} | "
            f"{r['delete_ctl_ms']:.1f}, {r['delete_flow_mods']:.0f}, "
            f"{r['delete_switches']:.0f} | {r['move_ctl_ms']:.1f}, {r['move_flow_mods']:.0f}, "
            f"{r['move_switches']:.0f} | {r['flows_max']:,}, {r['flows_mean']:,.0f} | "
            f"{r['alone_cold_ctl_s']:.1f}, {r['alone_cold_wall_s']:.1f}, "
            f"{r['controller_rss_mib']:,.0f} | {r['peak_rss_mib']:,.0f} |")
    return "\n".join(lines)


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        print(f"matplotlib is not installed: no plot ({path})", file=sys.stderr)
        return
    fig, axes = pyplot.subplots(1, 3, figsize=(15, 4.5))
    panels = (("ports", "cold_ctl_s", "ports in the cloud", "cold start, controller CPU (s)"),
              ("ports", "add_ctl_ms", "ports in the cloud", "one port add, controller CPU (ms)"),
              ("per_switch", "flows_max", "ports per switch (P/N)",
               "flows per switch: one line whatever N"))
    for ax, (xkey, ykey, xlabel, title) in zip(axes, panels):
        for n in sorted({r["switches"] for r in rows}):
            mine = sorted((r["ports"] / (r["switches"] if xkey == "per_switch" else 1), r[ykey])
                          for r in rows if r["switches"] == n)
            ax.plot([x for x, _ in mine], [y for _, y in mine], marker="o", label=f"{n} switches")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")


def case(n, p, repeat, *flags):
    """run_case in a fresh process (so peak RSS is this size's own)."""
    out = subprocess.run([sys.executable, "-m", "simulations.bench_scale", "--case", f"{n}x{p}",
                          "--repeat", str(repeat), *flags],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", help="comma-separated NxP (default: the 3x3 grid up to "
                                    "1000x100000)")
    ap.add_argument("--repeat", type=int, default=5, help="port add/delete/move repetitions")
    ap.add_argument("--plot", metavar="PNG", help="write a plot of the figures")
    ap.add_argument("--case", metavar="NxP", help="one size, in this process; prints JSON")
    ap.add_argument("--null", action="store_true",
                    help="with --case: switches that count and sample the bytes, keep nothing "
                         "(the controller alone; for the largest sizes)")
    args = ap.parse_args(argv)
    if args.case:
        n, p = map(int, args.case.split("x"))
        print(json.dumps(run_case(n, p, args.repeat, args.null)))
        return
    sizes = [tuple(map(int, s.split("x"))) for s in args.sizes.split(",")] \
        if args.sizes else SIZES
    rows = []
    for n, p in sizes:
        row = case(n, p, args.repeat)
        alone = case(n, p, 0, "--null")
        row["controller_rss_mib"] = alone["cold_peak_rss_mib"]
        row["alone_cold_ctl_s"] = alone["cold_ctl_s"]
        row["alone_cold_wall_s"] = alone["cold_wall_s"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    print(table(rows))
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
