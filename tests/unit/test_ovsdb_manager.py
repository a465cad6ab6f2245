"""apps/ovsdb_manager.py against real ovsdb-servers that dial in, as hypervisors do
(tests/unit/ovsdb_server.py)."""
import os
import queue
import signal
import time

import pytest

from apps.chassis_model import COLUMNS, snapshot_tables
from apps.ovsdb_manager import SUCCESS, UNCHANGED, OvsdbError, OvsdbManager
from tests.unit.ovsdb_server import WAIT, needs_ovsdb, servers, wait_until  # noqa: F401

pytestmark = needs_ovsdb


class Recorder:
    """The manager's callbacks, as a queue of (what, connection)."""

    def __init__(self):
        self.events = queue.Queue()

    def connected(self, conn):
        self.events.put(('connected', conn))

    def changed(self, conn):
        self.events.put(('changed', conn))

    def lost(self, conn):
        self.events.put(('lost', conn))

    def wait_for(self, what, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            try:
                got, conn = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f'no {what} within {timeout}s') from None
            if got == what:
                return conn

    def seen(self, what):
        return [conn for got, conn in list(self.events.queue) if got == what]


@pytest.fixture
def manager():
    """A started OvsdbManager on a free loopback port, replicating what ChassisMonitor does."""
    rec = Recorder()
    mgr = OvsdbManager('127.0.0.1', 0, COLUMNS, rec.connected, rec.changed, rec.lost,
                       handshake_timeout=1.0)
    mgr.start()
    mgr.rec = rec
    yield mgr
    mgr.stop()


@pytest.fixture
def hv1(manager, servers):
    """An ovsdb-server with system-id hv1, connected to ``manager``."""
    server = servers('hv1')
    server.dial(manager.port)
    manager.rec.wait_for('connected')
    return server


def interfaces(mgr, system_id):
    tables = mgr.read(system_id, snapshot_tables, timeout=5)
    return {row['name']: row for row in tables['Interface'].values()}


def insert_port(tables, txn, name):
    """Add port ``name`` (one interface) to the only bridge, in transaction ``txn``."""
    br = next(iter(tables['Bridge'].rows.values()))
    iface = txn.insert(tables['Interface'])
    iface.name = name
    port = txn.insert(tables['Port'])
    port.name = name
    port.interfaces = [iface]
    br.addvalue('ports', port)


def test_a_hypervisor_dialing_in_is_known_by_its_system_id(manager, servers):
    servers('hv1').dial(manager.port)
    conn = manager.rec.wait_for('connected')
    assert conn.system_id == 'hv1' and conn.connected
    assert manager.connections == {'hv1': conn}
    tables = manager.read('hv1', snapshot_tables, timeout=5)
    assert [b['name'] for b in tables['Bridge'].values()] == ['br-int']


def test_replica_changes_are_reported_and_read_back(manager, hv1):
    hv1.vsctl('add-port', 'br-int', 'vm1', '--', 'set', 'Interface', 'vm1',
                 'external_ids:iface-id=port-1')
    manager.rec.wait_for('changed')
    assert interfaces(manager, 'hv1')['vm1']['external_ids'] == {'iface-id': 'port-1'}


def test_a_transaction_is_written_to_the_hypervisor(manager, hv1):

    def add_port(tables, txn):
        insert_port(tables, txn, 'p1')
        return 'added'

    assert manager.transact('hv1', add_port, timeout=5) == (SUCCESS, 'added')
    assert 'p1' in hv1.vsctl('list-ports', 'br-int').split()
    assert manager.transact('hv1', lambda tables, txn: None, timeout=5) == (UNCHANGED, None)


def test_a_failing_transaction_writes_nothing_and_the_connection_goes_on(manager, hv1):

    def half_then_fail(tables, txn):
        insert_port(tables, txn, 'half')
        raise ValueError('planned failure')

    with pytest.raises(ValueError, match='planned failure'):
        manager.transact('hv1', half_then_fail, timeout=5)
    assert hv1.vsctl('list-ports', 'br-int') == ''
    assert 'br-int' in [b['name'] for b in
                        manager.read('hv1', snapshot_tables, timeout=5)['Bridge'].values()]


def test_requests_for_an_unknown_hypervisor_fail_at_once(manager):
    started = time.monotonic()
    with pytest.raises(OvsdbError, match='nowhere: no OVSDB connection'):
        manager.read('nowhere', snapshot_tables, timeout=5)
    assert time.monotonic() - started < 2


def test_a_wedged_hypervisor_times_out_the_caller_and_then_goes_on(manager, hv1):
    os.kill(hv1.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(OvsdbError, match='hv1: no OVSDB reply within 1s'):
            manager.transact('hv1', lambda tables, txn: insert_port(tables, txn, 'late'),
                             timeout=1)
        assert time.monotonic() - started < 3
    finally:
        os.kill(hv1.proc.pid, signal.SIGCONT)
    # Answered after all (the caller had given up): the replica and the manager go on.
    wait_until(lambda: 'late' in interfaces(manager, 'hv1'), 'the late port in the replica')


def test_a_lost_connection_is_reported_once_and_requests_then_fail(manager, servers):
    server = servers('hv1')
    server.dial(manager.port)
    conn = manager.rec.wait_for('connected')
    server.stop()
    assert manager.rec.wait_for('lost') is conn
    assert not conn.connected and manager.connections == {}
    with pytest.raises(OvsdbError, match='hv1: no OVSDB connection'):
        manager.read('hv1', snapshot_tables, timeout=5)


def test_a_hypervisor_without_system_id_is_dropped_until_it_has_one(manager, servers):
    server = servers(None)
    server.dial(manager.port)
    time.sleep(1.5)                                  # past the handshake timeout
    assert manager.rec.seen('connected') == [] and manager.connections == {}
    server.vsctl('set', 'Open_vSwitch', '.', 'external_ids:system-id=late')
    assert manager.rec.wait_for('connected').system_id == 'late'     # it redialled


def test_a_new_connection_of_the_same_system_id_replaces_the_old_one(manager, servers):
    first = servers('hv1')
    first.dial(manager.port)
    old = manager.rec.wait_for('connected')
    second = servers('hv1')
    second.vsctl('add-port', 'br-int', 'only-on-second')
    second.dial(manager.port)
    new = manager.rec.wait_for('connected')
    assert new is not old and not old.connected and manager.connections == {'hv1': new}
    assert 'only-on-second' in interfaces(manager, 'hv1')
    assert old not in manager.rec.seen('lost')     # replaced, not lost


def test_stop_is_prompt_with_connections_and_reports_no_loss(servers):
    rec = Recorder()
    mgr = OvsdbManager('127.0.0.1', 0, COLUMNS, rec.connected, rec.changed, rec.lost)
    mgr.start()
    servers('hv1').dial(mgr.port)
    conn = rec.wait_for('connected')
    started = time.monotonic()
    mgr.stop()
    assert time.monotonic() - started < 2
    assert not conn.connected and rec.seen('lost') == []
    with pytest.raises(OvsdbError, match='not running'):
        mgr.read('hv1', snapshot_tables, timeout=5)
