"""The chassis model (apps/chassis_model.py): tunnel port names, Chassis from OVSDB rows,
tunnel diffs.

Rows are written the way ``snapshot_tables`` copies them from the IDL (references as uuid
strings, optional columns as lists).
"""
import dataclasses

import pytest

from apps.chassis_model import Chassis, Interface, TunnelPlan, build_chassis, plan_tunnels
from tunnel.mesh import tunnel_port_name


# --- tunnel_port_name

def test_tunnel_port_name_encodes_ipv4_in_hex():
    assert tunnel_port_name('172.16.1.1') == 'qvxac100101'
    assert tunnel_port_name('10.0.0.255') == 'qvx0a0000ff'


@pytest.mark.parametrize('ip', ['0.0.0.0', '255.255.255.255', '2001:db8::1', 'fe80::1'])
def test_tunnel_port_name_fits_an_interface_name(ip):
    name = tunnel_port_name(ip)
    assert len(name) <= 15 and name.startswith('qvx') and name.isalnum()


def test_tunnel_port_name_is_stable_and_distinct():
    ips = ['172.16.%d.%d' % (a, b) for a in range(4) for b in range(1, 60)]
    names = [tunnel_port_name(ip) for ip in ips]
    assert names == [tunnel_port_name(ip) for ip in ips]
    assert len(set(names)) == len(ips)
    assert tunnel_port_name('2001:db8::1') != tunnel_port_name('2001:db8::2')


def test_tunnel_port_name_rejects_garbage():
    with pytest.raises(ValueError):
        tunnel_port_name('not-an-ip')


# --- build_chassis

def _tables(ovs_ext=None, bridges=(), ports=(), ifaces=()):
    return {
        'Open_vSwitch': {'o1': {'external_ids': dict(ovs_ext or {})}},
        'Bridge': {b['_uuid']: b for b in bridges},
        'Port': {p['_uuid']: p for p in ports},
        'Interface': {i['_uuid']: i for i in ifaces},
    }


def _iface(uuid, name, ofport=None, type='', options=None, ext=None):
    return {'_uuid': uuid, 'name': name, 'ofport': [] if ofport is None else [ofport],
            'type': type, 'options': dict(options or {}), 'external_ids': dict(ext or {})}


def _port(uuid, name, ifaces, ext=None):
    return {'_uuid': uuid, 'name': name, 'interfaces': list(ifaces),
            'external_ids': dict(ext or {})}


def _bridge(uuid, name, ports, dpid=None, other=None):
    return {'_uuid': uuid, 'name': name, 'ports': list(ports),
            'datapath_id': [dpid] if dpid else [], 'other_config': dict(other or {})}


def lab_like():
    """br-int with its internal port, a VM and a qnet tunnel; br-phy with the underlay."""
    return _tables(
        ovs_ext={'system-id': 'hv1', 'qnet-tunnel-ip': '172.16.1.1',
                 'ovn-encap-ip': '192.0.2.9'},
        bridges=[_bridge('b-int', 'br-int', ['p-int', 'p-vm', 'p-tun'], dpid='0000000000000001'),
                 _bridge('b-phy', 'br-phy', ['p-phy', 'p-eth'], dpid='00001a2b3c4d5e6f')],
        ports=[_port('p-int', 'br-int', ['i-int']), _port('p-vm', 'tapvm1', ['i-vm']),
               _port('p-tun', 'qvxac100201', ['i-tun'], ext={'qnet-tunnel': 'true'}),
               _port('p-phy', 'br-phy', ['i-phy']), _port('p-eth', 'hv1-eth0', ['i-eth'])],
        ifaces=[_iface('i-int', 'br-int', 65534, type='internal'),
                _iface('i-vm', 'tapvm1', 1, ext={'iface-id': 'port-a', 'iface-status': 'active'}),
                _iface('i-tun', 'qvxac100201', 2, type='vxlan',
                       options={'remote_ip': '172.16.2.1', 'key': 'flow'},
                       ext={'qnet-tunnel': 'true'}),
                _iface('i-phy', 'br-phy', 65534, type='internal'),
                _iface('i-eth', 'hv1-eth0', 1)])


def test_build_chassis_reads_identity_tunnel_ip_and_dpid():
    ch = build_chassis('hv1', lab_like())
    assert (ch.system_id, ch.tunnel_ip, ch.datapath_id, ch.connected) == \
        ('hv1', '172.16.1.1', 1, True)


def test_build_chassis_lists_only_integration_bridge_interfaces():
    ch = build_chassis('hv1', lab_like())
    assert set(ch.interfaces) == {'br-int', 'tapvm1', 'qvxac100201'}
    assert ch.interfaces['tapvm1'] == Interface('tapvm1', 1, 'port-a', '', None)
    assert ch.interfaces['qvxac100201'] == Interface(
        'qvxac100201', 2, None, 'vxlan', '172.16.2.1', key='flow', qnet_tunnel=True)
    assert ch.by_iface_id('port-a').ofport == 1
    assert ch.by_iface_id('nope') is None
    assert set(ch.tunnels) == {'qvxac100201'}


def test_build_chassis_other_bridge_name():
    ch = build_chassis('hv1', lab_like(), bridge='br-phy')
    assert set(ch.interfaces) == {'br-phy', 'hv1-eth0'} and ch.datapath_id == 0x1a2b3c4d5e6f


def test_tunnel_ip_falls_back_to_ovn_encap_ip():
    t = lab_like()
    del t['Open_vSwitch']['o1']['external_ids']['qnet-tunnel-ip']
    assert build_chassis('hv1', t).tunnel_ip == '192.0.2.9'
    t['Open_vSwitch']['o1']['external_ids'].clear()
    assert build_chassis('hv1', t).tunnel_ip is None


def test_unassigned_or_failed_ofport_is_none():
    t = lab_like()
    t['Interface']['i-vm']['ofport'] = []
    t['Interface']['i-tun']['ofport'] = [-1]
    ch = build_chassis('hv1', t)
    assert ch.interfaces['tapvm1'].ofport is None
    assert ch.interfaces['qvxac100201'].ofport is None


def test_scalar_columns_are_accepted_too():
    """os-ken event rows and hand-written rows may carry bare values for optional columns."""
    t = lab_like()
    t['Interface']['i-vm']['ofport'] = 7
    t['Bridge']['b-int']['datapath_id'] = '00000000000000ff'
    ch = build_chassis('hv1', t)
    assert ch.interfaces['tapvm1'].ofport == 7 and ch.datapath_id == 255


def test_datapath_id_before_vswitchd_uses_requested_id():
    t = lab_like()
    t['Bridge']['b-int']['datapath_id'] = []
    t['Bridge']['b-int']['other_config'] = {'datapath-id': '000000000000002a'}
    assert build_chassis('hv1', t).datapath_id == 42


def test_missing_bridge_or_dangling_references_are_tolerated():
    t = lab_like()
    del t['Bridge']['b-int']
    ch = build_chassis('hv1', t)
    assert ch.tunnel_ip == '172.16.1.1' and ch.datapath_id is None and ch.interfaces == {}
    t = lab_like()
    del t['Port']['p-vm']                   # update not in this snapshot yet
    del t['Interface']['i-tun']
    assert set(build_chassis('hv1', t).interfaces) == {'br-int'}
    assert build_chassis('hv1', {}) == Chassis('hv1')


def test_equal_rows_give_equal_chassis():
    """The monitor emits only when the snapshot differs; equality must be by value."""
    assert build_chassis('hv1', lab_like()) == build_chassis('hv1', lab_like())
    t = lab_like()
    t['Interface']['i-vm']['external_ids']['iface-id'] = 'port-b'
    assert build_chassis('hv1', t) != build_chassis('hv1', lab_like())
    ch = build_chassis('hv1', lab_like())
    assert dataclasses.replace(ch, connected=False) != ch


def test_qnet_mark_on_interface_only_counts():
    t = lab_like()
    t['Port']['p-tun']['external_ids'] = {}
    assert build_chassis('hv1', t).interfaces['qvxac100201'].qnet_tunnel
    t['Interface']['i-tun']['external_ids'] = {}
    assert not build_chassis('hv1', t).interfaces['qvxac100201'].qnet_tunnel


# --- plan_tunnels

def _tun(name, ip, qnet=True, type='vxlan', key='flow', ofport=5):
    return Interface(name, ofport, None, type, ip, key=key, qnet_tunnel=qnet)


def test_plan_adds_missing_and_removes_unwanted_qnet_tunnels_only():
    have = {'tapvm1': Interface('tapvm1', 1, 'port-a', '', None),
            'qvx-old': _tun('qvx-old', '172.16.9.9'),
            'gre0': _tun('gre0', '172.16.7.7', qnet=False, type='gre'),
            'qvxkeep': _tun('qvxkeep', '172.16.3.1')}
    plan = plan_tunnels(have, {'qvxkeep': '172.16.3.1', 'qvxnew': '172.16.4.1'})
    assert plan == TunnelPlan(add={'qvxnew': '172.16.4.1'}, update={},
                              remove=('qvx-old',), conflicts=())


def test_plan_is_empty_when_in_sync():
    have = {'qvxa': _tun('qvxa', '1.1.1.1'), 'tap': Interface('tap', 1, 'x', '', None)}
    plan = plan_tunnels(have, {'qvxa': '1.1.1.1'})
    assert plan.empty and plan == TunnelPlan({}, {}, (), ())


def test_plan_repairs_qnet_tunnel_with_wrong_settings_in_place():
    have = {'a': _tun('a', '1.1.1.1'), 'b': _tun('b', '2.2.2.2', key='5'),
            'c': _tun('c', '3.3.3.3', type='geneve')}
    plan = plan_tunnels(have, {'a': '1.1.1.9', 'b': '2.2.2.2', 'c': '3.3.3.3'})
    assert plan.update == {'a': '1.1.1.9', 'b': '2.2.2.2', 'c': '3.3.3.3'}
    assert not plan.add and not plan.remove


def test_plan_never_touches_foreign_port_with_a_wanted_name():
    have = {'qvxa': _tun('qvxa', '9.9.9.9', qnet=False)}
    plan = plan_tunnels(have, {'qvxa': '1.1.1.1'})
    assert plan == TunnelPlan({}, {}, (), ('qvxa',)) and plan.empty


def test_plan_from_built_chassis_round_trip():
    ch = build_chassis('hv1', lab_like())
    assert plan_tunnels(ch.interfaces, {'qvxac100201': '172.16.2.1'}).empty
    assert plan_tunnels(ch.interfaces, {}).remove == ('qvxac100201',)
    wanted = {tunnel_port_name(ip): ip for ip in ('172.16.2.1', '172.16.1.2')}
    assert plan_tunnels(ch.interfaces, wanted).add == {'qvxac100102': '172.16.1.2'}


def with_mapping(key='qnet-bridge-mappings', value='physnet1:br-ex', peer='patch-int'):
    """lab_like plus br-ex joined to br-int by a patch pair, and a bridge mapping."""
    t = lab_like()
    t['Open_vSwitch']['o1']['external_ids'][key] = value
    t['Bridge']['b-int']['ports'].append('p-patch')
    t['Bridge']['b-ex'] = _bridge('b-ex', 'br-ex', ['p-peer'])
    t['Port'].update({'p-patch': _port('p-patch', 'patch-ex', ['i-patch']),
                      'p-peer': _port('p-peer', 'patch-int', ['i-peer'])})
    t['Interface'].update({
        'i-patch': _iface('i-patch', 'patch-ex', 7, type='patch', options={'peer': peer}),
        'i-peer': _iface('i-peer', 'patch-int', 1, type='patch',
                         options={'peer': 'patch-ex'})})
    return t


@pytest.mark.parametrize('key', ['qnet-bridge-mappings', 'ovn-bridge-mappings'])
def test_bridge_mapping_names_the_patch_port_to_the_mapped_bridge(key):
    assert build_chassis('hv1', with_mapping(key)).physical == {'physnet1': 7}


@pytest.mark.parametrize('value,peer', [('physnet1:br-nope', 'patch-int'),
                                        ('physnet1:br-ex', 'elsewhere'),
                                        ('garbage', 'patch-int')])
def test_a_mapping_without_a_patch_pair_to_its_bridge_reaches_nothing(value, peer):
    assert build_chassis('hv1', with_mapping(value=value, peer=peer)).physical == {}
    assert build_chassis('hv1', lab_like()).physical == {}
