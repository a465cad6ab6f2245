"""Private ovsdb-servers for tests of the OVSDB manager end (apps/ovsdb_manager.py) and of
ChassisMonitor: each in a temp dir on a unix socket, no ovs-vswitchd (OVSDB is all the
manager speaks), pointed at a manager on loopback as ``ovs-vsctl set-manager tcp:...`` would,
stopped by pid."""
import os
import subprocess
import time

import pytest

SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema'
WAIT = 15          # seconds: ovsdb-server redials after a backoff of 1 s and more

needs_ovsdb = pytest.mark.skipif(not os.path.exists(SCHEMA),
                                 reason='Open vSwitch (ovsdb-server, its schema) not installed')


class OvsdbServer:
    """A private ovsdb-server with an Open_vSwitch row and br-int (rows only: no vswitchd)."""

    def __init__(self, rundir, system_id, extra_args=()):
        rundir.mkdir()
        self.rundir, self.sock = rundir, rundir / 'db.sock'
        subprocess.run(['ovsdb-tool', 'create', str(rundir / 'conf.db'), SCHEMA], check=True)
        self.proc = subprocess.Popen(
            ['ovsdb-server', str(rundir / 'conf.db'), f'--remote=punix:{self.sock}',
             f'--unixctl={rundir / "ctl"}', '--no-chdir', *extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.vsctl('init')
        if system_id:
            self.vsctl('set', 'Open_vSwitch', '.', f'external_ids:system-id={system_id}')
        self.vsctl('add-br', 'br-int')

    def vsctl(self, *args):
        return subprocess.run(['ovs-vsctl', f'--db=unix:{self.sock}', '--no-wait',
                               '--timeout=10', *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    def dial(self, port, method='tcp'):
        """Connect out to a manager on loopback, as a hypervisor's set-manager does
        (``method`` 'ssl' needs the server started with --private-key and the like)."""
        subprocess.run(['ovs-appctl', '-t', str(self.rundir / 'ctl'), 'ovsdb-server/add-remote',
                        f'{method}:127.0.0.1:{port}'], check=True, capture_output=True)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def servers(tmp_path):
    """``servers(system_id)`` starts an ovsdb-server; all are stopped (by pid) afterwards."""
    started = []

    def start(system_id='hv1'):
        started.append(OvsdbServer(tmp_path / f'ovsdb{len(started)}', system_id))
        return started[-1]
    yield start
    for server in started:
        server.stop()


def wait_until(predicate, what, timeout=WAIT):
    """Poll ``predicate`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError('not within %ss: %s' % (timeout, what))
