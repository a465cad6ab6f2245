"""Real switches at scale: flow-mods per second into real ovs-vswitchd bridges during a cold
start, and the resync after a controller restart.

Usage (root, from the repository root, with the project's venv)::

    .venv/bin/python -m simulations.bench_switches                    # 20 bridges, ~65,000 flows
    .venv/bin/python -m simulations.bench_switches --bridges 40 --ports 4000

Set-up: one lab hypervisor (simulations/lab: its own ovsdb-server and userspace ovs-vswitchd
in a namespace) with ``--bridges`` extra bridges (fail_mode=secure, OpenFlow 1.3; no tunnels
are needed, so several bridges share one OVS), each connected to the controller through the
lab's unix-socket relay. The flows are qnet's: the desired state the real incremental
controller computes for a cloud of that many switches and ``--ports`` ports
(simulations/fakecloud.py ``Scenario``; bridge k is switch k of it), about 3,300 flows and 20
groups per switch at 100 ports per switch.

The controller is a small os-ken app run in its own process (``--serve``) that programs each
bridge as qnet's core does (apps/reconcile.py): read the switch back (flows by cookie, groups,
meters), compute the difference from its desired state (apps/ofmsg.py ``changes``), send it,
then a barrier; one bridge at a time, so the rate is that of one switch. Two ways to send:

- ``objects``: one os-ken message object per flow-mod, ``Datapath.send_msg`` (serialize() and
  one socket write each): the path before the wire encoding;
- ``bytes``: apps/ofmsg.py ``wire``, the path qnet uses now: each ADD put together from
  encoded parts, in 64 KiB chunks, ``Datapath.send``.

Measured: per bridge, flow-mods / (send + barrier) seconds, and the whole cold start; then the
controller is restarted (``bytes``) and each bridge's resync (read back + diff, nothing to
send) is timed. Everything is stopped by pid and removed afterwards; traffic stays on
loopback and unix sockets. Output: a table, then one JSON line (prefix ``JSON ``).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

DPID_BASE = 0x100          # bridge k has datapath id DPID_BASE + k (the lab's br-int is 1)
RESULT = "RESULT "


# -- the controller process ------------------------------------------------------------------------
def desired_states(bridges, ports):
    """{dpid: SwitchState} of qnet's controller for a cloud of ``bridges`` switches."""
    from simulations.fakecloud import Scenario
    scenario = Scenario(bridges, ports)
    cloud = scenario.build(null_switches=True)
    cloud.publish()
    cloud.settle()
    return {DPID_BASE + s: cloud.controller.desired.state(scenario.system_id(s))
            for s in range(bridges)}


def serve(mode, port, bridges, ports):
    """Run the programming app until every bridge is done; print one RESULT line."""
    from controller.service import prepare_hub
    prepare_hub()
    from os_ken import cfg
    from os_ken.base.app_manager import AppManager
    from os_ken.lib import hub
    desired = desired_states(bridges, ports)
    manager = AppManager.get_instance()
    manager.load_apps(["os_ken.app.ofctl.service", "simulations.bench_switches_app"])
    cfg.CONF(args=["--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", str(port)],
             project="os_ken")
    threads = manager.instantiate_apps(**manager.create_contexts())
    app = next(a for a in manager.applications.values() if hasattr(a, "program"))
    app.configure(desired, mode)
    print("READY", flush=True)
    deadline = time.monotonic() + 600
    while len(app.results) < bridges and time.monotonic() < deadline:
        hub.sleep(0.05)
    print(RESULT + json.dumps(app.results), flush=True)
    manager.close()
    for thread in threads:
        hub.kill(thread)


# -- the bench ---------------------------------------------------------------------------------------
class Controller:
    """``python -m simulations.bench_switches --serve``: started, read, stopped by pid."""

    def __init__(self, mode, port, bridges, ports, log):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulations.bench_switches", "--serve", mode, str(port),
             str(bridges), str(ports)], cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        self.wait_for("READY", 300)

    def wait_for(self, prefix, timeout):
        import select
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    break
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
        raise RuntimeError(f"controller: no {prefix.strip()} within {timeout} s")

    def results(self, timeout=900):
        return json.loads(self.wait_for(RESULT, timeout))

    def stop(self):
        from simulations.lab.nodes import kill_pid
        kill_pid(self.proc.pid)
        self.proc.wait()


def summary(results):
    rows = sorted(results.values(), key=lambda r: r["dpid"])
    mods = sum(r["flow_mods"] for r in rows)
    first = min(r["t_start"] for r in rows)
    last = max(r["t_end"] for r in rows)
    rates = [r["flow_mods"] / r["send_s"] for r in rows if r["send_s"] > 0 and r["flow_mods"]]
    return {"bridges": len(rows), "flow_mods": mods, "wall_s": last - first,
            "per_bridge_rate_median": statistics.median(rates) if rates else None,
            "per_bridge_rate_min": min(rates) if rates else None,
            "read_back_s_median": statistics.median(r["read_s"] for r in rows),
            "per_bridge_s_median": statistics.median(r["read_s"] + r["send_s"] for r in rows),
            "aggregate_rate": mods / (last - first) if last > first else None}


def count_flows(hv, bridge):
    out = hv.ofctl("dump-aggregate", "unix:%s/%s.mgmt" % (hv.rundir, bridge))
    return int(out.split("flow_count=")[1].split()[0])


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench_switches", description=__doc__.split("\n")[0])
    p.add_argument("--bridges", type=int, default=20)
    p.add_argument("--ports", type=int, default=2000, help="ports of the cloud (100/switch)")
    p.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.serve:
        mode, port, bridges, ports = a.serve
        return serve(mode, int(port), int(bridges), int(ports))
    if os.geteuid() != 0:
        sys.exit("bench_switches needs root (a namespace, OVS daemons)")
    a.bridges = max(1, min(a.bridges, 200))
    from mininet.log import setLogLevel
    from simulations.lab.nodes import start_relay
    from simulations.lab.topo import start_lab
    from simulations.serve import free_port
    setLogLevel("warning")
    load = os.getloadavg()[0]
    out = {"bench": "switches", "bridges": a.bridges, "ports": a.ports}
    log = tempfile.TemporaryFile(mode="w+")
    controller = None
    with start_lab(hypervisors=1, subnets=1) as lab:
        hv = lab.hypervisors[0]
        names = [f"bs{k}" for k in range(a.bridges)]
        for k, name in enumerate(names):
            hv.vsctl("add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev",
                     "fail_mode=secure", "protocols=OpenFlow13",
                     "other_config:datapath-id=%016x" % (DPID_BASE + k),
                     "other_config:disable-in-band=true")
        try:
            for mode in ("objects", "bytes", "restart"):
                port = free_port()
                hv.relay = start_relay(hv.name, hv.relay_socket, f"127.0.0.1:{port}")
                controller = Controller("bytes" if mode == "restart" else mode, port,
                                        a.bridges, a.ports, log)
                if mode != "restart":       # a cold start: empty bridges connect
                    for name in names:
                        hv.vsctl("del-controller", name)
                        hv.ofctl("del-flows", f"unix:{hv.rundir}/{name}.mgmt")
                        hv.ofctl("del-groups", f"unix:{hv.rundir}/{name}.mgmt")
                for name in names:
                    hv.vsctl("set-controller", name, "unix:" + hv.relay_socket, "--", "set",
                             "Controller", name, "max_backoff=1000")
                out[mode] = summary(controller.results())
                out[mode]["flows_on_first_bridge"] = count_flows(hv, names[0])
                controller.stop()
                controller = None
                hv.del_controller(ovsdb=False)     # the relay: the next run has a new port
        finally:
            if controller is not None:
                controller.stop()
    out["load_before"] = load
    report(out)


def report(r):
    print()
    print(f"real switches: {r['bridges']} bridges in one userspace ovs-vswitchd, qnet's flows for "
          f"a cloud of {r['bridges']} switches x {r['ports']} ports; load avg {r['load_before']:.1f}")
    print(f"  {'':32s}{'flow-mods':>10s}{'per bridge/s':>14s}{'min/s':>10s}{'all/s':>10s}"
          f"{'wall s':>8s}{'read-back s':>13s}{'per bridge s':>14s}")
    for mode, label in (("objects", "cold start, os-ken objects"),
                        ("bytes", "cold start, wire bytes"),
                        ("restart", "restart (resync, bytes)")):
        s = r[mode]

        def f(x, spec=",.0f"):
            return "-" if x is None else format(x, spec)
        print(f"  {label:32s}{s['flow_mods']:>10,}{f(s['per_bridge_rate_median']):>14s}"
              f"{f(s['per_bridge_rate_min']):>10s}{f(s['aggregate_rate']):>10s}"
              f"{s['wall_s']:>8.2f}{s['read_back_s_median']:>13.3f}"
              f"{s['per_bridge_s_median']:>14.3f}")
    print(f"  flows on the first bridge after each run: "
          + ", ".join(f"{m} {r[m]['flows_on_first_bridge']}" for m in ("objects", "bytes",
                                                                        "restart")))
    print("JSON " + json.dumps(r))


if __name__ == "__main__":
    sys.exit(main())
