"""The overlay lab topology and ``start_lab``, the context manager that always cleans up.

Shape (default: 2 hypervisors, 2 underlay subnets)::

    vm1 - hv1 == seg1 (172.16.1.0/24) == r0 == seg2 (172.16.2.0/24) == hv2 - vm2

Hypervisors are spread round-robin over the subnets, so with two or more subnets tunnels
cross the router (L2-in-L3 over a routed underlay, as in a real data centre).
"""

import contextlib
import ipaddress
import os
import resource
import signal
import threading

from mininet.net import Mininet
from mininet.topo import Topo
from mininet.util import ensureRoot

from .nodes import (Hypervisor, LabError, UnderlayRouter, UnderlaySegment, VM,
                    kill_pid, netns_inode, pid_alive, wait_for)

UNDERLAY = '172.16.%d.0/24'     # subnet s (1-based); the router is .254 on each
OVERLAY = '10.0.0.0/24'         # default tenant network for vms_per_hypervisor


def vm_intf_names(vm):
    """(VM-side, hypervisor-side) interface names; at most 15 characters each."""
    return ('%s-eth0' % vm)[:15], ('tap%s' % vm)[:15]


class OverlayTopo(Topo):
    """N hypervisors over >= 2 routed underlay subnets, plus VMs added with ``add_vm``."""

    def build(self, hypervisors=2, subnets=2, vms_per_hypervisor=0):
        if hypervisors < 1 or subnets < 1:
            raise ValueError('need at least one hypervisor and one subnet')
        self.router = self.addHost('r0', cls=UnderlayRouter)
        self.hypervisor_names = []
        for s in range(1, subnets + 1):
            net = ipaddress.ip_network(UNDERLAY % s)
            seg = self.addHost('seg%d' % s, cls=UnderlaySegment)
            self.addLink(self.router, seg, intfName1='r0-eth%d' % s, intfName2='seg%d-r0' % s,
                         params1={'ip': '%s/%d' % (net[254], net.prefixlen)})
        for i in range(1, hypervisors + 1):
            s = (i - 1) % subnets + 1
            net = ipaddress.ip_network(UNDERLAY % s)
            name = 'hv%d' % i
            self.addHost(name, cls=Hypervisor, plugs={}, underlay='%s-eth0' % name,
                         tunnel_ip='%s/%d' % (net[(i - 1) // subnets + 1], net.prefixlen),
                         gateway=str(net[254]))
            self.addLink(name, 'seg%d' % s, intfName1='%s-eth0' % name,
                         intfName2='seg%d-%s' % (s, name))
            self.hypervisor_names.append(name)
        overlay = ipaddress.ip_network(OVERLAY)
        k = 0
        for hv in self.hypervisor_names:
            for _ in range(vms_per_hypervisor):
                k += 1
                self.add_vm('vm%d' % k, hv, '%s/%d' % (overlay[k], overlay.prefixlen))

    def add_vm(self, name, hypervisor, ip, mac=None, iface_id=None):
        """Add VM ``name`` on ``hypervisor``; it is plugged into br-int when the net builds.

        mac defaults to 02:00:00:00:<k> from the VM's digits; iface_id defaults to its name.
        """
        mac = mac or _default_mac(name)
        vm_if, hv_if = vm_intf_names(name)
        self.addHost(name, cls=VM, ip=ip, mac=mac)
        self.addLink(name, hypervisor, intfName1=vm_if, intfName2=hv_if)
        self.nodeInfo(hypervisor)['plugs'][hv_if] = iface_id or name
        return name


def _default_mac(name):
    digits = ''.join(c for c in name if c.isdigit()) or '0'
    n = int(digits) & 0xffffffff
    return '02:00:%02x:%02x:%02x:%02x' % (n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255)


class Lab:
    """A running lab: the Mininet net plus typed accessors and runtime helpers."""

    def __init__(self, net, topo):
        self.net, self.topo = net, topo

    @property
    def hypervisors(self):
        return [h for h in self.net.hosts if isinstance(h, Hypervisor)]

    @property
    def vms(self):
        return [h for h in self.net.hosts if isinstance(h, VM)]

    def __getitem__(self, name):
        return self.net[name]

    def set_controller(self, target='127.0.0.1:6653'):
        for hv in self.hypervisors:
            hv.set_controller(target)

    def connect(self, *servers):
        """Point every hypervisor's OpenFlow controller and OVSDB manager at ``servers``
        (simulations.serve.QnetServer on loopback; several: the instances of a cluster):
        OpenFlow on a server's unix socket when it has one, else its TCP port."""
        for hv in self.hypervisors:
            hv.set_controller([f"unix:{s.ofp_socket}" if s.ofp_socket else
                               f"127.0.0.1:{s.ofp_port}" for s in servers])
            hv.set_manager([f"127.0.0.1:{s.ovsdb_port}" for s in servers])

    def add_vm(self, name, hypervisor, ip, mac=None, iface_id=None, plug=True, project=None):
        """Add a VM to the running lab (e.g. to time port-up); plug it unless plug=False
        (an attachment ``iface_id`` binds only with the ``project`` it is declared for)."""
        hv = self.net[hypervisor] if isinstance(hypervisor, str) else hypervisor
        mac = mac or _default_mac(name)
        vm_if, hv_if = vm_intf_names(name)
        vm = self.net.addHost(name, cls=VM, ip=ip, mac=mac)
        self.net.addLink(vm, hv, intfName1=vm_if, intfName2=hv_if)
        vm.configDefault()
        if plug:
            hv.plug_vm(hv_if, iface_id or name, mac=mac, project=project)
        return vm

    def vm_port(self, vm):
        """(hypervisor, hypervisor-side interface name) of a VM."""
        vm = self.net[vm] if isinstance(vm, str) else vm
        link = vm.intfList()[0].link
        other = link.intf2 if link.intf1.node is vm else link.intf1
        return other.node, other.name

    def resources(self):
        """Everything the lab owns, so tests can prove that it is all gone afterwards."""
        nodes = [h for h in self.net.hosts if h.shell]
        return {
            'shell_pids': {h.name: h.pid for h in nodes},
            'netns_inodes': {h.name: netns_inode(h.pid) for h in nodes},
            'daemon_pids': {(hv.name, d): p for hv in self.hypervisors
                            for d, p in hv.pids.items()},
            'relay_pids': {hv.name: hv.relay.pid for hv in self.hypervisors if hv.relay},
            'rundirs': [hv.rundir for hv in self.hypervisors if hv.rundir],
        }

    def stop(self):
        """Stop everything; each step guarded so one failure cannot leak the rest."""
        errors = []
        daemons = [p for hv in self.hypervisors for p in hv.pids.values()]
        for hv in self.hypervisors:
            try:
                hv.stop_ovs()
            except Exception as e:          # keep going: cleanup must be complete
                errors.append(e)
        try:
            self.net.stop()
        except Exception as e:
            errors.append(e)
        for h in self.net.hosts:            # belt and braces: shells that ignored SIGHUP
            if h.pid and pid_alive(h.pid, 'mininet:%s' % h.name):
                kill_pid(h.pid, 'mininet:%s' % h.name)
        # Detached daemons are orphans that PID 1 reaps lazily (~1.5 s here); wait a little
        # so that `ps` right after the lab shows no <defunct> ovs processes. Not an error.
        try:
            wait_for(lambda: not any(os.path.exists('/proc/%d' % p) for p in daemons),
                     timeout=3, interval=0.05, what='daemons to be reaped')
        except LabError:
            pass
        if errors:
            raise LabError('lab cleanup had errors: %s' % '; '.join(map(str, errors)))


@contextlib.contextmanager
def _sigterm_raises():
    """Turn SIGTERM into SystemExit while the lab runs, so ``finally`` cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)
    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _init_mininet():
    # Mininet.init() would also raise system-wide sysctls (fixLimits) that outlive the lab;
    # the lab is small, so only check root and raise our own open-file limit.
    ensureRoot()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(16384, hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(16384, hard), hard))
    Mininet.inited = True


@contextlib.contextmanager
def start_lab(topo=None, controller=None, **topo_kw):
    """Build and start a lab, yield a ``Lab``, and always tear it all down.

    topo: an OverlayTopo (default: ``OverlayTopo(**topo_kw)``, e.g. hypervisors=2,
    subnets=2, vms_per_hypervisor=1). controller: 'host:port' of an OpenFlow controller in
    the root namespace to relay every br-int to (optional; see Hypervisor.set_controller).

    The net is built inside the ``try`` (``build=False`` + ``net.build()``) rather than with
    ``Mininet(build=True)``, so a failure half-way through building still cleans up the
    nodes already created.
    """
    if os.geteuid() != 0:
        raise LabError('the lab needs root (network namespaces, veths, OVS daemons)')
    _init_mininet()
    topo = topo or OverlayTopo(**topo_kw)
    net = Mininet(topo=topo, controller=None, switch=None, build=False,
                  autoSetMacs=False, waitConnected=False)
    lab = Lab(net, topo)
    with _sigterm_raises():
        try:
            net.build()
            net.start()
            if controller:
                lab.set_controller(controller)
            yield lab
        finally:
            lab.stop()
