"""ChassisMonitor (apps/chassis.py) in-process against real ovsdb-servers that dial in
(tests/unit/ovsdb_server.py): chassis snapshots, tunnel transactions, timeouts, disconnects.
The lab test (tests/lab/test_chassis_lab.py) does the same with ovs-vswitchd and ofports."""
import os
import signal
import time

import pytest
from os_ken import cfg

from apps.chassis import ChassisError, ChassisMonitor
from tests.unit.ovsdb_server import needs_ovsdb, servers, wait_until  # noqa: F401

pytestmark = needs_ovsdb


def new_monitor():
    """A ChassisMonitor whose OVSDB manager will listen on a free loopback port."""
    cfg.CONF.set_override('address', '127.0.0.1', group='ovsdb')
    cfg.CONF.set_override('port', 0, group='ovsdb')
    try:
        return ChassisMonitor()
    finally:
        cfg.CONF.clear_override('address', group='ovsdb')
        cfg.CONF.clear_override('port', group='ovsdb')


@pytest.fixture
def monitor():
    mon = new_monitor()
    mon.start()
    yield mon
    mon.stop()


@pytest.fixture
def hv1(monitor, servers):
    """Hypervisor hv1 (tunnel address 172.16.1.1, VM port vm1 bound to port-1), connected."""
    server = servers('hv1')
    server.vsctl('set', 'Open_vSwitch', '.', 'external_ids:qnet-tunnel-ip=172.16.1.1')
    server.vsctl('add-port', 'br-int', 'vm1', '--', 'set', 'Interface', 'vm1',
                 'external_ids:iface-id=port-1')
    server.dial(monitor.ovsdb.port)
    wait_until(lambda: monitor.chassis.get('hv1'), 'chassis hv1')
    return server


def test_a_hypervisor_dialing_in_becomes_a_chassis(monitor, hv1):
    ch = monitor.chassis['hv1']
    assert ch.connected and ch.tunnel_ip == '172.16.1.1'
    assert ch.by_iface_id('port-1').name == 'vm1'
    hv1.vsctl('add-port', 'br-int', 'vm2', '--', 'set', 'Interface', 'vm2',
              'external_ids:iface-id=port-2')
    wait_until(lambda: monitor.chassis['hv1'].by_iface_id('port-2'), 'vm2 bound')


def test_ensure_tunnels_writes_its_plan_once(monitor, hv1):
    plan = monitor.ensure_tunnels('hv1', {'qvxac100202': '172.16.2.2'})
    assert plan.add == {'qvxac100202': '172.16.2.2'} and not plan.remove
    assert hv1.vsctl('get', 'Interface', 'qvxac100202', 'options') == \
        '{key=flow, local_ip="172.16.1.1", remote_ip="172.16.2.2"}'   # from qnet-tunnel-ip
    wait_until(lambda: monitor.chassis['hv1'].tunnels, 'the tunnel in the chassis')
    assert monitor.ensure_tunnels('hv1', {'qvxac100202': '172.16.2.2'}).empty
    assert monitor.ensure_tunnels('hv1', {}).remove == ('qvxac100202',)
    assert hv1.vsctl('list-ports', 'br-int').split() == ['vm1']


def test_ensure_tunnels_on_a_wedged_hypervisor_times_out(monitor, hv1):
    os.kill(hv1.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(ChassisError, match='hv1: no OVSDB reply within 1s'):
            monitor.ensure_tunnels('hv1', {'qvxac100202': '172.16.2.2'}, timeout=1)
        assert time.monotonic() - started < 3
    finally:
        os.kill(hv1.proc.pid, signal.SIGCONT)


def test_ensure_tunnels_for_an_unknown_chassis_fails(monitor):
    with pytest.raises(ChassisError, match='nowhere: no OVSDB connection'):
        monitor.ensure_tunnels('nowhere', {})


def test_a_lost_hypervisor_keeps_its_last_state_marked_disconnected(monitor, hv1):
    hv1.stop()
    ch = wait_until(lambda: (c := monitor.chassis['hv1']).connected is False and c,
                    'hv1 disconnected')
    assert ch.by_iface_id('port-1').name == 'vm1'
    with pytest.raises(ChassisError, match='hv1: no OVSDB connection'):
        monitor.ensure_tunnels('hv1', {})


def test_stop_is_prompt_with_a_hypervisor_connected(servers):
    mon = new_monitor()
    mon.start()
    servers('hv1').dial(mon.ovsdb.port)
    wait_until(lambda: mon.chassis.get('hv1'), 'chassis hv1')
    started = time.monotonic()
    mon.stop()
    assert time.monotonic() - started < 2
    assert mon.chassis['hv1'].connected      # stopping is not a hypervisor going away
