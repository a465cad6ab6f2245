"""The OVN peer: OVN's central databases and ``ovn-northd`` in the root namespace, and an
``ovn-controller`` on hypervisors of qnet's own lab (simulations/lab), so that a benchmark
compares the two on the same underlay, the same MTU and the same VM placement.

A hypervisor of the lab already runs its own ovsdb-server and ovs-vswitchd (userspace
datapath) with br-int and its underlay address on br-phy; ``Chassis`` makes it an OVN chassis:
the ``ovn-*`` keys of its Open_vSwitch row and an ovn-controller in its namespace, which
reaches the southbound database over a unix socket (no route between namespaces is needed).
Tunnels are VXLAN, as qnet's, unless ``encap`` says otherwise (OVN supports VXLAN between
chassis since 20.09, with 4,096 logical switches at most).

Everything is started with a pid file in a temporary directory and stopped by that pid.

    with ovn_lab(hypervisors=2) as (lab, central):      # python -m simulations.peers.ovn
        central.nbctl("ls-add", "sw0")
        ...

Needs Debian's ``ovn-central`` and ``ovn-host`` (``make peers``) and root.
"""
import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

from simulations.lab.nodes import (VM, VM_MTU, _ethtool_tx_off, kill_pid, pid_alive, run,
                                   wait_for)
from simulations.lab.topo import start_lab

NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"
SB_SCHEMA = "/usr/share/ovn/ovn-sb.ovsschema"
COMMANDS = ("ovn-nbctl", "ovn-sbctl", "ovn-northd", "ovn-controller")
#: ovn-controller speaks OpenFlow 1.5 to br-int; ovs-ofctl -O OpenFlow13 keeps working.
BR_INT_PROTOCOLS = "OpenFlow10,OpenFlow13,OpenFlow15"


def installed():
    """Whether OVN's programs are there (``make peers`` installs them)."""
    return all(shutil.which(c) for c in COMMANDS)


class Central:
    """Northbound and southbound ovsdb-servers and ovn-northd, on unix sockets in a temporary
    directory. ``start()`` then ``stop()`` (or use it as a context manager)."""

    def __init__(self):
        self.dir = None
        self.pids = {}

    @property
    def nb_socket(self):
        return os.path.join(self.dir, "nb.sock")

    @property
    def sb_socket(self):
        return os.path.join(self.dir, "sb.sock")

    def _daemon(self, name, args):
        pidfile = os.path.join(self.dir, name + ".pid")
        run(args + ["--pidfile=" + pidfile, "--detach", "--log-file=%s/%s.log" % (self.dir, name),
                    "--unixctl=%s/%s.ctl" % (self.dir, name), "-vconsole:off"])
        with open(pidfile) as f:
            self.pids[name] = int(f.read())

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="qnet-ovn-")
        try:
            for db, schema in (("nb", NB_SCHEMA), ("sb", SB_SCHEMA)):
                path = os.path.join(self.dir, db + ".db")
                run(["ovsdb-tool", "create", path, schema])
                self._daemon(db + "-ovsdb", ["ovsdb-server", path,
                                             "--remote=punix:" + os.path.join(self.dir, db + ".sock")])
            self._daemon("ovn-northd", ["ovn-northd", "--ovnnb-db=unix:" + self.nb_socket,
                                        "--ovnsb-db=unix:" + self.sb_socket])
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        for name in ("ovn-northd", "sb-ovsdb", "nb-ovsdb"):
            pid = self.pids.pop(name, None)
            if pid:
                kill_pid(pid)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def nbctl(self, *args, timeout=30):
        """ovn-nbctl without --wait: returns as soon as the northbound database has it."""
        return run(["ovn-nbctl", "--db=unix:" + self.nb_socket] + list(args), timeout=timeout)

    def sbctl(self, *args, timeout=30):
        return run(["ovn-sbctl", "--db=unix:" + self.sb_socket] + list(args), timeout=timeout)

    def wait_hv(self, timeout=30):
        """Until every chassis has caught up with the northbound database."""
        self.nbctl("--wait=hv", "--timeout=%d" % timeout, "sync", timeout=timeout + 5)

    def pids_alive(self):
        return {name: pid for name, pid in self.pids.items() if pid_alive(pid)}


class Chassis:
    """Make a lab hypervisor (simulations.lab.nodes.Hypervisor) an OVN chassis named by its
    system-id: ovn-controller in its namespace, tunnels from its underlay address."""

    def __init__(self, hv, central, encap="vxlan"):
        self.hv, self.central, self.encap = hv, central, encap
        self.pid = None

    @property
    def name(self):
        return self.hv.name

    def start(self):
        hv, d = self.hv, self.hv.rundir
        hv.vsctl("set", "Bridge", "br-int", "protocols=" + BR_INT_PROTOCOLS)
        hv.vsctl("set", "Open_vSwitch", ".",
                 "external_ids:ovn-remote=unix:" + self.central.sb_socket,
                 "external_ids:ovn-encap-type=" + self.encap,
                 "external_ids:ovn-encap-ip=" + hv.tunnel_ip,
                 "external_ids:ovn-bridge=br-int",
                 "external_ids:ovn-bridge-datapath-type=netdev")
        pidfile = os.path.join(d, "ovn-controller.pid")
        hv.sh("OVS_RUNDIR=%s OVN_RUNDIR=%s ovn-controller unix:%s --pidfile=%s --detach "
              "--log-file=%s/ovn-controller.log -vconsole:off"
              % (d, d, hv.ovsdb_socket, pidfile, d))
        with open(pidfile) as f:
            self.pid = int(f.read())
        wait_for(lambda: self.name in self.central.sbctl("--bare", "--columns=name",
                                                          "list", "Chassis").split(),
                 timeout=30, what="chassis %s in the southbound database" % self.name)
        return self

    def stop(self):
        if self.pid:
            kill_pid(self.pid, "ovn-controller")
            self.pid = None

    def flows(self):
        """Flows on its br-int (OpenFlow 1.5 dump: OVN's own actions included)."""
        return sum(1 for ln in self._ofctl("dump-flows").splitlines() if "cookie=" in ln)

    def groups(self):
        return sum(1 for ln in self._ofctl("dump-groups").splitlines() if "group_id=" in ln)

    def _ofctl(self, verb):
        return run(["ovs-ofctl", "-O", "OpenFlow15", verb, self.hv._mgmt("br-int")])


def plug_vm(lab, name, hypervisor, nics):
    """A VM (Mininet host ``name``) on ``hypervisor`` with one interface per nic in ``nics``
    [(logical port name, mac, ip/prefix or None)], each plugged into br-int with iface-id =
    the logical port's name, as Nova plugs a VM for OVN. Returns the host."""
    vm = lab.net.addHost(name, cls=VM, ip=None)
    for i, (lsp, mac, ip) in enumerate(nics):
        vm_if, hv_if = "%s-eth%d" % (name, i), ("o%s%d" % (name, i))[:15]
        lab.net.addLink(vm, hypervisor, intfName1=vm_if, intfName2=hv_if, addr1=mac)
        vm.cmd("ip link set dev %s address %s mtu %d up" % (vm_if, mac, VM_MTU))
        if ip:
            vm.cmd("ip addr add %s dev %s" % (ip, vm_if))
        _ethtool_tx_off(vm, vm_if)
        hypervisor.plug_vm(hv_if, lsp, mac=mac)
    return vm


def add_switch(central, name, cidr=None):
    """A logical switch; with ``cidr``, DHCP options for it as qnet serves DHCP on a subnet
    (router .1, lease, server id and MAC, MTU). Returns the DHCP options' uuid or None."""
    central.nbctl("ls-add", name)
    if not cidr:
        return None
    uuid = central.nbctl("create", "DHCP_Options", "cidr=" + cidr).strip()
    gw = cidr.rsplit(".", 1)[0] + ".1"
    central.nbctl("dhcp-options-set-options", uuid, "lease_time=86400", "router=" + gw,
                  "server_id=" + gw, "server_mac=02:71:6e:65:74:01",
                  "mtu=%d" % VM_MTU)
    return uuid


def add_port(central, switch, name, mac, ip, dhcp=None):
    """A logical switch port with its address and port security (qnet's default), and DHCP
    options if given. No --wait: the call returns once the northbound database has it."""
    args = ["lsp-add", switch, name, "--", "lsp-set-addresses", name, "%s %s" % (mac, ip),
            "--", "lsp-set-port-security", name, "%s %s" % (mac, ip)]
    if dhcp:
        args += ["--", "lsp-set-dhcpv4-options", name, dhcp]
    central.nbctl(*args)


@contextlib.contextmanager
def ovn_lab(hypervisors=2, subnets=2, encap="vxlan"):
    """qnet's lab (``hypervisors`` on ``subnets`` routed underlay subnets) with OVN as its
    control plane: yields (lab, central, [Chassis]); everything is removed afterwards."""
    with start_lab(hypervisors=hypervisors, subnets=subnets) as lab, Central() as central:
        chassis = []
        try:
            for hv in lab.hypervisors:
                chassis.append(Chassis(hv, central, encap).start())
            yield lab, central, chassis
        finally:
            for ch in chassis:
                ch.stop()


def main(argv=None):
    """Start the OVN peer on a 2-hypervisor lab, ping across the tunnel, print what it holds."""
    p = argparse.ArgumentParser(prog="python -m simulations.peers.ovn", description=main.__doc__)
    p.add_argument("--encap", default="vxlan", choices=("vxlan", "geneve"))
    p.add_argument("--hold", action="store_true", help="keep it running until Ctrl-C")
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("needs root (namespaces, OVS daemons)")
    if not installed():
        sys.exit("OVN is not installed: make peers")
    from mininet.log import setLogLevel
    setLogLevel("warning")
    with ovn_lab(encap=a.encap) as (lab, central, chassis):
        add_switch(central, "sw0")
        vms = []
        for i, ch in enumerate(chassis, 1):
            mac, ip = "02:00:00:00:00:%02x" % i, "10.9.0.%d" % i
            add_port(central, "sw0", "vm%d" % i, mac, ip)
            vms.append(plug_vm(lab, "ovm%d" % i, ch.hv, [("vm%d" % i, mac, ip + "/24")]))
        central.wait_hv()
        t = time.monotonic()
        wait_for(lambda: "rc=0" in vms[0].cmd("ping -c1 -W1 10.9.0.2 >/dev/null; echo rc=$?"),
                 timeout=20, what="vm1 -> vm2 across the tunnel")
        print("ping vm1 (%s) -> vm2 (%s) over %s: ok after %.2f s" % (
            chassis[0].name, chassis[1].name, a.encap, time.monotonic() - t))
        print(central.sbctl("--columns=chassis_name,type,ip", "list", "Encap").strip())
        for ch in chassis:
            print("%s: %d flows, %d groups on br-int" % (ch.name, ch.flows(), ch.groups()))
        if a.hold:
            print("running; Ctrl-C stops and removes it")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
