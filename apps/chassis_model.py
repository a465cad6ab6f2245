"""The chassis model: what the controller knows of a hypervisor from its OVSDB, as values.

Each hypervisor's OVSDB says which hypervisor a datapath is, its tunnel address and which
logical port each VM interface carries (the Neutron/OVN conventions):

  Open_vSwitch  external_ids:system-id        the chassis name
                external_ids:qnet-tunnel-ip    its underlay/tunnel address (or ovn-encap-ip)
  Bridge        br-int                        the integration bridge and its datapath_id
                external_ids:qnet-bridge-mappings  physnet:bridge,... (or ovn-bridge-mappings):
                                              the bridge reaching each physical network,
                                              joined to br-int by a pair of patch ports
  Interface     external_ids:iface-id         the logical port (its id, or its attachment) a
                                              VM port carries
                external_ids:qnet-project-id  the project the VM was started for (an
                                              attachment binds only with it: docs/security.md)

Pure functions only, unit-tested without any switch: ``snapshot_tables`` copies an OVSDB
replica into plain dicts, ``build_chassis`` turns such dicts into a ``Chassis``, and
``plan_tunnels`` diffs a chassis' tunnel ports against the wanted ones (port names come from
tunnel/mesh.py), and ``chassis_problems`` says what keeps a chassis from carrying traffic
(no tunnel address, no or a wrongly set up br-int, a channel not connected). Plain dicts in, dataclasses out; apps/chassis.py feeds them from OVSDB
(apps/ovsdb_manager.py) and writes what ``plan_tunnels`` says.
"""

import dataclasses

from controller.binding import PROJECT_KEY

TUNNEL_IP_KEYS = ('qnet-tunnel-ip', 'ovn-encap-ip')   # Open_vSwitch external_ids, in order
#: "physnet:bridge,physnet2:bridge2": which bridge reaches each physical network (OVN's key too)
BRIDGE_MAPPINGS_KEYS = ('qnet-bridge-mappings', 'ovn-bridge-mappings')
QNET_TUNNEL_KEY = 'qnet-tunnel'                       # external_ids marking ports we own
TUNNEL_TYPE = 'vxlan'
TUNNEL_KEY = 'flow'          # VNI set per packet by flows (set_field tun_id)
OPENFLOW_VERSION = 'OpenFlow13'    # what the controller speaks (an empty protocols allows it)
COLUMNS = {                  # what build_chassis / plan_tunnels read: all that is replicated
    'Open_vSwitch': ('external_ids',),
    'Bridge': ('name', 'datapath_id', 'other_config', 'ports', 'protocols', 'fail_mode'),
    'Port': ('name', 'interfaces', 'external_ids'),
    'Interface': ('name', 'ofport', 'type', 'options', 'external_ids'),
}


@dataclasses.dataclass(frozen=True)
class Interface:
    """One OVSDB Interface on the integration bridge, reduced to what the controller uses.

    ofport is None until ovs-vswitchd has assigned one (or if it failed: OVSDB says -1).
    remote_ip, local_ip and key are the tunnel options (None for non-tunnel interfaces);
    qnet_tunnel says the port carries external_ids:qnet-tunnel=true, i.e. ``ensure_tunnels``
    owns it.
    """
    name: str
    ofport: int | None
    iface_id: str | None
    type: str
    remote_ip: str | None
    key: str | None = None
    qnet_tunnel: bool = False
    local_ip: str | None = None
    #: external_ids:qnet-project-id: the project the VM was started for; an attachment
    #: iface-id binds only with it (controller/binding.py)
    project_id: str | None = None


@dataclasses.dataclass
class Chassis:
    """A hypervisor as its OVSDB describes it; equal snapshots mean nothing changed.

    ``bridge_missing``: its OVSDB has no integration bridge; ``protocols`` and ``fail_mode``
    are that bridge's columns (empty / None: OVS's defaults).
    """
    system_id: str
    tunnel_ip: str | None = None
    datapath_id: int | None = None
    interfaces: dict = dataclasses.field(default_factory=dict)   # name -> Interface
    connected: bool = True
    bridge_missing: bool = False
    protocols: tuple = ()
    fail_mode: str | None = None
    #: physical network -> ofport on br-int of the patch port to its mapped bridge
    physical: dict = dataclasses.field(default_factory=dict)

    def by_iface_id(self, iface_id):
        """The interface bound to logical port ``iface_id`` (None if not plugged here)."""
        return next((i for i in self.interfaces.values() if i.iface_id == iface_id), None)

    @property
    def tunnels(self):
        """name -> Interface of the tunnel ports qnet manages on this chassis."""
        return {n: i for n, i in self.interfaces.items() if i.qnet_tunnel}


@dataclasses.dataclass(frozen=True)
class TunnelPlan:
    """What ``ensure_tunnels`` must do (and, once it returns, did) on one chassis."""
    add: dict            # name -> remote_ip: new qnet tunnel ports
    update: dict         # name -> remote_ip: qnet tunnel ports with wrong type/options
    remove: tuple        # names of qnet tunnel ports nobody wants any more
    conflicts: tuple     # wanted names held by ports qnet does not own: left alone

    @property
    def empty(self):
        return not (self.add or self.update or self.remove)


def _scalar(value):
    """OVSDB optional columns come as [] / [x] from the IDL; accept a bare x as well."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _parse_dpid(value):
    if not value:
        return None
    try:
        return int(str(value), 16)
    except ValueError:
        return None


def _uuid(value):
    return str(value) if value is not None else None


def build_chassis(system_id, tables, bridge='br-int', connected=True):
    """Chassis from OVSDB rows: ``tables`` maps table name -> {uuid: row dict}.

    Rows are column -> value as ``snapshot_tables`` gives them (references as uuid
    strings, optional columns as lists). Only interfaces of ports on
    ``bridge`` are listed: other bridges (br-phy, the underlay) are not the controller's.
    """
    ovs_rows = list(tables.get('Open_vSwitch', {}).values())
    ext = dict(ovs_rows[0].get('external_ids') or {}) if ovs_rows else {}
    tunnel_ip = next((ext[k] for k in TUNNEL_IP_KEYS if ext.get(k)), None)

    br = next((r for r in tables.get('Bridge', {}).values() if r.get('name') == bridge), None)
    chassis = Chassis(system_id=system_id, tunnel_ip=tunnel_ip, connected=connected,
                      bridge_missing=br is None and 'Bridge' in tables)
    if br is None:
        return chassis
    chassis.protocols = tuple(sorted(br.get('protocols') or ()))
    chassis.fail_mode = _scalar(br.get('fail_mode'))
    # datapath_id is written by ovs-vswitchd; before it runs, the requested id is all we have.
    chassis.datapath_id = (_parse_dpid(_scalar(br.get('datapath_id')))
                           or _parse_dpid((br.get('other_config') or {}).get('datapath-id')))
    ports = tables.get('Port', {})
    ifaces = tables.get('Interface', {})
    chassis.physical = physical_ports(tables, br, parse_mappings(ext))
    for port_uuid in br.get('ports') or ():
        port = ports.get(_uuid(port_uuid))
        if port is None:
            continue          # reference to a row not (yet) in this snapshot
        port_owned = (port.get('external_ids') or {}).get(QNET_TUNNEL_KEY) == 'true'
        for iface_uuid in port.get('interfaces') or ():
            row = ifaces.get(_uuid(iface_uuid))
            if row is None:
                continue
            chassis.interfaces[row['name']] = _interface(row, port_owned)
    return chassis


def parse_mappings(external_ids):
    """{physical network: bridge name} of a ``physnet:bridge,...`` bridge mappings value."""
    raw = next((external_ids[k] for k in BRIDGE_MAPPINGS_KEYS if external_ids.get(k)), '')
    pairs = (item.split(':', 1) for item in raw.split(',') if ':' in item)
    return {net.strip(): bridge.strip() for net, bridge in pairs if net.strip() and bridge.strip()}


def _bridge_interfaces(tables, bridge_row):
    """The Interface rows of a bridge's ports."""
    ports, ifaces = tables.get('Port', {}), tables.get('Interface', {})
    for port_uuid in bridge_row.get('ports') or ():
        port = ports.get(_uuid(port_uuid)) or {}
        for iface_uuid in port.get('interfaces') or ():
            row = ifaces.get(_uuid(iface_uuid))
            if row is not None:
                yield row


def physical_ports(tables, integration, mappings):
    """{physical network: ofport} of the patch ports on the integration bridge whose peer is
    on the bridge the network is mapped to (a mapping without such a pair is left out)."""
    bridges = {r.get('name'): r for r in tables.get('Bridge', {}).values()}
    out = {}
    for physnet, bridge in sorted(mappings.items()):
        mapped = bridges.get(bridge)
        if mapped is None:
            continue
        names = {row['name'] for row in _bridge_interfaces(tables, mapped)}
        for row in _bridge_interfaces(tables, integration):
            ofport = _scalar(row.get('ofport'))
            if row.get('type') == 'patch' and (row.get('options') or {}).get('peer') in names \
                    and isinstance(ofport, int) and ofport > 0:
                out[physnet] = ofport
                break
    return out


def _interface(row, port_owned=False):
    ext = row.get('external_ids') or {}
    opts = row.get('options') or {}
    ofport = _scalar(row.get('ofport'))
    return Interface(
        name=row['name'],
        ofport=ofport if isinstance(ofport, int) and ofport > 0 else None,
        iface_id=ext.get('iface-id') or None,
        type=row.get('type') or '',
        remote_ip=opts.get('remote_ip'),
        key=opts.get('key'),
        qnet_tunnel=port_owned or ext.get(QNET_TUNNEL_KEY) == 'true',
        local_ip=opts.get('local_ip'),
        project_id=ext.get(PROJECT_KEY) or None)


def plan_tunnels(interfaces, wanted, local_ip=None):
    """Diff the tunnel ports on a bridge against ``wanted`` (port name -> remote_ip), all
    sourced from ``local_ip`` (the chassis' tunnel address: options:local_ip, so that a
    multi-homed host sends from the address its peers expect).

    ``interfaces`` is ``Chassis.interfaces``. Only ports marked qnet-tunnel are ever
    updated or removed, so hand-made ports, VM ports and other agents' tunnels survive; a
    wanted name already used by such a port is reported as a conflict and left alone.
    """
    add, update, conflicts = {}, {}, []
    for name, ip in sorted(wanted.items()):
        have = interfaces.get(name)
        if have is None:
            add[name] = ip
        elif not have.qnet_tunnel:
            conflicts.append(name)
        elif (have.type, have.remote_ip, have.key, have.local_ip) != (
                TUNNEL_TYPE, ip, TUNNEL_KEY, local_ip):
            update[name] = ip
    remove = tuple(sorted(n for n, i in interfaces.items() if i.qnet_tunnel and n not in wanted))
    return TunnelPlan(add=add, update=update, remove=remove, conflicts=tuple(conflicts))


@dataclasses.dataclass(frozen=True)
class Problem:
    """Something that keeps a chassis from working as qnet needs; ``ports_down``: its
    ports cannot carry all their traffic, so they must not show ACTIVE."""
    code: str
    message: str
    ports_down: bool = True


def chassis_problems(chassis, openflow_connected=True):
    """What is wrong with ``chassis`` (a tuple of Problem, empty when it is healthy).

    ``openflow_connected``: whether its br-int's OpenFlow channel is up (only the
    controller knows). Each message says what to run on the hypervisor
    (``qnet-manage hypervisor add`` prints the whole recipe).
    """
    found = []
    # Chassis-like stand-ins (tests, simulations) may lack the bridge fields: OVS defaults.
    bridge_missing = getattr(chassis, 'bridge_missing', False)
    protocols = getattr(chassis, 'protocols', ())
    fail_mode = getattr(chassis, 'fail_mode', 'secure')
    if not getattr(chassis, 'connected', True):
        found.append(Problem('manager-disconnected', 'OVSDB manager connection lost '
                             '(ovs-vsctl set-manager; ovsdb-server needs the remote '
                             'db:Open_vSwitch,Open_vSwitch,manager_options)'))
    if not chassis.tunnel_ip:
        found.append(Problem('no-tunnel-ip', 'no tunnel address: ports cannot reach other '
                             'hypervisors (ovs-vsctl set Open_vSwitch . '
                             'external_ids:qnet-tunnel-ip=ADDRESS)'))
    if bridge_missing:
        found.append(Problem('no-bridge', 'no integration bridge br-int '
                             '(qnet-manage hypervisor add prints how to make it)'))
    elif protocols and OPENFLOW_VERSION not in protocols:
        found.append(Problem('wrong-protocols', 'br-int does not allow %s (protocols=%s)'
                             % (OPENFLOW_VERSION, ','.join(protocols))))
    elif not openflow_connected:
        found.append(Problem('controller-disconnected', 'br-int is not connected to the '
                             'OpenFlow controller (ovs-vsctl set-controller br-int ...)'))
    if not bridge_missing and fail_mode != 'secure':
        found.append(Problem('fail-mode', 'br-int fail_mode is %s, not secure: without the '
                             'controller it would forward between networks'
                             % (fail_mode or 'standalone (the default)'),
                             ports_down=False))
    return tuple(found)


def snapshot_tables(tables):
    """Plain-dict copy of the ``COLUMNS`` of an OVSDB IDL replica (``Idl.tables``), in the
    shape ``build_chassis`` reads: {table: {uuid string: {column: value}}}.

    Callers then never hold IDL rows, which change under them as updates arrive. References
    become uuid strings; optional columns stay lists, as the IDL gives them.
    """
    out = {}
    for name, columns in COLUMNS.items():
        table = tables.get(name)
        out[name] = {} if table is None else {
            str(row.uuid): {c: _plain(getattr(row, c)) for c in columns}
            for row in table.rows.values()}
    return out


def _plain(value):
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, 'uuid'):          # a referenced IDL row
        return str(value.uuid)
    return value
