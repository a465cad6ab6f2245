"""Mininet node classes for the qnet hypervisor lab.

Why these exist: there is no openvswitch kernel module on the lab machines, and several
"hypervisor" bridges inside one ovs-vswitchd cannot tunnel to each other with OVS native
tunneling (the route to the peer resolves to a local address). So every hypervisor is a
network namespace running its *own* ovsdb-server + ovs-vswitchd (userspace datapath), with
its underlay address on ``br-phy`` and the VMs on ``br-int`` -- the OVN/Neutron layout.

The controller, the REST API and the tests stay in the root namespace and talk only to
unix sockets in each hypervisor's run directory (OVSDB directly, OpenFlow through a relay),
so no IP route between the root namespace and the lab is ever needed.

Everything a node starts is remembered by pid and killed by pid on ``terminate()``; nothing
here ever kills processes by name.
"""

import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from mininet.node import Host, Node

OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema'
TMP_PREFIX = 'qnet-lab-'
RELAY_SOCKET = 'qnet-ofp.sock'
MANAGER_SOCKET = 'qnet-ovsdb.sock'
# ovsdb-server reads its active/passive remotes from the Manager table only if told so
# (ovs-ctl starts it with this remote; the lab's start_ovs does not).
MANAGER_REMOTE = 'db:Open_vSwitch,Open_vSwitch,manager_options'
SSL_FROM_DB = ('--private-key=db:Open_vSwitch,SSL,private_key '
               '--certificate=db:Open_vSwitch,SSL,certificate '
               '--ca-cert=db:Open_vSwitch,SSL,ca_cert')
VM_MTU = 1450           # 1500 underlay - 50 bytes of VXLAN/UDP/IP/Ethernet
TUNNEL_IP_KEY = 'qnet-tunnel-ip'


class LabError(RuntimeError):
    """A lab command failed; the message carries the command and its stderr."""


def run(args, check=True, timeout=30, **kwargs):
    """Run a command in the root namespace and return its stdout (str)."""
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        raise LabError('%s failed (rc=%d): %s' % (' '.join(args), proc.returncode,
                                                  proc.stderr.strip()))
    return proc.stdout


def wait_for(predicate, timeout=10.0, interval=0.02, what='condition'):
    """Poll ``predicate`` until it returns a truthy value (returned) or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabError('timed out after %.1fs waiting for %s' % (timeout, what))
        time.sleep(interval)


def pid_alive(pid, name=None):
    """True if ``pid`` runs (and, if given, its command line mentions ``name``)."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            cmdline = f.read().replace(b'\0', b' ').decode(errors='replace')
        with open('/proc/%d/stat' % pid) as f:
            if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                return False          # zombie: dead, only waiting to be reaped
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return name is None or name in cmdline


def kill_pid(pid, name=None, group=False, timeout=5.0):
    """SIGTERM one pid we started (or its process group), escalate to SIGKILL, wait."""
    if not pid_alive(pid, name):
        return
    send = os.killpg if group else os.kill
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            send(pid, sig)
        except ProcessLookupError:
            return
        try:
            wait_for(lambda: not pid_alive(pid, name), timeout=timeout,
                     what='pid %d to exit' % pid)
            return
        except LabError:
            continue


def netns_inode(pid):
    """Inode of the network namespace of ``pid`` (to prove later that nobody holds it)."""
    return os.stat('/proc/%d/ns/net' % pid).st_ino


def start_relay(owner, socket_path, target):
    """A socat relay in the root namespace from a unix socket (inside a hypervisor's run dir)
    to TCP ``target`` ('host:port' or 'tcp:host:port'): how daemons in a namespace without a
    route to the root namespace reach the controller. Returns the Popen (stop_relay ends it)."""
    host, port = target.split(':')[-2:]
    relay = subprocess.Popen(
        ['socat', 'UNIX-LISTEN:%s,fork,unlink-early' % socket_path, 'TCP:%s:%s' % (host, port)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)   # own process group: kill it with its forked children
    wait_for(lambda: os.path.exists(socket_path) or relay.poll() is not None,
             timeout=5, what='socat relay socket %s' % socket_path)
    if relay.poll() is not None:
        raise LabError('%s: socat relay to %s exited with %s' % (owner, target, relay.returncode))
    return relay


def _link(path, target):
    """A symbolic link at ``path`` (in a run dir) to the unix socket ``target``: what a relay
    does for TCP, without one (None: nothing to stop)."""
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(target, path)
    return None


def stop_relay(relay):
    if relay is not None:
        kill_pid(relay.pid, 'socat', group=True)
        relay.wait()


def _ethtool_tx_off(node, intf):
    # Without this, TCP through the userspace datapath sends bad checksums (ping still
    # works, which hides the problem): the kernel leaves checksums to an offload that
    # an AF_PACKET reader like ovs-vswitchd never performs.
    node.cmd('ethtool -K %s tx off >/dev/null 2>&1' % intf)


class LabNode(Node):
    """A namespaced node whose ``config`` ignores Mininet's automatic host IP.

    Mininet hands every host an ``ip=10.x`` for its first interface; routers, segments and
    hypervisors configure their addresses themselves, so that default is dropped here.
    """

    def config(self, mac=None, ip=None, defaultRoute=None, lo='up', **params):
        return super().config(lo=lo)

    def sh(self, cmd):
        """Run a shell command in this node's namespace; raise LabError if it fails."""
        out = self.cmd(cmd + '; echo "__rc=$?"')
        m = re.search(r'__rc=(\d+)\s*$', out)
        if not m or m.group(1) != '0':
            raise LabError('%s: %r failed: %s' % (self.name, cmd, out.strip()))
        return out[:m.start()]


class UnderlayRouter(LabNode):
    """Linux router joining the underlay subnets, so the overlay is L2-in-L3.

    Interface addresses come from the link parameters (``params1={'ip': ...}``).
    """

    def config(self, **params):
        r = super().config(**params)
        self.sh('sysctl -qw net.ipv4.ip_forward=1')   # per network namespace
        for intf in self.intfNames():
            _ethtool_tx_off(self, intf)
        return r


class UnderlaySegment(LabNode):
    """One underlay L2 subnet: a kernel bridge in its own namespace.

    Used instead of a Mininet switch because the lab must not depend on the OVS kernel
    datapath nor on a vswitchd in the root namespace.
    """

    def config(self, **params):
        r = super().config(**params)
        self.sh('ip link add seg type bridge stp_state 0 forward_delay 0')
        for intf in self.intfNames():
            self.sh('ip link set %s master seg up' % intf)
            _ethtool_tx_off(self, intf)
        self.sh('ip link set seg up')
        return r


class VM(Host):
    """A tenant VM: every interface gets MTU 1450 (room for VXLAN) and tx offload off."""

    def config(self, **params):
        r = super().config(**params)
        for intf in self.intfNames():
            self.cmd('ip link set dev %s mtu %d' % (intf, VM_MTU))
            _ethtool_tx_off(self, intf)
        return r


class Hypervisor(LabNode):
    """A hypervisor: own ovsdb-server + ovs-vswitchd (netdev datapath) in its namespace.

    Parameters (through ``addHost(..., cls=Hypervisor, ...)``):
      tunnel_ip   underlay address with prefix, e.g. '172.16.1.1/24' (moved onto br-phy)
      gateway     underlay router address on that subnet (default route of the namespace)
      underlay    name of the underlay interface (default: the node's first interface)
      dpid        datapath id of br-int (int); default derived from the digits of the name
      plugs       {hypervisor-side intf: iface_id} of VMs to plug into br-int at config time

    The bridges:
      br-int  datapath_type=netdev, fail_mode=secure, OpenFlow13; VMs and tunnels.
      br-phy  datapath_type=netdev (standalone); the underlay port, and the underlay IP on
              its internal port so OVS native tunneling can route and ARP for the tunnel.
    """

    def __init__(self, name, tunnel_ip=None, gateway=None, underlay=None, dpid=None,
                 plugs=None, **params):
        self.tunnel_cidr = tunnel_ip
        self.tunnel_ip = tunnel_ip.split('/')[0] if tunnel_ip else None
        self.gateway = gateway
        self.underlay = underlay
        digits = re.findall(r'\d+', name)
        self.dpid = dpid if dpid is not None else int(digits[-1]) if digits else 1
        self.plugs = dict(plugs or {})
        self.rundir = None
        self.pids = {}            # daemon name -> pid, filled as each one starts
        self.relay = None         # subprocess.Popen of the socat OpenFlow relay
        self.manager_relay = None  # subprocess.Popen of the socat OVSDB-manager relay
        self.more_relays = []     # relays to the second and later controllers/managers
        self.exposed = []         # socat relays of ``expose``
        super().__init__(name, **params)

    # --- paths and control helpers (all run from the root namespace over unix sockets)

    @property
    def ovsdb_socket(self):
        """Path of the punix: OVSDB socket; a controller can open unix:<path> directly."""
        return os.path.join(self.rundir, 'db.sock')

    @property
    def relay_socket(self):
        return os.path.join(self.rundir, RELAY_SOCKET)

    @property
    def manager_socket(self):
        return os.path.join(self.rundir, MANAGER_SOCKET)

    def vsctl(self, *args, **kw):
        return run(['ovs-vsctl', '--timeout=20', '--db=unix:' + self.ovsdb_socket]
                   + list(args), **kw)

    def ofctl(self, *args, **kw):
        """ovs-ofctl on br-int unless the caller names another target after the verb."""
        return run(['ovs-ofctl', '-O', 'OpenFlow13'] + [self._mgmt(a) for a in args], **kw)

    def appctl(self, *args, **kw):
        return run(['ovs-appctl', '-t', os.path.join(self.rundir, 'ovs-vswitchd.ctl')]
                   + list(args), **kw)

    def _mgmt(self, arg):
        # Let callers write 'br-int' / 'br-phy'; ofctl needs the management socket path.
        if arg in ('br-int', 'br-phy'):
            return 'unix:' + os.path.join(self.rundir, arg + '.mgmt')
        return arg

    # --- lifecycle

    def config(self, **params):
        r = super().config(**params)
        try:
            self.start_ovs()
            self.setup_bridges()
            for intf, iface_id in self.plugs.items():
                self.plug_vm(intf, iface_id)
        except Exception:
            self.stop_ovs()
            raise
        return r

    def start_ovs(self):
        """Create the per-node run dir and start ovsdb-server and ovs-vswitchd in it."""
        self.rundir = tempfile.mkdtemp(prefix='%s%s-' % (TMP_PREFIX, self.name))
        d = self.rundir
        run(['ovsdb-tool', 'create', os.path.join(d, 'conf.db'), OVS_SCHEMA])
        # TLS settings come from the SSL table (ovs-vsctl set-ssl), as ovs-ctl starts it.
        self._daemon('ovsdb-server',
                     'ovsdb-server %s/conf.db --remote=punix:%s %s'
                     % (d, self.ovsdb_socket, SSL_FROM_DB))
        self.vsctl('--no-wait', 'init')
        self._daemon('ovs-vswitchd', 'ovs-vswitchd unix:%s' % self.ovsdb_socket)

    def _daemon(self, name, cmd):
        d = self.rundir
        pidfile = os.path.join(d, name + '.pid')
        self.sh('OVS_RUNDIR=%s %s --pidfile=%s --detach --log-file=%s/%s.log '
                '--unixctl=%s/%s.ctl -vconsole:off' % (d, cmd, pidfile, d, name, d, name))
        with open(pidfile) as f:
            self.pids[name] = int(f.read().strip())

    def setup_bridges(self):
        underlay = self.underlay or self.intfNames()[0]
        self.vsctl('set', 'Open_vSwitch', '.',
                   'external_ids:system-id=%s' % self.name,
                   'external_ids:hostname=%s' % self.name,
                   'external_ids:%s=%s' % (TUNNEL_IP_KEY, self.tunnel_ip))
        self.vsctl('add-br', 'br-int', '--', 'set', 'Bridge', 'br-int',
                   'datapath_type=netdev', 'fail_mode=secure', 'protocols=OpenFlow13',
                   'other_config:datapath-id=%016x' % self.dpid,
                   'other_config:disable-in-band=true')
        self.vsctl('add-br', 'br-phy', '--', 'set', 'Bridge', 'br-phy',
                   'datapath_type=netdev', 'other_config:disable-in-band=true')
        self.sh('ip link set %s up' % underlay)
        _ethtool_tx_off(self, underlay)
        self.vsctl('add-port', 'br-phy', underlay)
        if self.tunnel_cidr:
            self.sh('ip addr flush dev %s' % underlay)
            self.sh('ip addr add %s dev br-phy' % self.tunnel_cidr)
        self.sh('ip link set br-phy up')
        self.sh('ip link set br-int up')
        if self.gateway:
            self.sh('ip route replace default via %s dev br-phy' % self.gateway)

    def stop_ovs(self):
        """Kill the relays and both daemons by pid, then remove the run dir. Idempotent."""
        self.del_controller(ovsdb=False)
        self.del_manager(ovsdb=False)
        while self.exposed:
            stop_relay(self.exposed.pop())
        for name in ('ovs-vswitchd', 'ovsdb-server'):
            pid = self.pids.pop(name, None)
            if pid:
                kill_pid(pid, name)
        if self.rundir:
            shutil.rmtree(self.rundir, ignore_errors=True)

    def terminate(self):
        self.stop_ovs()
        super().terminate()

    # --- controller relay

    def set_controller(self, target='127.0.0.1:6653', max_backoff_ms=1000):
        """Point br-int at a controller in the root namespace through a unix-socket relay.

        ovs-vswitchd only accepts ``unix:`` controller paths inside its OVS_RUNDIR, and the
        namespace has no route to the root namespace's loopback; socat, running in the root
        namespace, bridges the two. ``target`` is 'host:port' or 'tcp:host:port', or a list
        of them: the bridge connects to every one (a cluster, docs/cluster.md), each through
        a relay of its own. A 'unix:PATH' target (a controller's own unix socket,
        ``ofp_unix_socket``) needs no relay: a unix socket is reached through the file
        system, whatever the network namespace, so a symbolic link in the run dir to PATH
        is dialled directly.
        """
        self.del_controller()
        remotes = self._relay_all(self.relay_socket, target, 'relay')
        self.vsctl('set-controller', 'br-int', *remotes)
        for uuid in self.vsctl('--bare', '--columns=_uuid', 'find', 'Controller').split():
            self.vsctl('set', 'Controller', uuid, 'max_backoff=%d' % max_backoff_ms)

    def _relay_all(self, socket_path, targets, first):
        """Start a relay to each of ``targets`` (one or a list): the first is kept in
        ``self.<first>``, the others in ``more_relays``. Returns their ``unix:`` remotes."""
        targets = [targets] if isinstance(targets, str) else list(targets)
        paths = [socket_path] + ['%s.%d' % (socket_path, i) for i in range(1, len(targets))]
        relays = [_link(p, t[len('unix:'):]) if t.startswith('unix:')
                  else start_relay(self.name, p, t) for p, t in zip(paths, targets)]
        setattr(self, first, relays[0])
        self.more_relays.extend(r for r in relays[1:] if r is not None)
        return ['unix:' + p for p in paths]

    def _stop_more_relays(self, socket_path):
        for relay in [r for r in self.more_relays if socket_path in ' '.join(r.args)]:
            stop_relay(relay)
            self.more_relays.remove(relay)

    def del_controller(self, ovsdb=True):
        if ovsdb and self.pids.get('ovsdb-server'):
            self.vsctl('del-controller', 'br-int', check=False)
        stop_relay(self.relay)
        self.relay = None
        self._stop_more_relays(self.relay_socket)
        for link in glob.glob(glob.escape(self.relay_socket) + '*'):
            if os.path.islink(link):
                os.unlink(link)

    def expose(self, name, target, port):
        """Make TCP ``target`` of the root namespace reachable as 127.0.0.1:``port`` inside this
        namespace, for daemons that must dial an address (``ssl:`` controller and manager
        targets; ``unix:`` carries no TLS): a socat listening there, joined by a unix socket
        in the run dir to a relay in the root namespace. The bytes pass unchanged, TLS
        included. Returns '127.0.0.1:port'."""
        sock = os.path.join(self.rundir, 'qnet-%s.sock' % name)
        self.exposed.append(start_relay(self.name, sock, target))
        inner = subprocess.Popen(
            ['mnexec', '-a', str(self.pid), 'socat',
             'TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr' % port, 'UNIX-CONNECT:' + sock],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.exposed.append(inner)
        wait_for(lambda: ':%d ' % port in self.cmd('ss -Hltn') or inner.poll() is not None,
                 timeout=5, what='%s: socat on 127.0.0.1:%d' % (self.name, port))
        if inner.poll() is not None:
            raise LabError('%s: socat on 127.0.0.1:%d exited' % (self.name, port))
        return '127.0.0.1:%d' % port

    # --- OVSDB manager relay

    def set_manager(self, target='127.0.0.1:6640', max_backoff_ms=1000):
        """Make this hypervisor's ovsdb-server connect out to an OVSDB manager (qnet's,
        apps/ovsdb_manager.py) listening in the root namespace, as ``ovs-vsctl set-manager``
        would.

        Same trick as ``set_controller``: a socat relay in the root namespace from a unix
        socket in the run dir to TCP ``target`` ('host:port' or 'tcp:host:port'), and
        ``set-manager unix:<socket>``. ovsdb-server (unlike ovs-vswitchd for controllers)
        accepts an active ``unix:`` remote anywhere, but it only reads the Manager table
        once it has the ``db:...manager_options`` remote, which ``start_ovs`` does not
        give it; that remote is added here at run time (ovsdb-server/add-remote).
        The Open_vSwitch row must already carry external_ids:system-id (setup_bridges
        sets it): the manager identifies the connection by it.
        """
        self.del_manager()
        remotes = self._relay_all(self.manager_socket, target, 'manager_relay')
        ctl = os.path.join(self.rundir, 'ovsdb-server.ctl')
        if MANAGER_REMOTE not in run(['ovs-appctl', '-t', ctl,
                                      'ovsdb-server/list-remotes']).split():
            run(['ovs-appctl', '-t', ctl, 'ovsdb-server/add-remote', MANAGER_REMOTE])
        self.vsctl('set-manager', *remotes)
        for remote in remotes:
            self.vsctl('set', 'Manager', remote, 'max_backoff=%d' % max_backoff_ms)

    def del_manager(self, ovsdb=True):
        if ovsdb and self.pids.get('ovsdb-server'):
            self.vsctl('del-manager', check=False)
        stop_relay(self.manager_relay)
        self.manager_relay = None
        self._stop_more_relays(self.manager_socket)

    # --- VM ports and tunnels

    def plug_vm(self, intf, iface_id, mac=None, ofport=None, project=None):
        """Add a VM's hypervisor-side veth to br-int with external_ids:iface-id; return ofport.

        iface-id is the Neutron/OVN convention the controller uses to bind the logical port:
        a port id binds that port; an attachment id binds only with ``project``, the project
        the VM was started for (external_ids:qnet-project-id, docs/security.md).
        """
        cols = ['external_ids:iface-id=%s' % iface_id, 'external_ids:iface-status=active']
        if project:
            cols.append('external_ids:qnet-project-id=%s' % project)
        if mac:
            cols.append('external_ids:attached-mac=%s' % mac)
        if ofport:
            cols.append('ofport_request=%d' % ofport)
        self.sh('ip link set %s up' % intf)
        _ethtool_tx_off(self, intf)
        self.vsctl('--may-exist', 'add-port', 'br-int', intf, '--', 'set', 'Interface', intf,
                   *cols)
        self.plugs[intf] = iface_id
        return self.ofport(intf)

    def unplug_vm(self, intf):
        self.vsctl('--if-exists', 'del-port', 'br-int', intf)
        self.plugs.pop(intf, None)

    def add_vxlan_port(self, name, remote_ip, key='flow'):
        """Add a VXLAN port to br-int (remote_ip=peer tunnel IP, key=flow); return ofport."""
        self.vsctl('--may-exist', 'add-port', 'br-int', name, '--', 'set', 'Interface', name,
                   'type=vxlan', 'options:remote_ip=%s' % remote_ip, 'options:key=%s' % key)
        return self.ofport(name)

    def ofport(self, intf, timeout=10):
        """OpenFlow port number of ``intf`` (polls until vswitchd has assigned it)."""
        def get():
            out = self.vsctl('get', 'Interface', intf, 'ofport').strip()
            return int(out) if out.lstrip('-').isdigit() and int(out) > 0 else None
        return wait_for(get, timeout=timeout, what='%s ofport of %s' % (self.name, intf))
