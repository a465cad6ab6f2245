"""Overlay benchmark, qnet and OVN side by side on one lab: port-up, TCP and UDP throughput,
CPU per Gbit, and flows per hypervisor for the same logical model.

Usage (root, from the repository root, with the project's venv; ``make peers`` installs OVN)::

    .venv/bin/python -m simulations.bench_overlay                 # qnet and OVN, 5 runs
    .venv/bin/python -m simulations.bench_overlay --no-ovn        # qnet only
    .venv/bin/python -m simulations.bench_overlay --trace         # + where qnet's time goes

The same lab for both (everything it starts is stopped by pid, everything it creates is
removed, also on failure; it checks that at the end and says so):

1. One lab of 4 namespaced hypervisors (own ovsdb-server + userspace ovs-vswitchd each) on 2
   underlay subnets joined by a router: hv1 and hv3 on the first, hv2 and hv4 on the second.
   hv1 and hv2 are qnet's (its own ``qnet serve``: openflow plug-in, noauth, SQLite in a temp
   dir), hv3 and hv4 OVN's (simulations/peers/ovn.py: central databases, ovn-northd, an
   ovn-controller on each). Both use VXLAN across the router; every VM has MTU 1450.
2. The same logical model on each side: the seed scenario for two tenants (3 networks with the
   same CIDRs in each tenant, servers fw, web and db, spread over the side's two hypervisors as
   simulations/lab/seed.py does, port security and DHCP on every subnet), plus a bench network
   with VM bvm1 on the first hypervisor, bvm2 on the second, and a probe VM on the first whose
   interface is plugged but whose port is not usable yet. Static neighbour entries on the probe,
   bvm1 and bvm2, so no ARP is ever needed (a first ping would otherwise wait for the kernel's
   ARP timers, not for the controller).
3. Flows and groups on every hypervisor's br-int once both are settled (probe not usable).
4. ``--runs`` rounds, interleaved: qnet then OVN in odd rounds, OVN then qnet in even ones.
   In each round, per side:
   - port-up, ``--samples`` times: a pinger (an echo request every 1 ms, simulations/lab/
     icmp_probe.py: ``ping -i`` slows to one per 10 ms while unanswered) runs in the probe towards
     bvm2 (other hypervisor, across the router); t0 = just before the northbound call that makes
     the probe's port usable -- qnet: the PUT that sets its attachment (the VM interface carries
     that attachment as iface-id); OVN: ``ovn-nbctl lsp-add`` with its addresses and port
     security (no ``--wait``); the figure is the first echo reply's timestamp minus t0. Then the
     port is made unusable again (qnet: PUT attachment null, until the API says DOWN; OVN:
     ``lsp-del`` then ``--wait=hv sync``). A reply before t0 invalidates the sample.
   - TCP and UDP throughput bvm1 -> bvm2 (iperf3, ``--iperf-seconds``; UDP offered at
     ``--udp-mbps`` in 1,400-byte datagrams, received rate reported), and the CPU seconds that
     ovs-vswitchd of both hypervisors and the controller (qnet serve; both ovn-controllers)
     spent during each transfer, read from /proc/<pid>/stat, per Gbit received.
5. Figures: per side, port-up p50 and p99 over all samples and each round's p50 (median and
   spread over rounds); throughput median and spread over rounds; qnet/OVN ratios.

``--trace``: runs ``qnet serve`` at DEBUG through a wrapper in this file that times, without
changing product code, the plug-in notify, worker passes, the incremental update ("compile"),
encoding ("diff"), the barrier per switch, tunnel requests and status reports; prints the
per-stage breakdown of qnet's port-ups.

Output: a compact table, then one JSON line (prefix ``JSON ``).
"""
import argparse
import json
import math
import os
import re
import select
import shutil
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
TRACE_TAG = "QNETTRACE"
UDP_LEN = 1400          # datagram payload: fits the VMs' MTU of 1450 without fragments


# -- small helpers --------------------------------------------------------------------------------
def pct(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    return v[max(0, math.ceil(p / 100.0 * len(v)) - 1)] if v else None


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# -- qnet serve -----------------------------------------------------------------------------------
def start_server(workdir, log_level="INFO", trace=False, ofp_unix=True):
    """``qnet serve --plugin openflow`` for the bench (started; ``stop()`` it); with `trace`, run
    through ``traced_serve``; `ofp_unix`: also on its unix socket, which the switches dial."""
    command = [sys.executable, "-c",
               "import sys; sys.path.insert(0, %r); "
               "from simulations.bench_overlay import traced_serve; traced_serve(sys.argv[1:])"
               % ROOT] if trace else None
    return QnetServer(workdir, plugin="openflow", log_level=log_level, command=command,
                      ofp_unix=ofp_unix).start()


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

    orig_wire = ofmsg.wire

    def wire(dp, delta, *a, **kw):
        t = time.perf_counter()
        chunks = list(orig_wire(dp, delta, *a, **kw))
        emit("diff", dpid=dp.id, ms="%.3f" % ((time.perf_counter() - t) * 1e3), msgs=len(delta))
        return chunks
    ofmsg.wire = wire

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

    from rest import app as rest_app
    orig_build = rest_app.build_app

    def build_app(*a, **kw):
        inner = orig_build(*a, **kw)

        def traced_app(environ, start_response):
            if environ.get("REQUEST_METHOD") == "PUT":
                emit("api_in")
            return inner(environ, start_response)
        return traced_app
    rest_app.build_app = build_app

    from controller.core import Core
    orig_write = Core.write

    def write(self, work, veto=True):
        emit("write_start")
        return orig_write(self, work, veto)
    Core.write = write

    from controller.db import Database
    orig_run_write = Database.run_write

    def run_write(self, *a, **kw):
        try:
            return orig_run_write(self, *a, **kw)
        finally:
            emit("committed")
    Database.run_write = run_write

    from controller.cli import main
    main(argv)


# -- the two sides ------------------------------------------------------------------------------
class QnetSide:
    """qnet on two of the lab's hypervisors, driven through its REST API."""

    name = "qnet"

    def __init__(self, lab, server, hypervisors):
        self.lab, self.server, self.hvs = lab, server, hypervisors
        self.api = self.port = None
        self.vms = {}

    def setup(self, with_seed):
        from qnetclient import Client
        from simulations.lab import seed
        from simulations.lab.nodes import wait_for
        for hv in self.hvs:
            hv.set_controller(f"unix:{self.server.ofp_socket}" if self.server.ofp_socket
                              else f"127.0.0.1:{self.server.ofp_port}")
            hv.set_manager(f"127.0.0.1:{self.server.ovsdb_port}")
        if with_seed:
            clients = {t: Client(self.server.url, project=t) for t in ("tenant-a", "tenant-b")}
            seed.build(self.lab, clients, self.hvs)
        self.api = api = Client(self.server.url, project=BENCH_PROJECT)
        net = api.networks.create(name="bench-net")
        api.subnets.create(network_id=net["id"], cidr=BENCH_CIDR, ip_version=4, name="bench-v4")
        ports = {}
        for name, ip, hv in (("bvm1", BVM1_IP, self.hvs[0]), ("bvm2", BVM2_IP, self.hvs[1]),
                             ("bprobe", PROBE_IP, self.hvs[0])):
            iface = PROBE_IFACE if name == "bprobe" else \
                f"bench.example.com/bench/server/{name}/eth0"
            attrs = dict(network_id=net["id"], name=name, device_id=name,
                         device_owner="compute:lab", fixed_ips=[{"ip_address": ip}])
            if name != "bprobe":
                attrs["attachment"] = iface
            ports[name] = api.ports.create(**attrs)
            self.vms[name] = self.lab.add_vm(name, hv, f"{ip}/24",
                                             mac=ports[name]["mac_address"], iface_id=iface,
                                             project=BENCH_PROJECT)
        static_neighbours(self.vms, {n: (p["fixed_ips"][0]["ip_address"], p["mac_address"])
                                     for n, p in ports.items()})
        self.port = ports["bprobe"]
        for name in ("bvm1", "bvm2"):
            wait_for(lambda: api.ports.get(ports[name]["id"])["status"] == "ACTIVE",
                     timeout=30, what=f"{name} ACTIVE")
        wait_for(lambda: ping_ok(self.vms["bvm1"], BVM2_IP), timeout=20,
                 what="qnet: bvm1 -> bvm2 ping")

    def make_usable(self):
        self.api.ports.attach(self.port["id"], PROBE_IFACE)

    def settle_up(self):
        from simulations.lab.nodes import wait_for
        wait_for(lambda: self.api.ports.get(self.port["id"])["status"] == "ACTIVE", timeout=10,
                 interval=0.01, what="probe ACTIVE")

    def make_unusable(self):
        from simulations.lab.nodes import wait_for
        self.api.ports.detach(self.port["id"])
        wait_for(lambda: self.api.ports.get(self.port["id"])["status"] == "DOWN", timeout=10,
                 interval=0.005, what="probe DOWN")

    def controller_pids(self):
        return [self.server.pid]

    def flows(self):
        return flow_counts(self.hvs)


def flow_counts(hypervisors):
    """{hypervisor name: {"flows": n, "groups": n}} on each one's br-int."""
    return {hv.name: {"flows": hv.ofctl("dump-flows", "br-int").count("cookie="),
                      "groups": hv.ofctl("dump-groups", "br-int").count("group_id=")}
            for hv in hypervisors}


class OvnSide:
    """OVN on two other hypervisors of the same lab, driven through its northbound database."""

    name = "ovn"

    def __init__(self, lab, central, hypervisors):
        from simulations.peers import ovn
        self.lab, self.central, self.hvs = lab, central, hypervisors
        self.chassis = [ovn.Chassis(hv, central).start() for hv in hypervisors]
        self.vms = {}
        self.probe = None

    def setup(self, with_seed):
        from simulations.lab import seed
        from simulations.lab.nodes import wait_for
        from simulations.peers import ovn
        if with_seed:      # seed.build's model and placement, written to OVN's northbound
            for t, tenant in enumerate(("tenant-a", "tenant-b")):
                dhcp = {net: ovn.add_switch(self.central, f"{tenant}-{net}", cidr)
                        for net, cidr in seed.NETWORKS.items()}
                for i, (name, nets) in enumerate(seed.SERVERS.items()):
                    host, nics = 10 + 10 * t + i, []
                    for k, net in enumerate(nets):
                        lsp, mac = f"{tenant}-{name}-eth{k}", "0a:00:00:00:%02x:%02x" % (host, k)
                        ip = seed.NETWORKS[net].rsplit(".", 1)[0] + f".{host}"
                        ovn.add_port(self.central, f"{tenant}-{net}", lsp, mac, ip, dhcp[net])
                        nics.append((lsp, mac, ip + "/24"))
                    ovn.plug_vm(self.lab, f"o{name}{host}", self.hvs[(i + t) % 2], nics)
        dhcp = ovn.add_switch(self.central, "bench-net", BENCH_CIDR)
        addrs = {}
        for k, (name, ip, hv) in enumerate((("bvm1", BVM1_IP, self.hvs[0]),
                                            ("bvm2", BVM2_IP, self.hvs[1]),
                                            ("bprobe", PROBE_IP, self.hvs[0]))):
            mac = "0a:00:00:00:09:%02x" % (k + 1)
            addrs[name] = (ip, mac)
            if name != "bprobe":
                ovn.add_port(self.central, "bench-net", name, mac, ip, dhcp)
            self.vms[name] = ovn.plug_vm(self.lab, "o" + name, hv, [(name, mac, f"{ip}/24")])
        self.probe = (addrs["bprobe"][1], PROBE_IP, dhcp)
        static_neighbours(self.vms, addrs)
        self.central.wait_hv()
        wait_for(lambda: ping_ok(self.vms["bvm1"], BVM2_IP), timeout=20,
                 what="OVN: bvm1 -> bvm2 ping")

    def make_usable(self):
        from simulations.peers import ovn
        mac, ip, dhcp = self.probe
        ovn.add_port(self.central, "bench-net", "bprobe", mac, ip, dhcp)

    def settle_up(self):
        self.central.wait_hv()

    def make_unusable(self):
        self.central.nbctl("lsp-del", "bprobe")
        self.central.wait_hv()

    def controller_pids(self):
        return [ch.pid for ch in self.chassis]

    def flows(self):
        return {ch.name: {"flows": ch.flows(), "groups": ch.groups()} for ch in self.chassis}

    def stop(self):
        for ch in self.chassis:
            ch.stop()


def static_neighbours(vms, addrs):
    """bvm1 <-> bvm2 and probe <-> bvm2 know each other's MAC for good (no ARP ever)."""
    for a, b in (("bvm1", "bvm2"), ("bprobe", "bvm2")):
        for x, y in ((a, b), (b, a)):
            ip, mac = addrs[y]
            intf = vms[x].intfNames()[0]
            vms[x].cmd(f"ip neigh replace {ip} lladdr {mac} dev {intf} nud permanent")


def ping_ok(vm, ip, count=1, wait=1):
    return "rc=0" in vm.cmd(f"ping -n -c {count} -W {wait} {ip} >/dev/null 2>&1; echo rc=$?")


# -- port-up probe -------------------------------------------------------------------------------
class Pinger:
    """An echo request every millisecond from a VM (simulations/lab/icmp_probe.py: unlike
    ``ping -i``, it keeps that cadence while nothing answers); the first reply's time (epoch
    s), stamped in the VM as it was read."""

    REPLY = re.compile(rb"^\[(\d+\.\d+)\] \d+ bytes from")
    PROBE = os.path.join(ROOT, "simulations", "lab", "icmp_probe.py")

    def __init__(self, vm, ip, deadline_s):
        self.proc = vm.popen([sys.executable, self.PROBE, ip, "--interval", "0.001",
                              "--deadline", str(deadline_s)],
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


# -- port-up --------------------------------------------------------------------------------------
def measure_portup(side, samples, warmup_s=0.3):
    """``samples`` port-ups of the probe; ms from the northbound call to the first reply."""
    from simulations.lab.nodes import LabError
    probe = side.vms["bprobe"]
    out = {"ms": [], "invalid": 0, "missed": 0, "call_ms": [], "t0_first": []}
    for _ in range(samples):
        pinger = Pinger(probe, BVM2_IP, deadline_s=8)
        try:
            if pinger.poll(warmup_s) is not None:
                out["invalid"] += 1         # traffic before the call: the port was usable
                continue
            t0 = time.time()
            side.make_usable()
            out["call_ms"].append((time.time() - t0) * 1e3)
            first = pinger.poll(5.0)
            if first is None:
                out["missed"] += 1
            else:
                out["ms"].append((first - t0) * 1e3)
                out["t0_first"].append((t0, first))
        finally:
            pinger.stop()
        try:
            side.settle_up()
            side.make_unusable()
        except LabError:
            out["missed"] += 1
        time.sleep(0.05)
    return out


# -- throughput and CPU ---------------------------------------------------------------------------
def cpu_seconds(pids):
    """utime + stime of these processes (all their threads), from /proc/<pid>/stat."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def iperf(side, seconds, udp_mbps=None):
    """One iperf3 run bvm1 -> bvm2 (TCP, or UDP offered at ``udp_mbps``): received Mbit/s,
    UDP loss %, and CPU seconds per Gbit received of ovs-vswitchd on the side's two
    hypervisors plus its controller."""
    from simulations.lab.nodes import LabError, kill_pid, wait_for
    client, server = side.vms["bvm1"], side.vms["bvm2"]
    pids = [hv.pids["ovs-vswitchd"] for hv in side.hvs] + side.controller_pids()
    srv = server.popen(["iperf3", "-s", "-1", "-B", BVM2_IP, "-p", "5201"])
    try:
        wait_for(lambda: ":5201" in server.cmd('ss -Hln "sport = :5201"'), timeout=10,
                 what="iperf3 server")
        args = ["iperf3", "-c", BVM2_IP, "-p", "5201", "-t", str(seconds), "-J"]
        if udp_mbps:
            args += ["-u", "-b", f"{udp_mbps}M", "-l", str(UDP_LEN)]
        cpu0 = cpu_seconds(pids)
        cli = client.popen(args)
        try:
            out, _ = cli.communicate(timeout=seconds + 20)
        except subprocess.TimeoutExpired:
            kill_pid(cli.pid)
            cli.communicate()
            raise LabError("iperf3 timed out")
        cpu = cpu_seconds(pids) - cpu0
    finally:
        kill_pid(srv.pid)
        srv.communicate()
    result = json.loads(out.decode())
    if "error" in result:
        raise LabError("iperf3: %s" % result["error"])
    end, loss = result["end"], None
    if udp_mbps:
        bps = end["sum"]["bits_per_second"] * (1 - end["sum"].get("lost_percent", 0) / 100)
        loss = end["sum"].get("lost_percent")
    else:
        bps = end["sum_received"]["bits_per_second"]
    gbits = bps * seconds / 1e9
    return {"mbps": bps / 1e6, "loss_pct": loss, "cpu_s": cpu,
            "cpu_s_per_gbit": cpu / gbits if gbits else None}


def run_round(side, a):
    return {"portup": measure_portup(side, a.samples),
            "tcp": iperf(side, a.iperf_seconds),
            "udp": iperf(side, a.iperf_seconds, udp_mbps=a.udp_mbps)}


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
        api_in = next((e for e in ev if e[1] == "api_in"), None)
        write = next((e for e in ev if e[1] == "write_start"), None)
        committed = next((e for e in ev if e[1] == "committed"), None)
        row = {"api_to_notify": (notify[0] - t0) * 1e3,
               "client_to_wsgi": (api_in[0] - t0) * 1e3 if api_in else None,
               "wsgi_to_write": (write[0] - api_in[0]) * 1e3 if api_in and write else None,
               "transaction": (committed[0] - write[0]) * 1e3 if write and committed else None,
               "commit_to_notify": (notify[0] - committed[0]) * 1e3 if committed else None,
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
    for name, pid in resources.get("ovn_pids", {}).items():
        if pid_alive(pid):
            left.append(f"OVN {name} pid {pid}")
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


def spread(values, spec=".1f"):
    """'median (min-max)' of per-round figures."""
    v = [x for x in values if x is not None]
    if not v:
        return "-"
    return f"{format(statistics.median(v), spec)} ({format(min(v), spec)}-{format(max(v), spec)})"


def summarize(rounds):
    ms = [x for r in rounds for x in r["portup"]["ms"]]
    return {
        "portup_ms": {"p50": pct(ms, 50), "p99": pct(ms, 99), "n": len(ms),
                      "invalid": sum(r["portup"]["invalid"] for r in rounds),
                      "missed": sum(r["portup"]["missed"] for r in rounds),
                      "round_p50": [pct(r["portup"]["ms"], 50) for r in rounds],
                      "call_p50": pct([x for r in rounds for x in r["portup"]["call_ms"]], 50),
                      "samples": [round(x, 2) for x in ms]},
        **{f"{kind}_{key}": [r[kind][key] for r in rounds]
           for kind in ("tcp", "udp") for key in ("mbps", "cpu_s_per_gbit")},
        "udp_loss_pct": [r["udp"]["loss_pct"] for r in rounds],
    }


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench_overlay", description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5, help="interleaved rounds per side (max 20)")
    p.add_argument("--samples", type=int, default=10, help="port-ups per side and round")
    p.add_argument("--iperf-seconds", type=int, default=3)
    p.add_argument("--udp-mbps", type=int, default=400, help="UDP offered load, Mbit/s")
    p.add_argument("--no-seed", action="store_true", help="only the bench network")
    p.add_argument("--no-ovn", action="store_true", help="qnet only")
    p.add_argument("--trace", action="store_true",
                   help="serve at DEBUG with timing probes; print a per-stage breakdown")
    p.add_argument("--ofp", choices=("unix", "tcp"), default="unix",
                   help="how qnet's switches reach its OpenFlow listener: its unix socket "
                        "(default), or its TCP port through the lab's socat relay")
    p.add_argument("--keep-log", metavar="PATH", help="copy the qnet serve log to PATH")
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench_overlay needs root (namespaces, OVS daemons)")
    from simulations.peers import ovn
    if not a.no_ovn and not ovn.installed():
        sys.exit("OVN is not installed: run `make peers` (or use --no-ovn)")
    a.runs = max(1, min(a.runs, 20))
    a.samples = max(1, min(a.samples, 100))
    a.iperf_seconds = max(1, min(a.iperf_seconds, 30))

    from mininet.log import setLogLevel
    from simulations.lab.topo import start_lab
    setLogLevel("warning")

    netns_before = netns_names()
    load_before = loadavg()
    workdir = tempfile.mkdtemp(prefix="qnet-bench-overlay-")
    server = central = ovn_side = None
    resources, result, log_text = {}, {"bench": "overlay"}, ""
    t_start = time.time()
    try:
        server = start_server(workdir, log_level="DEBUG" if a.trace else "INFO", trace=a.trace,
                              ofp_unix=a.ofp == "unix")
        if not a.no_ovn:
            central = ovn.Central().start()
        with start_lab(hypervisors=2 if a.no_ovn else 4, subnets=2) as lab:
            hv = {h.name: h for h in lab.hypervisors}
            sides = [QnetSide(lab, server, [hv["hv1"], hv["hv2"]])]
            try:
                if central:
                    ovn_side = OvnSide(lab, central, [hv["hv3"], hv["hv4"]])
                    sides.append(ovn_side)
                for side in sides:
                    side.setup(not a.no_seed)
                result["flows"] = {side.name: side.flows() for side in sides}
                rounds = {side.name: [] for side in sides}
                for r in range(a.runs):
                    for side in (sides if r % 2 == 0 else sides[::-1]):
                        rounds[side.name].append(run_round(side, a))
                result["rounds"] = rounds
                resources = lab.resources()
                if ovn_side:
                    resources["ovn_pids"] = {ch.name: ch.pid for ch in ovn_side.chassis}
            finally:
                if ovn_side:
                    ovn_side.stop()
    finally:
        if server is not None:
            server.stop()
            log_text = server.read_log()
            if a.keep_log:
                shutil.copy(server.log_path, a.keep_log)
        if central is not None:
            resources["ovn_pids"] = {**resources.get("ovn_pids", {}), **central.pids}
            resources.setdefault("rundirs", []).append(central.dir)
            central.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    result["summary"] = {name: summarize(rs) for name, rs in result["rounds"].items()}
    if a.trace:
        result["trace"] = breakdown(parse_trace(log_text), [
            x for r in result["rounds"]["qnet"] for x in r["portup"]["t0_first"]])
    result["load"] = {"before": load_before, "after": loadavg()}
    result["elapsed_s"] = round(time.time() - t_start, 1)
    result["leftovers"] = leftovers(resources, server.pid if server else None, workdir,
                                    netns_before)
    report(result, a)
    return 0 if not result["leftovers"] else 1


def report(r, a):
    s = r["summary"]
    print()
    print("overlay benchmark: 4 hypervisors on 2 routed underlay subnets, userspace OVS, VXLAN, "
          "VM MTU 1450; qnet on hv1+hv2, OVN on hv3+hv4")
    print(f"  load avg 1m: {r['load']['before']:.2f} before, {r['load']['after']:.2f} after; "
          f"elapsed {r['elapsed_s']} s; {a.runs} interleaved rounds")
    print("  flows per br-int, " + ("bench network only" if a.no_seed else
                                     "seed scenario x2 tenants + bench network") +
          " (probe not usable):")
    for side, per_hv in r["flows"].items():
        print(f"    {side:5s} " + "; ".join(f"{h}: {c['flows']} flows, {c['groups']} groups"
                                         for h, c in per_hv.items()))
    rows = [("port-up p50 ms (all samples)", lambda x: fmt(x["portup_ms"]["p50"])),
            ("port-up p99 ms", lambda x: fmt(x["portup_ms"]["p99"])),
            ("port-up p50 per round: median (min-max)",
             lambda x: spread(x["portup_ms"]["round_p50"])),
            ("samples (invalid, missed)", lambda x: "%d (%d, %d)" % (
                x["portup_ms"]["n"], x["portup_ms"]["invalid"], x["portup_ms"]["missed"])),
            ("northbound call p50 ms", lambda x: fmt(x["portup_ms"]["call_p50"])),
            ("TCP Mbit/s: median (min-max)", lambda x: spread(x["tcp_mbps"], ".0f")),
            ("TCP CPU s per Gbit", lambda x: spread(x["tcp_cpu_s_per_gbit"], ".2f")),
            (f"UDP Mbit/s received ({a.udp_mbps} offered)", lambda x: spread(x["udp_mbps"], ".0f")),
            ("UDP loss %", lambda x: spread(x["udp_loss_pct"], ".1f")),
            ("UDP CPU s per Gbit", lambda x: spread(x["udp_cpu_s_per_gbit"], ".2f"))]
    names = list(s)
    print("  " + "".join([f"{'':42s}"] + [f"{n:>22s}" for n in names]))
    for label, get in rows:
        print("  " + "".join([f"{label:42s}"] + [f"{get(s[n]):>22s}" for n in names]))
    ratios = {}
    if "ovn" in s:
        q, o = s["qnet"], s["ovn"]

        def ratio(x, y):
            return x / y if x is not None and y else None
        med = statistics.median
        ratios = {
            "portup_p50": ratio(q["portup_ms"]["p50"], o["portup_ms"]["p50"]),
            "tcp_mbps": ratio(med(q["tcp_mbps"]), med(o["tcp_mbps"])),
            "udp_mbps": ratio(med(q["udp_mbps"]), med(o["udp_mbps"])),
            "tcp_cpu_per_gbit": ratio(med(q["tcp_cpu_s_per_gbit"]), med(o["tcp_cpu_s_per_gbit"])),
            "udp_cpu_per_gbit": ratio(med(q["udp_cpu_s_per_gbit"]), med(o["udp_cpu_s_per_gbit"])),
        }
        print(f"  qnet/OVN: port-up p50 {fmt(ratios['portup_p50'], '.2f')} (goal <= 0.5), "
              f"TCP {fmt(ratios['tcp_mbps'], '.2f')}, UDP {fmt(ratios['udp_mbps'], '.2f')} "
              f"(higher is better), CPU/Gbit TCP {fmt(ratios['tcp_cpu_per_gbit'], '.2f')}, "
              f"UDP {fmt(ratios['udp_cpu_per_gbit'], '.2f')} (lower is better)")
    if "trace" in r:
        rows = r["trace"]
        keys = ["client_to_wsgi", "wsgi_to_write", "transaction", "commit_to_notify",
                "api_to_notify", "notify_to_wake", "compile", "diff_build", "barrier_wait",
                "wake_to_last_barrier", "last_barrier_to_reply", "tunnels", "report_status",
                "pass_total", "total"]
        print(f"  where qnet's time goes (trace, {len(rows)} port-ups; ms p50 / p99 / max):")
        for k in keys:
            vals = [x[k] for x in rows if x.get(k) is not None]
            if vals:
                print(f"    {k:22s} {pct(vals, 50):8.2f} {pct(vals, 99):8.2f} {max(vals):8.2f}")
    print(f"  cleanup: {'nothing left behind' if not r['leftovers'] else r['leftovers']}")
    out = {k: v for k, v in r.items() if k != "rounds"}
    out["ratios_qnet_over_ovn"] = ratios
    print("JSON " + json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
