"""The fabric lab: plain Mininet OVS switches wired as a tree or a mesh with loops, hosts on them.

Every switch is an ordinary Mininet ``OVSSwitch`` (userspace datapath, fail_mode=secure,
OpenFlow 1.3) connected straight to the controller on loopback. They live in one private
ovsdb-server/ovs-vswitchd pair with its own run directory (``OVS_RUNDIR``), so the lab never
touches a system Open vSwitch and removes everything it started on exit, failures included.

``fabric_scenario`` creates two tenants' three networks (same CIDR) through the REST API,
binds each host's port by binding:profile (switch datapath id + port name) and gives the host
the port's MAC and IP address.
"""
import contextlib
import dataclasses
import os
import shutil
import tempfile
from functools import partial

from mininet.link import Link
from mininet.net import Mininet
from mininet.node import OVSSwitch, RemoteController
from mininet.topo import Topo

from .nodes import OVS_SCHEMA, LabError, kill_pid, run, wait_for

TMP_PREFIX = 'qnet-fabric-'
TOPOLOGIES = ('tree', 'mesh')
LINKS = {'tree': 3, 'mesh': 5}          # inter-switch links LLDP must find


class FabricTopo(Topo):
    """``tree``: Mininet's TreeTopo(depth=2, fanout=3): s1 over s2..s4, hosts h1..h9 on the
    leaves. ``mesh``: s1..s4 in a ring plus the chord s1-s3 (two loops), two hosts each."""

    def build(self, shape='tree'):
        if shape == 'tree':
            edges, leaves, per = [(1, 2), (1, 3), (1, 4)], [2, 3, 4], 3
        elif shape == 'mesh':
            edges, leaves, per = [(1, 2), (2, 3), (3, 4), (4, 1), (1, 3)], [1, 2, 3, 4], 2
        else:
            raise ValueError('topology must be one of %s' % ', '.join(TOPOLOGIES))
        for s in sorted({s for e in edges for s in e}):
            self.addSwitch('s%d' % s, dpid='%016x' % s)
        for a, b in edges:
            self.addLink('s%d' % a, 's%d' % b)
        k = 0
        for leaf in leaves:
            for _ in range(per):
                k += 1
                self.addHost('h%d' % k, ip=None)
                self.addLink('h%d' % k, 's%d' % leaf)


class PrivateOVS:
    """ovsdb-server + ovs-vswitchd in the root namespace with their own run directory."""

    def __init__(self):
        self.rundir = tempfile.mkdtemp(prefix=TMP_PREFIX)
        self.pids = {}
        self.env = dict(os.environ, OVS_RUNDIR=self.rundir, OVS_DBDIR=self.rundir,
                        OVS_LOGDIR=self.rundir)

    def start(self):
        d = self.rundir
        run(['ovsdb-tool', 'create', os.path.join(d, 'conf.db'), OVS_SCHEMA])
        self._daemon('ovsdb-server', [os.path.join(d, 'conf.db'),
                                      '--remote=punix:%s/db.sock' % d])
        run(['ovs-vsctl', '--no-wait', 'init'], env=self.env)
        self._daemon('ovs-vswitchd', ['unix:%s/db.sock' % d])
        return self

    def _daemon(self, name, args):
        d = self.rundir
        pidfile = os.path.join(d, name + '.pid')
        run([name, *args, '--pidfile=%s' % pidfile, '--detach',
             '--log-file=%s/%s.log' % (d, name), '--unixctl=%s/%s.ctl' % (d, name),
             '-vconsole:off'], env=self.env)
        with open(pidfile) as f:
            self.pids[name] = int(f.read().strip())

    def stop(self):
        for name in ('ovs-vswitchd', 'ovsdb-server'):
            pid = self.pids.pop(name, None)
            if pid:
                kill_pid(pid, name)
        shutil.rmtree(self.rundir, ignore_errors=True)


class QnetController(RemoteController):
    """The qnet controller the switches dial; Mininet does not probe it.

    Mininet's own probe pipes ``telnet`` output through a UTF-8 decoder in the controller
    node's shell, and the controller's OpenFlow HELLO (a random transaction id) is often not
    valid UTF-8: the probe then crashes the lab's start-up at random. The tests wait for the
    switches to connect instead, which is the check that matters."""

    def checkListening(self):
        pass


@contextlib.contextmanager
def start_fabric(shape='tree', controller='127.0.0.1:6653'):
    """Yield a started Mininet fabric whose switches connect to ``controller``."""
    ovs = PrivateOVS()
    saved = {k: os.environ.get(k) for k in ('OVS_RUNDIR', 'OVS_DBDIR', 'OVS_LOGDIR')}
    net = None
    try:
        ovs.start()
        # Mininet runs ovs-vsctl/ovs-ofctl in shells that inherit this environment.
        os.environ.update({k: ovs.rundir for k in saved})
        host, port = controller.rsplit(':', 1)
        switch = partial(OVSSwitch, datapath='user', failMode='secure',
                         protocols='OpenFlow13')
        net = Mininet(topo=FabricTopo(shape=shape), switch=switch, link=Link,
                      controller=partial(QnetController, ip=host, port=int(port)),
                      autoSetMacs=False, waitConnected=False)
        net.start()
        for sw in net.switches:
            sw.cmd('ovs-vsctl set controller %s max_backoff=1000' % sw.name)
        for node in net.hosts + net.switches:
            for intf in node.intfNames():
                if intf != 'lo':
                    node.cmd('ethtool -K %s tx off >/dev/null 2>&1' % intf)
        net.ovs = ovs
        yield net
    finally:
        if net is not None:
            net.stop()
        ovs.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- the scenario ------------------------------------------------------------------------------
# host -> (tenant, network). Same CIDR in every network; hosts left out stay unbound.
SCENARIOS = {
    'tree': {'h1': ('tenant-a', 'a-web'), 'h4': ('tenant-a', 'a-web'),
             'h7': ('tenant-a', 'a-web'), 'h2': ('tenant-a', 'a-db'),
             'h8': ('tenant-a', 'a-db'), 'h3': ('tenant-b', 'b-web'),
             'h5': ('tenant-b', 'b-web'), 'h9': ('tenant-b', 'b-web')},
    'mesh': {'h1': ('tenant-a', 'a-web'), 'h5': ('tenant-a', 'a-web'),
             'h7': ('tenant-a', 'a-web'), 'h3': ('tenant-a', 'a-db'),
             'h8': ('tenant-a', 'a-db'), 'h2': ('tenant-b', 'b-web'),
             'h6': ('tenant-b', 'b-web')},
}
CIDR = '10.0.0.0/24'


@dataclasses.dataclass
class Member:
    host: object            # the Mininet host
    tenant: str
    network: str
    port_id: str
    ip: str
    mac: str

    @property
    def name(self):
        return self.host.name

    @property
    def label(self):
        return '%s/%s' % (self.tenant, self.host.name)


def fabric_scenario(net, admin, shape='tree'):
    """Create the scenario's networks and bound ports through ``admin`` (an admin
    qnetclient.Client); configure the hosts. Returns the Members, in host order."""
    nets, members = {}, []
    for host_name, (tenant, net_name) in sorted(SCENARIOS[shape].items()):
        if net_name not in nets:
            n = admin.networks.create(name=net_name, project_id=tenant)
            admin.subnets.create(network_id=n['id'], cidr=CIDR, ip_version=4,
                                 project_id=tenant)
            nets[net_name] = n['id']
        host = net.get(host_name)
        intf = host.defaultIntf()
        sw_intf = intf.link.intf2 if intf.link.intf1 is intf else intf.link.intf1
        # distinct addresses across networks, so a reply can only come from the host asked
        fixed = [{'ip_address': '10.0.0.%d' % (10 + int(host_name[1:]))}]
        port = admin.ports.create(network_id=nets[net_name], project_id=tenant,
                                  name=host_name, fixed_ips=fixed, **{'binding:profile': {
                                      'datapath_id': sw_intf.node.dpid,
                                      'port_name': sw_intf.name}})
        ip = port['fixed_ips'][0]['ip_address']
        host.cmd('ip link set %s address %s' % (intf.name, port['mac_address']))
        host.cmd('ip addr flush dev %s && ip addr add %s/24 dev %s && ip link set %s up'
                 % (intf.name, ip, intf.name, intf.name))
        members.append(Member(host, tenant, net_name, port['id'], ip, port['mac_address']))
    return members


def wait_ready(admin, members, links, timeout=30):
    """Until LLDP found ``links`` links and every member's port is ACTIVE."""
    def ready():
        topo = admin.topology()
        up = [lk for lk in topo['links'] if lk['status'] == 'UP']
        return len(up) == links and all(
            admin.ports.get(m.port_id)['status'] == 'ACTIVE' for m in members)
    try:
        wait_for(ready, timeout=timeout, interval=0.2, what='fabric links and ports')
    except LabError:
        raise LabError('fabric not ready: %s' % admin.topology())


def pin_neighbours(members):
    """Static ARP entries for every other member, so probes towards another network carry
    that host's real MAC: what isolation must stop is then the frame itself, not ARP."""
    for m in members:
        intf = m.host.defaultIntf().name
        for other in members:
            if other is not m and other.ip != m.ip:
                m.host.cmd('ip neigh replace %s lladdr %s dev %s nud permanent'
                           % (other.ip, other.mac, intf))


def reachability(members):
    """{(src label, dst label): True if ping got a reply}, every host pinging all others at
    once (labels are "tenant/host", as in seed.format_matrix)."""
    out = {}
    for m in members:
        targets = [o for o in members if o is not m]
        text = m.host.cmd('for ip in %s; do (ping -n -c 2 -i 0.2 -W 1 $ip >/dev/null 2>&1 '
                          '&& echo OK $ip) & done; wait' % ' '.join(o.ip for o in targets))
        ok = {line.split()[1] for line in text.splitlines() if line.startswith('OK ')}
        for o in targets:
            out[(m.label, o.label)] = o.ip in ok
    return out


def switch_packets(net):
    """Packets received on every switch port so far (OVS interface statistics)."""
    total = 0
    for sw in net.switches:
        for intf in sw.intfNames():
            if intf != 'lo':
                text = sw.cmd('ovs-vsctl get interface %s statistics:rx_packets' % intf)
                total += int(text.strip() or 0) if text.strip().isdigit() else 0
    return total


def outage_during(src, dst_ip, action, before=1.5, after=3.0, interval=0.02):
    """Ping ``dst_ip`` from ``src`` every ``interval`` s, run ``action()`` after ``before``
    seconds, keep pinging ``after`` more; return (longest gap between replies in seconds,
    replies after the action, pings lost)."""
    import re
    import time
    count = int((before + after) / interval)
    proc = src.popen(['ping', '-n', '-D', '-i', str(interval), '-c', str(count), '-W', '1',
                      dst_ip])
    time.sleep(before)
    acted = time.time()
    action()
    out, _ = proc.communicate(timeout=before + after + 30)
    stamps = [float(t) for t in re.findall(rb'^\[(\d+\.\d+)\].*icmp_seq=', out, re.M)]
    if len(stamps) < 2:
        raise LabError('ping %s -> %s: too few replies: %r' % (src.name, dst_ip, out[-300:]))
    gap = max(b - a for a, b in zip(stamps, stamps[1:]))
    return gap, sum(1 for t in stamps if t > acted), count - len(stamps)
