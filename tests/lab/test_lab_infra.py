"""The hypervisor lab itself, without the qnet controller (tier 3 infrastructure).

Hand-written OpenFlow 1.3 flows on each br-int carry VM traffic over VXLAN across a routed
underlay. If these tests fail, end-to-end controller tests cannot be trusted either. Each
test also proves that the lab leaves no namespace, daemon, relay, veth or temp dir behind,
including when the body raises.

Needs root (namespaces, veths, OVS daemons):  sudo /tmp/venv-probe/bin/python -m pytest tests/lab
"""

import glob
import os
import re
import socket

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason='!!! LAB TESTS SKIPPED: not root. The Mininet hypervisor lab needs root for '
           'network namespaces, veths and per-hypervisor OVS daemons. !!!')

from simulations.lab import LabError, start_lab  # noqa: E402
from simulations.lab import check  # noqa: E402
from simulations.lab.nodes import TMP_PREFIX, pid_alive  # noqa: E402

OUR_LINK = re.compile(r'^(hv\d+|seg\d+|r0|tapvm|vm\d+)')


def _root_links():
    with os.popen('ip -o link show') as f:
        names = {line.split(':')[1].strip().split('@')[0] for line in f if ':' in line}
    return {n for n in names if OUR_LINK.match(n)}


def _netns_holders(inodes):
    """pids that still hold one of the namespaces (as their netns or as an open fd)."""
    wanted = {'net:[%d]' % i for i in inodes}
    holders = set()
    for pid in filter(str.isdigit, os.listdir('/proc')):
        links = ['/proc/%s/ns/net' % pid] + glob.glob('/proc/%s/fd/*' % pid)
        for link in links:
            try:
                if os.readlink(link) in wanted:
                    holders.add(int(pid))
            except OSError:
                pass
    return holders


def _procs_mentioning(paths):
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                cmd = f.read().decode(errors='replace')
        except OSError:
            continue
        if any(p in cmd for p in paths) and pid_alive(int(pid)):
            found.append((pid, cmd.replace('\0', ' ')))
    return found


@pytest.fixture
def baseline():
    return {'tmp': set(glob.glob('/tmp/%s*' % TMP_PREFIX)), 'links': _root_links()}


def assert_lab_gone(res, baseline):
    """Everything the lab recorded while running is gone now."""
    assert res['shell_pids'] and res['daemon_pids'] and res['rundirs']
    alive = {k: p for k, p in list(res['shell_pids'].items()) + list(res['daemon_pids'].items())
             + list(res['relay_pids'].items()) if pid_alive(p)}
    assert not alive, 'processes of the lab still running: %s' % alive
    assert not _netns_holders(res['netns_inodes'].values()), 'a lab namespace survived'
    assert not _procs_mentioning(res['rundirs']), 'a process still uses a lab run dir'
    assert not [d for d in res['rundirs'] if os.path.exists(d)]
    assert set(glob.glob('/tmp/%s*' % TMP_PREFIX)) <= baseline['tmp'], 'temp dirs left'
    assert _root_links() <= baseline['links'], 'veths left in the root namespace'


def _hello_through_relay(hv):
    """A plain TCP listener on loopback receives br-int's OpenFlow 1.3 HELLO via the relay."""
    with socket.socket() as ls:
        ls.bind(('127.0.0.1', 0))
        ls.listen(1)
        ls.settimeout(15)
        hv.set_controller('127.0.0.1:%d' % ls.getsockname()[1])
        conn, _ = ls.accept()
        with conn:
            conn.settimeout(10)
            header = conn.recv(8)
    assert len(header) >= 2 and header[0] == 0x04 and header[1] == 0, header  # OF1.3 HELLO


def test_hand_flows_over_routed_underlay(baseline):
    with start_lab(hypervisors=2, subnets=2, vms_per_hypervisor=1) as lab:
        hv1, hv2, vm1, vm2 = lab['hv1'], lab['hv2'], lab['vm1'], lab['vm2']
        # Underlay: two subnets, joined only by the router.
        assert hv1.tunnel_ip.rsplit('.', 1)[0] != hv2.tunnel_ip.rsplit('.', 1)[0]
        assert hv1.vsctl('get', 'Open_vSwitch', '.', 'external_ids:qnet-tunnel-ip').strip() \
            .strip('"') == hv1.tunnel_ip
        assert hv1.vsctl('get', 'Open_vSwitch', '.', 'external_ids:system-id').strip() == 'hv1'
        assert hv1.vsctl('get', 'Bridge', 'br-int', 'datapath_type', 'fail_mode').split() \
            == ['netdev', 'secure']
        assert check.ping(hv1, hv2.tunnel_ip, count=1, wait=2), 'underlay not routed'
        assert vm1.cmd('cat /sys/class/net/vm1-eth0/mtu').strip() == '1450'
        assert hv1.vsctl('get', 'Interface', 'tapvm1', 'external_ids:iface-id').strip() \
            .strip('"') == 'vm1'
        assert os.path.exists(hv1.ovsdb_socket)

        # fail_mode=secure and no flows: nothing passes yet.
        assert not check.ping(vm1, '10.0.0.2')

        # Hand-written flows, one hypervisor at a time.
        vni = 0x1234
        for hv, peer, vm_if in ((hv1, hv2, 'tapvm1'), (hv2, hv1, 'tapvm2')):
            hv.vsctl('add-port', 'br-int', 'vxlan0', '--', 'set', 'Interface', 'vxlan0',
                     'type=vxlan', 'options:remote_ip=%s' % peer.tunnel_ip,
                     'options:key=flow')
            vm_port, vx_port = hv.ofport(vm_if), hv.ofport('vxlan0')
            hv.ofctl('add-flow', 'br-int', 'cookie=0x77,priority=100,in_port=%d,'
                     'actions=set_field:%d->tun_id,output:%d' % (vm_port, vni, vx_port))
            hv.ofctl('add-flow', 'br-int', 'cookie=0x77,priority=100,in_port=%d,tun_id=%d,'
                     'actions=output:%d' % (vx_port, vni, vm_port))

        check.wait_ping(vm1, '10.0.0.2')
        assert check.ping(vm2, '10.0.0.1')
        assert check.tcp_transfer(vm1, vm2, '10.0.0.2', nbytes=4 << 20), 'TCP data corrupted'
        assert check.iperf3(vm2, vm1, '10.0.0.1', seconds=2) > 10e6

        # The controller path: OVS -> unix socket in its run dir -> socat -> loopback TCP.
        _hello_through_relay(hv1)
        res = lab.resources()
        assert res['relay_pids']

        for hv in (hv1, hv2):
            hv.ofctl('del-flows', 'br-int', 'cookie=0x77/-1')
        assert 'cookie=0x77' not in hv1.ofctl('dump-flows', 'br-int')
        assert not check.ping(vm1, '10.0.0.2', count=2)
    assert_lab_gone(res, baseline)


def test_cleanup_after_exception_with_shared_subnet(baseline):
    """3 hypervisors: hv1 and hv3 share a subnet (kernel bridge segment); body raises."""
    with pytest.raises(RuntimeError, match='boom'):
        with start_lab(hypervisors=3, subnets=2, vms_per_hypervisor=1) as lab:
            assert lab['hv1'].tunnel_ip.rsplit('.', 1)[0] == \
                lab['hv3'].tunnel_ip.rsplit('.', 1)[0]
            check.install_hand_flows(lab)
            check.wait_ping(lab['vm1'], '10.0.0.3')      # same subnet
            check.wait_ping(lab['vm3'], '10.0.0.2')      # across the router
            lab['hv1'].set_controller('127.0.0.1:9')     # nobody listens: relay still runs
            res = lab.resources()
            raise RuntimeError('boom')
    assert_lab_gone(res, baseline)


def test_start_lab_refuses_bad_topology(baseline):
    with pytest.raises((ValueError, LabError)):
        with start_lab(hypervisors=0):
            pass
    assert set(glob.glob('/tmp/%s*' % TMP_PREFIX)) <= baseline['tmp']
