"""ChassisMonitor (apps/chassis.py) against real namespaced hypervisors (tier 3).

An os-ken process (a small script, below) runs ChassisMonitor (with its OVSDB manager end,
apps/ovsdb_manager.py) and a probe app that prints every EventChassisChanged as a JSON line and runs
``ensure_tunnels`` when told so on stdin. Each hypervisor's ovsdb-server connects to it
through ``Hypervisor.set_manager`` (a unix-socket relay: the lab has no route to loopback).

Needs root:  .venv/bin/python -m pytest -q tests/lab/test_chassis_lab.py
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason='!!! CHASSIS LAB TESTS SKIPPED: not root. The Mininet hypervisor lab needs root '
           'for network namespaces, veths and per-hypervisor OVS daemons. !!!')

from tunnel.mesh import tunnel_port_name  # noqa: E402
from simulations.lab import start_lab  # noqa: E402
from simulations.lab.nodes import kill_pid, pid_alive  # noqa: E402
from simulations.serve import free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RUNNER = r'''
"""ChassisMonitor + a probe: events as JSON lines on stdout, ensure_tunnels from stdin."""
import os
import sys
import warnings

os.environ.setdefault('OSKEN_HUB_TYPE', 'eventlet')
warnings.filterwarnings('ignore', message='\nEventlet is deprecated')
import eventlet  # noqa: E402
eventlet.monkey_patch()

import dataclasses  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402

from os_ken import cfg  # noqa: E402
from os_ken.base import app_manager  # noqa: E402
from os_ken.controller.handler import set_ev_cls  # noqa: E402
from os_ken.lib import hub  # noqa: E402

from apps.chassis import EventChassisChanged  # noqa: E402  (also adds --ovsdb-* options)


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + '\n')
    sys.stdout.flush()


class ChassisProbe(app_manager.OSKenApp):
    def start(self):
        super().start()
        hub.spawn(self._commands)      # not in self.threads: stop() must not wait on stdin
        # Runs once every app has started, i.e. once the OVSDB manager listens.
        hub.spawn(emit, {'event': 'ready'})

    @set_ev_cls(EventChassisChanged)
    def _changed(self, ev):
        emit({'event': 'chassis', 'chassis': dataclasses.asdict(ev.chassis)})

    def _commands(self):
        fd = sys.stdin.fileno()
        os.set_blocking(fd, False)     # eventlet's green os.read then waits cooperatively
        buf = b''
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                os._exit(0)            # the test went away: do not linger
            buf += chunk
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                hub.spawn(self._run, json.loads(line))

    def _run(self, cmd):
        monitor = app_manager.lookup_service_brick('ChassisMonitor')
        try:
            plan = monitor.ensure_tunnels(cmd['system_id'], cmd['wanted'])
            emit({'event': 'reply', 'id': cmd['id'], 'plan': dataclasses.asdict(plan)})
        except Exception as e:
            emit({'event': 'reply', 'id': cmd['id'], 'error': repr(e)})


if __name__ == '__main__':
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    cfg.CONF(args=['--ovsdb-address', '127.0.0.1', '--ovsdb-port', sys.argv[1]],
             project='os_ken')
    app_manager.AppManager.run_apps(['__main__', 'apps.chassis'])
'''


class OsKen:
    """The os-ken subprocess; remembers the latest chassis snapshot per system_id."""

    def __init__(self, tmp_path):
        self.port = free_port()
        script = tmp_path / 'chassis_runner.py'
        script.write_text(RUNNER)
        self.log_path = tmp_path / 'osken.log'
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(self.port)], cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=ROOT), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.latest, self.history, self.replies = {}, [], queue.Queue()
        self.lock = threading.Lock()
        self.next_id = 0
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(30):
            self.stop()
            raise RuntimeError('os-ken did not start: ' + self.log_path.read_text())

    @property
    def target(self):
        return '127.0.0.1:%d' % self.port

    def _read(self):
        for line in self.proc.stdout:
            msg = json.loads(line)
            if msg['event'] == 'ready':
                self.ready.set()
            elif msg['event'] == 'chassis':
                with self.lock:
                    self.latest[msg['chassis']['system_id']] = msg['chassis']
                    self.history.append(msg['chassis'])
            elif msg['event'] == 'reply':
                self.replies.put(msg)

    def chassis(self, system_id, predicate=lambda ch: True, timeout=15, what=''):
        """Wait until the latest snapshot of ``system_id`` satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                ch = self.latest.get(system_id)
            if ch is not None and predicate(ch):
                return ch
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError('chassis %s never satisfied %s; latest %r\n--- os-ken log:\n%s'
                             % (system_id, what or predicate, ch, self.log_path.read_text()))

    def call_ensure_tunnels(self, system_id, wanted, timeout=20):
        """The probe's reply: {'plan': TunnelPlan as a dict} or {'error': repr}."""
        self.next_id += 1
        self.proc.stdin.write(json.dumps({'id': self.next_id, 'system_id': system_id,
                                          'wanted': wanted}) + '\n')
        self.proc.stdin.flush()
        reply = self.replies.get(timeout=timeout)
        assert reply['id'] == self.next_id
        return reply

    def ensure_tunnels(self, system_id, wanted):
        reply = self.call_ensure_tunnels(system_id, wanted)
        assert 'error' not in reply, reply['error']
        return reply['plan']

    def stop(self):
        kill_pid(self.proc.pid)
        self.proc.wait()
        self.log.close()


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """One lab (2 hypervisors) and one os-ken process for the module; always cleaned up."""
    osken = OsKen(tmp_path_factory.mktemp('chassis'))
    relays = []
    try:
        with start_lab(hypervisors=2, subnets=2) as lab:
            for hv in lab.hypervisors:
                hv.set_manager(osken.target)
                relays.append(hv.manager_relay.pid)
            yield lab, osken
    finally:
        osken.stop()
    assert not [p for p in relays if pid_alive(p)], 'manager relays survived the lab'


def _ofport_of(hv, name):
    return int(hv.vsctl('get', 'Interface', name, 'ofport').strip())


def test_each_hypervisor_appears_as_a_chassis(setup):
    lab, osken = setup
    for hv in lab.hypervisors:
        ch = osken.chassis(hv.name, lambda c: c['datapath_id'] is not None and c['connected'])
        assert ch['tunnel_ip'] == hv.tunnel_ip
        assert ch['datapath_id'] == hv.dpid
        assert ch['datapath_id'] == int(hv.vsctl('get', 'Bridge', 'br-int',
                                                 'datapath_id').strip().strip('"'), 16)
        assert 'br-int' in ch['interfaces'] and 'br-phy' not in ch['interfaces']
        assert '%s-eth0' % hv.name not in ch['interfaces']     # br-phy's, not br-int's


def test_plugged_vm_is_bound_by_iface_id(setup):
    lab, osken = setup
    hv = lab['hv1']
    vm = lab.add_vm('vm1', hv, '10.0.0.1/24', plug=False)
    _, intf = lab.vm_port(vm)
    ofport = hv.plug_vm(intf, 'X', project='p1')
    ch = osken.chassis('hv1', lambda c: (c['interfaces'].get(intf) or {}).get('ofport'),
                       what='%s with an ofport' % intf)
    assert ch['interfaces'][intf] == {'name': intf, 'ofport': ofport, 'iface_id': 'X',
                                      'type': '', 'remote_ip': None, 'key': None,
                                      'qnet_tunnel': False, 'local_ip': None,
                                      'project_id': 'p1'}
    hv.unplug_vm(intf)
    osken.chassis('hv1', lambda c: intf not in c['interfaces'], what='%s gone' % intf)


def test_ensure_tunnels_adds_and_removes_only_qnet_ports(setup):
    lab, osken = setup
    hv1, hv2 = lab['hv1'], lab['hv2']
    hv1.add_vxlan_port('manual0', '172.16.9.9')            # someone else's tunnel
    name = tunnel_port_name(hv2.tunnel_ip)

    plan = osken.ensure_tunnels('hv1', {name: hv2.tunnel_ip})
    assert plan == {'add': {name: hv2.tunnel_ip}, 'update': {}, 'remove': [],
                    'conflicts': []}
    assert hv1.vsctl('get', 'Interface', name, 'type').strip() == 'vxlan'
    assert hv1.vsctl('get', 'Interface', name, 'options:remote_ip').strip() == \
        '"%s"' % hv2.tunnel_ip
    assert hv1.vsctl('get', 'Interface', name, 'options:key').strip() == 'flow'
    assert hv1.vsctl('get', 'Port', name, 'external_ids:qnet-tunnel').strip() == '"true"'
    assert name in hv1.vsctl('list-ports', 'br-int').split()
    ofport = hv1.ofport(name)
    ch = osken.chassis('hv1', lambda c: (c['interfaces'].get(name) or {}).get('ofport'),
                       what='tunnel %s with an ofport' % name)
    assert ch['interfaces'][name] == {'name': name, 'ofport': ofport, 'iface_id': None,
                                      'type': 'vxlan', 'remote_ip': hv2.tunnel_ip,
                                      'key': 'flow', 'qnet_tunnel': True,
                                      'local_ip': hv1.tunnel_ip, 'project_id': None}

    # idempotent: nothing to do, the port (and its ofport) stays
    again = osken.ensure_tunnels('hv1', {name: hv2.tunnel_ip})
    assert again == {'add': {}, 'update': {}, 'remove': [], 'conflicts': []}
    assert _ofport_of(hv1, name) == ofport

    # a qnet port someone changed by hand is repaired in place (same port, same ofport)
    hv1.vsctl('set', 'Interface', name, 'options:remote_ip=172.16.9.1', 'options:key=7')
    # (the change reaches the controller through the manager relay, maybe after vsctl returns)
    osken.chassis('hv1', lambda c: c['interfaces'][name]['remote_ip'] == '172.16.9.1',
                  what='the hand-made change of %s seen' % name)
    fixed = osken.ensure_tunnels('hv1', {name: hv2.tunnel_ip})
    assert fixed['update'] == {name: hv2.tunnel_ip} and not fixed['add']
    assert hv1.vsctl('get', 'Interface', name, 'options').strip() == \
        '{key=flow, local_ip="%s", remote_ip="%s"}' % (hv1.tunnel_ip, hv2.tunnel_ip)
    assert _ofport_of(hv1, name) == ofport

    # a wanted name held by a foreign port is reported, not taken over
    clash = osken.ensure_tunnels('hv1', {name: hv2.tunnel_ip, 'manual0': '172.16.2.99'})
    assert clash['conflicts'] == ['manual0'] and not clash['add']
    assert hv1.vsctl('get', 'Interface', 'manual0', 'options:remote_ip').strip() == \
        '"172.16.9.9"'

    # no longer wanted: removed; the foreign port, br-int's own and hv2 untouched
    gone = osken.ensure_tunnels('hv1', {})
    assert gone['remove'] == [name]
    ports = hv1.vsctl('list-ports', 'br-int').split()
    assert name not in ports and 'manual0' in ports
    assert not hv1.vsctl('--columns=name', 'find', 'Interface', 'name=%s' % name).strip()
    ch = osken.chassis('hv1', lambda c: name not in c['interfaces'], what='%s gone' % name)
    assert 'manual0' in ch['interfaces'] and not ch['interfaces']['manual0']['qnet_tunnel']
    assert name not in hv2.vsctl('list-ports', 'br-int').split()


def test_unknown_chassis_is_an_error(setup):
    _, osken = setup
    reply = osken.call_ensure_tunnels('nope', {})
    assert 'ChassisError' in reply['error'] and 'nope: no OVSDB connection' in reply['error']


def test_disconnect_and_reconnect_are_reported(setup):
    lab, osken = setup
    hv2 = lab['hv2']
    osken.chassis('hv2', lambda c: c['connected'])
    hv2.del_manager()
    osken.chassis('hv2', lambda c: not c['connected'], what='hv2 disconnected')
    hv2.set_manager(osken.target)
    ch = osken.chassis('hv2', lambda c: c['connected'], what='hv2 reconnected')
    assert ch['datapath_id'] == hv2.dpid and ch['tunnel_ip'] == hv2.tunnel_ip
    # the reconnected client serves transactions (os-ken's own hangs on reconnects)
    name = tunnel_port_name(lab['hv1'].tunnel_ip)
    assert osken.ensure_tunnels('hv2', {name: lab['hv1'].tunnel_ip})['add']
    assert osken.ensure_tunnels('hv2', {})['remove'] == [name]
