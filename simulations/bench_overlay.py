"""Overlay benchmark: port-up convergence, TCP through the qnet pipeline vs hand-written flows,
flows per switch, and (``--ovn``) the same figures from the OVN peer in the same run.

Usage (root, from the repository root, with the project's venv)::

    .venv/bin/python -m simulations.bench_overlay                 # qnet only
    .venv/bin/python -m simulations.bench_overlay --ovn PEER.sh   # + OVN peer and ratios
    .venv/bin/python -m simulations.bench_overlay --trace         # + where the time goes

What it does (everything it starts is stopped by pid, everything it creates is removed, also on
failure; it checks that at the end and says so):

1. Starts its own ``qnet serve`` (openflow plug-in, noauth, SQLite in a temp dir, free loopback
   ports) and a lab of 2 namespaced hypervisors on 2 routed underlay subnets whose br-int and
   ovsdb-server connect to it through unix-socket relays (as tests/lab/test_overlay.py does).
2. State: the seed's scenario for two tenants (3 networks, 3 servers each, addresses by DHCP)
   plus a "bench" project with one network, VM bvm1 on hv1, bvm2 on hv2 (both attached) and a
   probe VM on hv1 whose interface is plugged (iface-id set) but whose port has no attachment.
   Static neighbour entries on the probe, bvm1 and bvm2, so no ARP is ever needed.
3. Flow counts per br-int (ovs-ofctl dump-flows | count), per table, and groups.
4. Convergence, ``--samples`` times: a pinger (``ping -D -i 0.002``) runs in the probe towards
   bvm2 (other hypervisor); t0 = just before the PUT that sets the attachment; the figure is the
   timestamp of the first echo reply minus t0 (so: API, controller, both switches, the tunnel,
   and back). Any reply before t0 invalidates the sample (the detach did not stop traffic).
   Then detach (PUT attachment=null) and wait for status DOWN. Percentiles are nearest-rank.
5. Data plane: iperf3 TCP bvm1 -> bvm2 (``--iperf-seconds`` each), ``--iperf-runs`` rounds, each
   round one qnet run then one hand-flow run (interleaved, so background load hits both alike).
   The ratio is given best-of-N (other work on a shared machine only ever lowers a run) and on
   means.
   Hand-flow mode: the br-int controllers are removed (del-controller, relay killed), every
   flow and group deleted, and two flows per hypervisor added (VM port -> set tun_id -> qnet's
   tunnel port; tunnel port + tun_id -> VM port); back to qnet: hand flows deleted, controller
   set again, wait until qnet has reinstalled its flows (same count as before) and ping works.
6. ``--ovn SCRIPT``: runs the OVN peer (a script outside this repository that builds an OVN
   lab of the same shape and prints its figures) after the qnet lab is gone (apt-installs
   ovn-central ovn-host if missing) and prints qnet/OVN ratios (throughput: higher is better
   for qnet; port-up p50: lower is better for qnet).
7. ``--trace``: runs ``qnet serve`` at DEBUG through a wrapper in this file that times, without
   changing product code, the plug-in notify, worker passes, the incremental update ("compile"),
   encoding ("diff"), the barrier per switch, tunnel requests and status reports; prints the
   per-stage breakdown of the attaches.

Output: a compact table, then one JSON line (prefix ``JSON ``).
"""
import argparse
import json
import math
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from simulations.serve import QnetServer  # noqa: E402

BENCH_PROJECT = "bench"
BENCH_CIDR = "10.9.0.0/24"
BVM1_IP, BVM2_IP, PROBE_IP = "10.9.0.11", "10.9.0.12", "10.9.0.20"
PROBE_IFACE = "bench.example.com/bench/server/probe/eth0"
HAND_COOKIE = 0x1AB0
TRACE_TAG = "QNETTRACE"


# -- small helpers --------------------------------------------------------------------------------
def pct(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    return v[max(0, math.ceil(p / 100.0 * len(v)) - 1)] if v else None


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# -- qnet serve -----------------------------------------------------------------------------------
def start_server(workdir, log_level="INFO", trace=False):
    """``qnet serve --plugin openflow`` for the bench (started; ``stop()`` it); with `trace`, run
    through ``traced_serve``."""
    command = [sys.executable, "-c",
               "import sys; sys.path.insert(0, %r); "
               "from simulations.bench_overlay import traced_serve; traced_serve(sys.argv[1:])"
               % ROOT] if trace else None
    return QnetServer(workdir, plugin="openflow", log_level=log_level, command=command).start()


def traced_serve(argv):
    """``qnet serve`` with timing probes around the controller's stages (benchmark only: the
    product code is untouched, the probes wrap its functions from outside). Each probe logs
    ``QNETTRACE <epoch> <event> k=v...`` at INFO."""
    from controller import service
    service.prepare_hub()          # eventlet first, as qnet serve itself does
    import logging
    from apps import ofmsg
    from apps import openflow as of
    log = logging.getLogger("qnet.bench.trace")

    def emit(event, **kw):
        log.info("%s %.6f %s %s", TRACE_TAG, time.time(), event,
                 " ".join(f"{k}={v}" for k, v in kw.items()))

    orig_notify = of.OpenFlowPlugin.notify

    def notify(self, change):
        emit("notify", hook=change.hook)
        return orig_notify(self, change)
    of.OpenFlowPlugin.notify = notify

    orig_reconcile = of.QnetController.reconcile

    def reconcile(self):
        emit("pass_start")
        try:
            return orig_reconcile(self)
        finally:
            emit("pass_end")
    of.QnetController.reconcile = reconcile

    from apps import incremental
    orig_update = incremental.DesiredState.update

    def update(self, *a, **kw):
        t = time.perf_counter()
        deltas = orig_update(self, *a, **kw)
        emit("compile", switches=len(deltas), ms="%.3f" % ((time.perf_counter() - t) * 1e3),
             flows=self.counters.flows_computed)
        return deltas
    incremental.DesiredState.update = update

    orig_messages = ofmsg.messages

    def messages(dp, delta):
        t = time.perf_counter()
        msgs = list(orig_messages(dp, delta))
        emit("diff", dpid=dp.id, ms="%.3f" % ((time.perf_counter() - t) * 1e3), msgs=len(msgs))
        return msgs
    ofmsg.messages = messages

    orig_begin = of.QnetController._begin

    def begin(self, dp, msg, reply_cls, *a, **kw):
        wait = orig_begin(self, dp, msg, reply_cls, *a, **kw)
        if reply_cls is None or reply_cls.__name__ != "OFPBarrierReply":
            return wait
        emit("barrier_sent", dpid=dp.id)

        def timed_wait(*args, **kwargs):
            try:
                return wait(*args, **kwargs)
            finally:
                emit("barrier_done", dpid=dp.id)
        return timed_wait
    of.QnetController._begin = begin

    for name in ("_request_tunnels", "_report_status"):
        orig = getattr(of.QnetController, name)

        def timed(self, *a, _orig=orig, _name=name, **kw):
            t = time.perf_counter()
            try:
                return _orig(self, *a, **kw)
            finally:
                emit(_name.strip("_"), ms="%.3f" % ((time.perf_counter() - t) * 1e3))
        setattr(of.QnetController, name, timed)

    from controller.cli import main
    main(argv)


# -- the lab state ---------------------------------------------------------------------------------
def setup_state(lab, url, with_seed=True):
    from simulations.lab import seed
    from qnetclient import Client
    from simulations.lab.nodes import wait_for
    hv1, hv2 = lab.hypervisors[0], lab.hypervisors[1]
    servers = []
    if with_seed:
        clients = {t: Client(url, project=t) for t in ("tenant-a", "tenant-b")}
        servers = seed.build(lab, clients, lab.hypervisors)
    api = Client(url, project=BENCH_PROJECT)
    net = api.networks.create(name="bench-net")
    api.subnets.create(network_id=net["id"], cidr=BENCH_CIDR, ip_version=4, name="bench-v4")
    ports, vms = {}, {}
    for name, ip, hv, attach in (("bvm1", BVM1_IP, hv1, True), ("bvm2", BVM2_IP, hv2, True),
                                 ("bprobe", PROBE_IP, hv1, False)):
        iface = PROBE_IFACE if name == "bprobe" else f"bench.example.com/bench/server/{name}/eth0"
        attrs = dict(network_id=net["id"], name=name, device_id=name, device_owner="compute:lab",
                     fixed_ips=[{"ip_address": ip}])
        if attach:
            attrs["attachment"] = iface
        ports[name] = api.ports.create(**attrs)
        vms[name] = lab.add_vm(name, hv, f"{ip}/24", mac=ports[name]["mac_address"],
                               iface_id=iface, project=BENCH_PROJECT)
    for a, b in (("bvm1", "bvm2"), ("bprobe", "bvm2")):
        for x, y in ((a, b), (b, a)):
            vms[x].cmd(f"ip neigh replace {ports[y]['fixed_ips'][0]['ip_address']} lladdr "
                       f"{ports[y]['mac_address']} dev {x}-eth0 nud permanent")
    for name in ("bvm1", "bvm2"):
        wait_for(lambda: api.ports.get(ports[name]["id"])["status"] == "ACTIVE",
                 timeout=30, what=f"{name} ACTIVE")
    wait_for(lambda: ping_ok(vms["bvm1"], BVM2_IP), timeout=20, what="bvm1 -> bvm2 ping")
    admin = Client(url, project=BENCH_PROJECT, admin=True)   # provider:* is admin-only
    return {"api": api, "net": admin.networks.get(net["id"]), "ports": ports, "vms": vms,
            "servers": servers}


def ping_ok(vm, ip, count=1, wait=1):
    return "rc=0" in vm.cmd(f"ping -n -c {count} -W {wait} {ip} >/dev/null 2>&1; echo rc=$?")


def flow_counts(lab):
    out = {}
    for hv in lab.hypervisors:
        lines = [ln for ln in hv.ofctl("dump-flows", "br-int").splitlines() if "cookie=" in ln]
        tables = {}
        for ln in lines:
            m = re.search(r"table=(\d+)", ln)
            t = int(m.group(1)) if m else 0
            tables[t] = tables.get(t, 0) + 1
        groups = [ln for ln in hv.ofctl("dump-groups", "br-int").splitlines()
                  if "group_id=" in ln]
        out[hv.name] = {"flows": len(lines), "groups": len(groups),
                        "per_table": dict(sorted(tables.items()))}
    return out


# -- convergence --------------------------------------------------------------------------------
class Pinger:
    """``ping -D -i 0.002`` in a VM; first reply time (epoch s) read from its own timestamps."""

    REPLY = re.compile(rb"^\[(\d+\.\d+)\] \d+ bytes from")

    def __init__(self, vm, ip, deadline_s):
        self.proc = vm.popen(["ping", "-D", "-n", "-i", "0.002", "-w", str(deadline_s), ip],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.buf = b""
        self.replies = []

    def poll(self, timeout):
        """Read what is there (waiting up to ``timeout``); return the first reply time or None."""
        fd = self.proc.stdout.fileno()
        end = time.monotonic() + timeout
        while not self.replies:
            left = end - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self.buf += chunk
            *lines, self.buf = self.buf.split(b"\n")
            for ln in lines:
                m = self.REPLY.match(ln)
                if m:
                    self.replies.append(float(m.group(1)))
        return self.replies[0] if self.replies else None

    def stop(self):
        from simulations.lab.nodes import kill_pid
        kill_pid(self.proc.pid)
        self.proc.communicate()


def measure_convergence(state, samples, warmup_s=0.3):
    from simulations.lab.nodes import LabError, wait_for
    api, port = state["api"], state["ports"]["bprobe"]
    probe = state["vms"]["bprobe"]
    results, invalid, misses, down_ms, api_ms, samples_t0 = [], 0, 0, [], [], []
    for i in range(samples):
        pinger = Pinger(probe, BVM2_IP, deadline_s=8)
        try:
            if pinger.poll(warmup_s) is not None:
                invalid += 1            # traffic before the attach: the detach did not hold
                continue
            t0 = time.time()
            api.ports.attach(port["id"], PROBE_IFACE)
            api_ms.append((time.time() - t0) * 1e3)
            first = pinger.poll(5.0)
            if first is None:
                misses += 1
            else:
                results.append((first - t0) * 1e3)
                samples_t0.append((t0, first))
        finally:
            pinger.stop()
        try:
            wait_for(lambda: api.ports.get(port["id"])["status"] == "ACTIVE", timeout=10,
                     interval=0.01, what="probe ACTIVE")
        except LabError:
            misses += 1
        t1 = time.time()
        api.ports.detach(port["id"])
        try:
            wait_for(lambda: api.ports.get(port["id"])["status"] == "DOWN", timeout=10,
                     interval=0.005, what="probe DOWN")
            down_ms.append((time.time() - t1) * 1e3)
        except LabError:
            misses += 1
        time.sleep(0.05)
    return {"ms": results, "invalid": invalid, "misses": misses, "api_ms": api_ms,
            "detach_down_ms": down_ms, "t0_first": samples_t0}


# -- data plane ---------------------------------------------------------------------------------
def hand_mode(lab, state):
    """Take br-int away from qnet and program two flows per hypervisor by hand."""
    from tunnel.mesh import tunnel_port_name
    vni = state["net"]["provider:segmentation_id"]
    hv1, hv2 = lab.hypervisors[0], lab.hypervisors[1]
    for hv in (hv1, hv2):
        hv.del_controller()
    for hv in (hv1, hv2):
        hv.ofctl("del-flows", "br-int")
        hv.ofctl("del-groups", "br-int")
    for hv, peer, vm in ((hv1, hv2, "bvm1"), (hv2, hv1, "bvm2")):
        vm_port = hv.ofport("tap" + vm)
        tun = hv.ofport(tunnel_port_name(peer.tunnel_ip))
        hv.ofctl("add-flow", "br-int", "cookie=%#x,priority=100,in_port=%d,"
                 "actions=set_field:%d->tun_id,output:%d" % (HAND_COOKIE, vm_port, vni, tun))
        hv.ofctl("add-flow", "br-int", "cookie=%#x,priority=100,in_port=%d,tun_id=%d,"
                 "actions=output:%d" % (HAND_COOKIE, tun, vni, vm_port))


def qnet_mode(lab, state, ofp_target, expect_flows):
    from simulations.lab.nodes import wait_for
    for hv in lab.hypervisors:
        hv.ofctl("del-flows", "br-int")
        hv.ofctl("del-groups", "br-int")
        hv.set_controller(ofp_target)
    wait_for(lambda: {h: c["flows"] for h, c in flow_counts(lab).items()} == expect_flows,
             timeout=30, interval=0.2, what="qnet to reinstall its flows")
    wait_for(lambda: ping_ok(state["vms"]["bvm1"], BVM2_IP), timeout=20,
             what="ping through qnet again")


def measure_dataplane(lab, state, ofp_target, runs, seconds):
    from simulations.lab import check
    from simulations.lab.nodes import wait_for
    a, b = state["vms"]["bvm1"], state["vms"]["bvm2"]
    expect = {h: c["flows"] for h, c in flow_counts(lab).items()}
    out = {"qnet": [], "hand": []}
    for _ in range(runs):
        out["qnet"].append(check.iperf3(a, b, BVM2_IP, seconds=seconds) / 1e6)
        hand_mode(lab, state)
        wait_for(lambda: ping_ok(a, BVM2_IP), timeout=20, what="ping through hand flows")
        out["hand"].append(check.iperf3(a, b, BVM2_IP, seconds=seconds) / 1e6)
        qnet_mode(lab, state, ofp_target, expect)
    return out


# -- trace analysis -------------------------------------------------------------------------------
def parse_trace(log_text):
    events = []
    for ln in log_text.splitlines():
        i = ln.find(TRACE_TAG + " ")
        if i < 0:
            continue
        parts = ln[i + len(TRACE_TAG) + 1:].split()
        kv = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
        events.append((float(parts[0]), parts[1], kv))
    return events


def breakdown(events, t0_first):
    """Per attach: stage durations (ms) from t0 (client PUT) to the first reply."""
    rows = []
    for t0, first in t0_first:
        ev = [e for e in events if t0 <= e[0] <= first + 0.5]
        notify = next((e for e in ev if e[1] == "notify" and
                       e[2].get("hook") in ("port_updated", "interface_plugged")), None)
        if notify is None:
            continue
        start = next((e for e in ev if e[1] == "pass_start" and e[0] >= notify[0]), None)
        if start is None:
            continue
        end = next((e for e in ev if e[1] == "pass_end" and e[0] >= start[0]), None)
        inpass = [e for e in ev if start[0] <= e[0] <= (end[0] if end else first + 0.5)]
        row = {"api_to_notify": (notify[0] - t0) * 1e3,
               "notify_to_wake": (start[0] - notify[0]) * 1e3,
               "compile": sum(float(e[2]["ms"]) for e in inpass if e[1] == "compile"),
               "diff_build": sum(float(e[2]["ms"]) for e in inpass if e[1] == "diff"),
               "tunnels": sum(float(e[2]["ms"]) for e in inpass if e[1] == "request_tunnels"),
               "report_status": sum(float(e[2]["ms"]) for e in inpass
                                    if e[1] == "report_status")}
        sent = [e for e in inpass if e[1] == "barrier_sent"]
        done = [e for e in inpass if e[1] == "barrier_done"]
        row["barrier_wait"] = sum((d[0] - s[0]) * 1e3 for s, d in zip(sent, done))
        row["switches"] = len(done)
        last_done = done[-1][0] if done else None
        row["wake_to_last_barrier"] = (last_done - start[0]) * 1e3 if last_done else None
        row["last_barrier_to_reply"] = (first - last_done) * 1e3 if last_done else None
        row["pass_total"] = (end[0] - start[0]) * 1e3 if end else None
        row["total"] = (first - t0) * 1e3
        rows.append(row)
    return rows


# -- OVN peer -------------------------------------------------------------------------------------
def ensure_ovn():
    if all(shutil.which(c) for c in ("ovn-nbctl", "ovn-northd", "ovn-controller")):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "ovn-central", "ovn-host"], check=True,
                   env=env, timeout=900, stdout=subprocess.DEVNULL)


def run_ovn(script, samples):
    ensure_ovn()
    clash = [n for n in netns_names() if re.match(r"po(hv|vm|vx)", n)]
    if clash:
        raise RuntimeError(f"OVN peer namespaces already exist (someone else running it?): {clash}")
    proc = subprocess.Popen(["bash", script, str(samples)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=120 + 5 * samples)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)   # its EXIT trap cleans its namespaces/daemons
        out, _ = proc.communicate(timeout=30)
        raise RuntimeError("ovn_lab.sh timed out:\n" + out[-2000:])
    tcp = re.search(r"ovn tcp throughput: ([\d.]+) (\w)bits/sec", out)
    mbps = None
    if tcp:
        mbps = float(tcp.group(1)) * {"K": 1e-3, "M": 1.0, "G": 1e3}.get(tcp.group(2), 1.0)
    portup = [float(x) for x in re.findall(r"ovn port-up ms: ([\d.]+)", out)]
    flows = re.search(r"ovn flows on chassis1: (\d+)", out)
    return {"tcp_mbps": mbps, "portup_ms": portup,
            "portup_missed": len(re.findall(r"ovn port-up: no reply", out)),
            "flows_chassis1": int(flows.group(1)) if flows else None, "raw": out}


# -- cleanup checks -------------------------------------------------------------------------------
def netns_names():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [ln.split()[0] for ln in out.splitlines() if ln.strip()]


def leftovers(resources, server_pid, workdir, netns_before):
    from simulations.lab.nodes import pid_alive
    left = []
    for (hv, name), pid in resources.get("daemon_pids", {}).items():
        if pid_alive(pid):
            left.append(f"{hv} {name} pid {pid}")
    for hv, pid in resources.get("relay_pids", {}).items():
        if pid_alive(pid):
            left.append(f"{hv} relay pid {pid}")
    for name, pid in resources.get("shell_pids", {}).items():
        if pid_alive(pid):
            left.append(f"mininet shell {name} pid {pid}")
    for d in resources.get("rundirs", []):
        if os.path.exists(d):
            left.append(f"run dir {d}")
    if server_pid and pid_alive(server_pid):
        left.append(f"qnet serve pid {server_pid}")
    if os.path.exists(workdir):
        left.append(f"temp dir {workdir}")
    new_ns = sorted(set(netns_names()) - set(netns_before))
    if new_ns:
        left.append(f"namespaces {new_ns}")
    return left


# -- main ---------------------------------------------------------------------------------------
def fmt(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench_overlay", description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=50, help="attach/detach cycles (max 500)")
    p.add_argument("--iperf-seconds", type=int, default=5)
    p.add_argument("--iperf-runs", type=int, default=3)
    p.add_argument("--no-seed", action="store_true", help="only the bench network")
    p.add_argument("--ovn", metavar="SCRIPT", help="run this OVN peer script in the same run")
    p.add_argument("--ovn-samples", type=int, default=20, help="OVN port-up samples (max 60)")
    p.add_argument("--trace", action="store_true",
                   help="serve at DEBUG with timing probes; print a per-stage breakdown")
    p.add_argument("--keep-log", metavar="PATH", help="copy the qnet serve log to PATH")
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench_overlay needs root (namespaces, OVS daemons)")
    a.samples = max(1, min(a.samples, 500))
    a.ovn_samples = max(1, min(a.ovn_samples, 60))
    a.iperf_seconds = max(1, min(a.iperf_seconds, 30))
    a.iperf_runs = max(1, min(a.iperf_runs, 5))

    from mininet.log import setLogLevel
    from simulations.lab.topo import start_lab
    setLogLevel("warning")

    netns_before = netns_names()
    load_before = loadavg()
    workdir = tempfile.mkdtemp(prefix="qnet-bench-overlay-")
    server, resources, result = None, {}, {"bench": "overlay"}
    log_text = ""
    t_start = time.time()
    try:
        server = start_server(workdir, log_level="DEBUG" if a.trace else "INFO", trace=a.trace)
        ofp_target = f"127.0.0.1:{server.ofp_port}"
        with start_lab(hypervisors=2, subnets=2) as lab:
            for hv in lab.hypervisors:
                hv.set_controller(ofp_target)
                hv.set_manager(f"127.0.0.1:{server.ovsdb_port}")
            resources = lab.resources()
            state = setup_state(lab, server.url, with_seed=not a.no_seed)
            result["flows"] = flow_counts(lab)
            conv = measure_convergence(state, a.samples)
            result["convergence"] = conv
            result["tcp_mbps"] = measure_dataplane(lab, state, ofp_target, a.iperf_runs,
                                                   a.iperf_seconds)
            resources = lab.resources()
    finally:
        if server is not None:
            server.stop()
            log_text = server.read_log()
            if a.keep_log:
                shutil.copy(server.log_path, a.keep_log)
        shutil.rmtree(workdir, ignore_errors=True)
    if a.trace:
        result["trace"] = breakdown(parse_trace(log_text), conv["t0_first"])
    if a.ovn:
        result["ovn"] = run_ovn(a.ovn, a.ovn_samples)
    result["load"] = {"before": load_before, "after": loadavg()}
    result["elapsed_s"] = round(time.time() - t_start, 1)
    result["leftovers"] = leftovers(resources, server.proc.pid if server else None, workdir,
                                    netns_before)
    report(result, a)
    return 0 if not result["leftovers"] else 1


def report(r, a):
    conv = r["convergence"]
    ms = conv["ms"]
    p50, p99, mx = pct(ms, 50), pct(ms, 99), (max(ms) if ms else None)
    tq, th = r["tcp_mbps"]["qnet"], r["tcp_mbps"]["hand"]
    ratio = statistics.mean(tq) / statistics.mean(th) if tq and th and statistics.mean(th) else None
    # The machine is shared: interference only ever lowers a run, so best-of-N is the robust one.
    ratio_best = max(tq) / max(th) if tq and th and max(th) else None
    print()
    print("qnet overlay benchmark (2 hypervisors, 2 routed underlay subnets, userspace OVS)")
    print(f"  load avg 1m: {r['load']['before']:.2f} before, {r['load']['after']:.2f} after; "
          f"elapsed {r['elapsed_s']} s")
    print("  flows per br-int (seed x2 tenants + bench net, probe detached):")
    for hv, c in r["flows"].items():
        tables = " ".join(f"t{t}:{n}" for t, n in c["per_table"].items())
        print(f"    {hv}: {c['flows']} flows, {c['groups']} groups   ({tables})")
    print(f"  port-up (PUT attachment -> first echo reply across the tunnel), n={len(ms)} "
          f"(invalid {conv['invalid']}, missed {conv['misses']}):")
    print(f"    p50 {fmt(p50)} ms  p99 {fmt(p99)} ms  max {fmt(mx)} ms  "
          f"min {fmt(min(ms) if ms else None)} ms"
          f"   [targets p50<50: {'PASS' if p50 is not None and p50 < 50 else 'FAIL'}, "
          f"p99<200: {'PASS' if p99 is not None and p99 < 200 else 'FAIL'}]")
    print(f"    PUT round trip p50 {fmt(pct(conv['api_ms'], 50))} ms; detach -> DOWN seen by API "
          f"p50 {fmt(pct(conv['detach_down_ms'], 50))} ms")
    print(f"  iperf3 TCP bvm1(hv1) -> bvm2(hv2), {a.iperf_seconds} s x {a.iperf_runs} "
          "(interleaved):")
    for label, xs in (("qnet pipeline", tq), ("hand flows   ", th)):
        print(f"    {label}: {', '.join(f'{x:.0f}' for x in xs)} Mbit/s (mean "
              f"{statistics.mean(xs):.0f}, median {statistics.median(xs):.0f}, best {max(xs):.0f})")
    print(f"    ratio qnet/hand: best-of-{len(tq)} {fmt(ratio_best, '.3f')}, mean "
          f"{fmt(ratio, '.3f')}  [target >= 0.9 (best-of): "
          f"{'PASS' if ratio_best is not None and ratio_best >= 0.9 else 'FAIL'}]")
    ratios = {"tcp_qnet_over_hand_best": ratio_best, "tcp_qnet_over_hand_mean": ratio}
    if "trace" in r:
        rows = r["trace"]
        keys = ["api_to_notify", "notify_to_wake", "compile", "diff_build", "barrier_wait",
                "wake_to_last_barrier", "last_barrier_to_reply", "tunnels", "report_status",
                "pass_total", "total"]
        print(f"  where the time goes (trace, {len(rows)} attaches; ms p50 / p99 / max):")
        for k in keys:
            vals = [x[k] for x in rows if x.get(k) is not None]
            if vals:
                print(f"    {k:22s} {pct(vals, 50):8.2f} {pct(vals, 99):8.2f} {max(vals):8.2f}")
    if "ovn" in r:
        o = r["ovn"]
        op50 = pct(o["portup_ms"], 50)
        # ovn_lab.sh runs iperf3 once: compare with qnet's best and mean runs
        ratios["tcp_qnet_over_ovn"] = max(tq) / o["tcp_mbps"] if o["tcp_mbps"] else None
        ratios["tcp_qnet_mean_over_ovn"] = (statistics.mean(tq) / o["tcp_mbps"]
                                            if o["tcp_mbps"] else None)
        ratios["portup_p50_qnet_over_ovn"] = p50 / op50 if p50 and op50 else None
        print(f"  OVN peer (ovn_lab.sh {a.ovn_samples}): TCP {fmt(o['tcp_mbps'], '.0f')} Mbit/s; "
              f"port-up n={len(o['portup_ms'])} (missed {o['portup_missed']}) p50 {fmt(op50)} ms "
              f"p99 {fmt(pct(o['portup_ms'], 99))} ms max "
              f"{fmt(max(o['portup_ms']) if o['portup_ms'] else None)} ms; "
              f"flows on chassis1 {o['flows_chassis1']} (its state: 1 switch, 2 + "
              f"{a.ovn_samples} ports; not qnet's state)")
        print(f"    qnet/OVN: TCP {fmt(ratios['tcp_qnet_over_ovn'], '.3f')} best-run, "
              f"{fmt(ratios['tcp_qnet_mean_over_ovn'], '.3f')} mean-run (higher is better), "
              f"port-up p50 {fmt(ratios['portup_p50_qnet_over_ovn'], '.2f')} (lower is better)")
    print(f"  cleanup: {'nothing left behind' if not r['leftovers'] else r['leftovers']}")
    out = {k: v for k, v in r.items() if k not in ("convergence", "ovn", "trace")}
    out["portup_ms"] = {"p50": p50, "p99": p99, "max": mx, "n": len(ms),
                        "invalid": conv["invalid"], "missed": conv["misses"],
                        "samples": [round(x, 2) for x in ms]}
    if "ovn" in r:
        out["ovn"] = {k: v for k, v in r["ovn"].items() if k != "raw"}
    if "trace" in r:
        out["trace"] = r["trace"]
    out["ratios"] = ratios
    print("JSON " + json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
