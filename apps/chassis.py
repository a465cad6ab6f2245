"""Chassis inventory and VXLAN tunnel ports, over OVSDB (os-ken's OVSDB manager app).

Why this app exists: the OpenFlow side sees datapaths and port numbers, but not *which
hypervisor* a datapath is, its tunnel address, nor which logical port a VM interface is
bound to. Those live in each hypervisor's OVSDB (the Neutron/OVN conventions):

  Open_vSwitch  external_ids:system-id        the chassis name (os-ken keys connections by it)
                external_ids:qnet-tunnel-ip    its underlay/tunnel address (or ovn-encap-ip)
  Bridge        br-int                        the integration bridge and its datapath_id
  Interface     external_ids:iface-id         the logical port (attachment) a VM port carries

Every hypervisor's ovsdb-server connects *in* to os-ken's manager (``ovs-vsctl set-manager
tcp:<controller>:6640``), so the controller needs no list of hypervisors.

Layout: pure functions first (``build_chassis``, ``plan_tunnels``; tunnel names come from tunnel/mesh.py:
plain dicts in, dataclasses out, unit-tested without any switch), then the os-ken app that
feeds them from OVSDB and writes tunnel ports, then a compatibility shim for os-ken 4.2.2's
OVSDB client, which does not work with any current ``ovs`` Python library by itself.
"""

import collections
import dataclasses
import logging
import socket

from ovs import poller as ovs_poller
from ovs import stream as ovs_stream
from ovs import timeval as ovs_timeval
from ovs.db import idl as ovs_idl
from oslo_config import cfg as oslo_cfg

from os_ken import cfg
from os_ken.base import app_manager
from os_ken.controller import event as os_ken_event
from os_ken.controller import handler
from os_ken.controller.handler import set_ev_cls
from os_ken.lib import hub
from os_ken.services.protocols.ovsdb import client as ovsdb_client
from os_ken.services.protocols.ovsdb import event as ovsdb_event
from os_ken.services.protocols.ovsdb import manager as ovsdb_manager
from os_ken.services.protocols.ovsdb import model as ovsdb_model

app_manager.require_app('os_ken.services.protocols.ovsdb.manager')

LOG = logging.getLogger(__name__)

TUNNEL_IP_KEYS = ('qnet-tunnel-ip', 'ovn-encap-ip')   # Open_vSwitch external_ids, in order
QNET_TUNNEL_KEY = 'qnet-tunnel'                       # external_ids marking ports we own
TUNNEL_TYPE = 'vxlan'
TUNNEL_KEY = 'flow'          # VNI set per packet by flows (set_field tun_id)
COLUMNS = {                  # what build_chassis / plan_tunnels read; snapshots copy no more
    'Open_vSwitch': ('external_ids',),
    'Bridge': ('name', 'datapath_id', 'other_config', 'ports'),
    'Port': ('name', 'interfaces', 'external_ids'),
    'Interface': ('name', 'ofport', 'type', 'options', 'external_ids'),
}

# os-ken registers its [ovsdb] options for configuration files only, so the
# "--ovsdb-address/--ovsdb-port" arguments qnet passes (like --ofp-tcp-listen-port) would be
# rejected by cfg.CONF(args=...). Expose those two on the command line as well; this must
# happen before parsing, which importing this module (AppManager.load_apps) does.
try:
    cfg.CONF.register_cli_opts([o for o in ovsdb_manager.opts if o.dest in ('address', 'port')],
                               'ovsdb')
except oslo_cfg.ArgsAlreadyParsedError:     # imported late: use set_override instead
    pass

cfg.CONF.register_opts([
    cfg.StrOpt('integration-bridge', default='br-int',
               help='Bridge whose interfaces and tunnel ports qnet manages'),
    cfg.FloatOpt('request-timeout', default=10.0,
                 help='Seconds to wait for an OVSDB read or transaction'),
], group='chassis')


# --- pure model ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Interface:
    """One OVSDB Interface on the integration bridge, reduced to what the controller uses.

    ofport is None until ovs-vswitchd has assigned one (or if it failed: OVSDB says -1).
    remote_ip and key are the tunnel options (None for non-tunnel interfaces); qnet_tunnel
    says the port carries external_ids:qnet-tunnel=true, i.e. ``ensure_tunnels`` owns it.
    """
    name: str
    ofport: int | None
    iface_id: str | None
    type: str
    remote_ip: str | None
    key: str | None = None
    qnet_tunnel: bool = False


@dataclasses.dataclass
class Chassis:
    """A hypervisor as its OVSDB describes it; equal snapshots mean nothing changed."""
    system_id: str
    tunnel_ip: str | None = None
    datapath_id: int | None = None
    interfaces: dict = dataclasses.field(default_factory=dict)   # name -> Interface
    connected: bool = True

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

    Rows are column -> value as os-ken's event rows or ``snapshot_tables`` give them
    (references as uuid strings, optional columns as lists). Only interfaces of ports on
    ``bridge`` are listed: other bridges (br-phy, the underlay) are not the controller's.
    """
    ovs_rows = list(tables.get('Open_vSwitch', {}).values())
    ext = dict(ovs_rows[0].get('external_ids') or {}) if ovs_rows else {}
    tunnel_ip = next((ext[k] for k in TUNNEL_IP_KEYS if ext.get(k)), None)

    br = next((r for r in tables.get('Bridge', {}).values() if r.get('name') == bridge), None)
    chassis = Chassis(system_id=system_id, tunnel_ip=tunnel_ip, connected=connected)
    if br is None:
        return chassis
    # datapath_id is written by ovs-vswitchd; before it runs, the requested id is all we have.
    chassis.datapath_id = (_parse_dpid(_scalar(br.get('datapath_id')))
                           or _parse_dpid((br.get('other_config') or {}).get('datapath-id')))
    ports = tables.get('Port', {})
    ifaces = tables.get('Interface', {})
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
        qnet_tunnel=port_owned or ext.get(QNET_TUNNEL_KEY) == 'true')


def plan_tunnels(interfaces, wanted):
    """Diff the tunnel ports on a bridge against ``wanted`` (port name -> remote_ip).

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
        elif (have.type, have.remote_ip, have.key) != (TUNNEL_TYPE, ip, TUNNEL_KEY):
            update[name] = ip
    remove = tuple(sorted(n for n, i in interfaces.items() if i.qnet_tunnel and n not in wanted))
    return TunnelPlan(add=add, update=update, remove=remove, conflicts=tuple(conflicts))


# --- os-ken app ------------------------------------------------------------------------

class EventChassisChanged(os_ken_event.EventBase):
    """A chassis connected, changed (interfaces, ofports, tunnel ip, datapath) or lost
    its OVSDB connection (``chassis.connected`` False; its last known state is kept).

    ``chassis`` is a fresh ``Chassis`` snapshot, never mutated afterwards. Chassis are
    never forgotten: a reconnect (same system-id) emits connected=True again.
    """

    def __init__(self, chassis):
        super().__init__()
        self.chassis = chassis

    def __str__(self):
        return 'EventChassisChanged<%s connected=%s>' % (self.chassis.system_id,
                                                         self.chassis.connected)


class EventOVSDBDisconnected(os_ken_event.EventBase):
    """The OVSDB connection of ``client`` (for ``system_id``) was lost.

    os-ken's own OVSDB client never says so; the compatible client below does.
    """

    def __init__(self, system_id, client):
        super().__init__()
        self.system_id = system_id
        self.client = client


class ChassisError(RuntimeError):
    """An OVSDB read or transaction for a chassis failed or timed out."""


class ChassisMonitor(app_manager.OSKenApp):
    """Keeps ``self.chassis`` (system_id -> Chassis) current and writes tunnel ports.

    Row events only mark a chassis dirty; one worker greenthread then re-reads that chassis
    from os-ken's OVSDB replica and emits ``EventChassisChanged`` only when the snapshot
    differs. So a burst of row events (the initial dump is dozens) costs one read, and
    listeners see neither duplicates nor half-applied transactions.
    """

    _EVENTS = [EventChassisChanged]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.chassis = {}                # system_id -> Chassis (latest emitted snapshot)
        self.bridge = self.CONF.chassis.integration_bridge
        self.timeout = self.CONF.chassis.request_timeout
        self._clients = {}               # system_id -> os-ken RemoteOvsdb app
        self._dirty = set()              # system_ids to re-read
        self._lost = {}                  # system_id -> client whose connection ended
        self._wake = hub.Event()

    def start(self):
        super().start()
        self.threads.append(hub.spawn(self._worker))

    def stop(self):
        self.is_active = False
        self._wake.set()
        super().stop()

    # event intake: cheap, never blocks

    @set_ev_cls(ovsdb_event.EventNewOVSDBConnection)
    def _connected_ev(self, ev):
        LOG.info('chassis %s connected from %s', ev.system_id, ev.client.address)
        self._clients[ev.system_id] = ev.client
        self._lost.pop(ev.system_id, None)
        self._mark(ev.system_id)

    @set_ev_cls(EventOVSDBDisconnected)
    def _disconnected_ev(self, ev):
        if self._clients.get(ev.system_id) is ev.client:   # not an already replaced one
            self._lost[ev.system_id] = ev.client
            self._wake.set()

    @set_ev_cls([ovsdb_event.EventRowInsert, ovsdb_event.EventRowDelete])
    def _row_ev(self, ev):
        if ev.table in COLUMNS:
            self._mark(ev.system_id)

    @set_ev_cls(ovsdb_event.EventRowUpdate)
    def _row_update_ev(self, ev):
        # ovs-vswitchd rewrites Interface statistics/status every few seconds: skip updates
        # of columns build_chassis does not read.
        columns = COLUMNS.get(ev.table, ())
        if any(ev.old.get(c) != ev.new.get(c) for c in columns):
            self._mark(ev.system_id)

    def _mark(self, system_id):
        self._dirty.add(system_id)
        self._wake.set()

    # worker: the only place that reads OVSDB and emits

    def _worker(self):
        while True:
            self._wake.wait()
            self._wake.clear()
            if not self.is_active:
                return
            lost, self._lost = self._lost, {}
            for system_id, client in lost.items():
                ch = self.chassis.get(system_id)
                if ch is not None and self._clients.get(system_id) is client:
                    LOG.info('chassis %s disconnected', system_id)
                    self._publish(dataclasses.replace(ch, connected=False))
            dirty, self._dirty = self._dirty, set()
            for system_id in sorted(dirty):
                try:
                    self._refresh(system_id)
                except Exception:     # keep the worker alive; the next change retries
                    LOG.exception('refreshing chassis %s failed', system_id)

    def _refresh(self, system_id):
        client = self._clients.get(system_id)
        if client is None or not getattr(client, 'connected', client.is_active):
            return
        reply = self._request(ovsdb_event.EventReadRequest(system_id, snapshot_tables))
        if reply.err_msg:
            raise ChassisError('%s: %s' % (system_id, reply.err_msg))
        self._publish(build_chassis(system_id, reply.result, self.bridge))

    def _publish(self, chassis):
        if self.chassis.get(chassis.system_id) != chassis:
            self.chassis[chassis.system_id] = chassis
            self.send_event_to_observers(EventChassisChanged(chassis))

    def _request(self, req, timeout=None):
        """``send_request`` with a timeout: a wedged OVSDB client must not hang callers."""
        timeout = timeout or self.timeout
        req.sync = True
        req.reply_q = hub.Queue()
        self.send_event(req.dst, req)
        try:
            return req.reply_q.get(timeout=timeout)
        except hub.QueueEmpty:
            raise ChassisError('%s: no OVSDB reply within %ss' % (req.system_id, timeout))

    # tunnels

    def ensure_tunnels(self, system_id, wanted, timeout=None):
        """Make the qnet VXLAN ports on the chassis' integration bridge exactly ``wanted``.

        ``wanted`` maps port name (see ``tunnel.mesh.tunnel_port_name``) -> remote_ip. Missing ports
        are added (type=vxlan, options:remote_ip, options:key=flow, external_ids:
        qnet-tunnel=true on Port and Interface), qnet ports with other settings are fixed
        in place (their ofport survives), unwanted qnet ports are removed, and nothing
        else is touched. One OVSDB transaction, planned from the replica at commit time;
        ports are added/removed by mutation, so a concurrent ``ovs-vsctl add-port`` is never
        overwritten. Idempotent: when nothing differs, nothing is written.

        Blocks the calling greenthread until ovsdb-server answers (never call it from
        os-ken's OVSDB apps themselves). Returns the TunnelPlan it applied; raises
        ChassisError if the chassis is unknown or disconnected, on error, or on timeout.
        The new ports' ofports arrive later, with EventChassisChanged.
        """
        wanted = {str(k): str(v) for k, v in wanted.items()}
        for attempt in range(3):
            result = {}
            reply = self._request(ovsdb_event.EventModifyRequest(
                system_id, _tunnel_txn(self.bridge, wanted, result)), timeout)
            if 'error' in result:
                raise ChassisError('%s: %s' % (system_id, result['error']))
            if reply.status == ovs_idl.Transaction.TRY_AGAIN:
                hub.sleep(0.05 * (attempt + 1))
                continue
            if reply.status not in (ovs_idl.Transaction.SUCCESS,
                                    ovs_idl.Transaction.UNCHANGED):
                raise ChassisError('%s: tunnel transaction %s: %s'
                                   % (system_id, reply.status, reply.err_msg))
            plan = result['plan']
            if plan.conflicts:
                LOG.warning('%s: tunnel names used by non-qnet ports, left alone: %s',
                            system_id, ', '.join(plan.conflicts))
            return plan
        raise ChassisError('%s: tunnel transaction kept conflicting' % system_id)


def snapshot_tables(tables):
    """Plain-dict copy of the rows ``build_chassis`` reads, from an IDL ``tables`` dict.

    Runs inside os-ken's OVSDB app (EventReadRequest), so callers never hold IDL rows,
    which change under them as updates arrive.
    """
    out = {}
    for name, columns in COLUMNS.items():
        table = tables.get(name)
        out[name] = {} if table is None else {
            str(row.uuid): _row_dict(row, columns) for row in table.rows.values()}
    return out


def _row_dict(row, columns=None):
    data = {}
    for col, datum in row._data.items():
        if columns is None or col in columns:
            data[col] = datum.to_python(_ref_to_str)
    return data


def _ref_to_str(atom, base):
    # References become uuid strings (os-ken's own converter looks rows up on the schema
    # table, which newer ovs keeps apart from the IDL's rows, and fails).
    return str(atom) if base.ref_table else atom


def _tunnel_txn(bridge_name, wanted, result):
    """The EventModifyRequest function of ``ensure_tunnels``; reports through ``result``.

    Runs in the chassis' OVSDB client with its live replica, so the plan is made from the
    rows the transaction is checked against. Errors abort the transaction and go back to
    the caller (an exception escaping a modify function would kill os-ken's own client).
    """
    def modify(tables, insert):
        try:
            snap = snapshot_tables(tables)
            br = next((r for r in tables['Bridge'].rows.values() if r.name == bridge_name), None)
            if br is None:
                raise ChassisError('no bridge %s' % bridge_name)
            plan = plan_tunnels(build_chassis('', snap, bridge_name).interfaces, wanted)
            ports = {p.name: p for p in br.ports}
            for name, ip in plan.add.items():
                iface = insert(tables['Interface'])
                iface.name = name
                _set_tunnel(iface, ip)
                port = insert(tables['Port'])
                port.name = name
                port.interfaces = [iface]
                port.external_ids = {QNET_TUNNEL_KEY: 'true'}
                br.addvalue('ports', port)
            for name, ip in plan.update.items():
                for iface in ports[name].interfaces:
                    _set_tunnel(iface, ip)
            for name in plan.remove:
                br.delvalue('ports', ports[name])   # OVSDB garbage-collects Port/Interface
            result['plan'] = plan
        except Exception as e:
            LOG.exception('tunnel transaction on %s failed', bridge_name)
            result['error'] = e
            insert.__self__.abort()
    return modify


def _set_tunnel(iface, remote_ip):
    iface.type = TUNNEL_TYPE
    iface.options = {'remote_ip': remote_ip, 'key': TUNNEL_KEY}
    iface.external_ids = {QNET_TUNNEL_KEY: 'true'}


# --- compatibility: os-ken 4.2.2's OVSDB client with ovs >= 2.10 and eventlet -----------
#
# os-ken's OVSDB manager app (listener, whitelist, SSL, events, Read/Modify requests) is
# used as is; only its per-connection client is replaced, because as shipped it cannot
# serve a single ovsdb-server with Debian's python3-openvswitch 3.1:
#   1. client.Idl skips ovs.db.idl.Idl.__init__ and hooks a private method newer ovs no
#      longer calls: the first run() raises AttributeError '_request_id', so no chassis
#      ever connects (faucetsdn/ryu#146, open since 2021).
#   2. Its socket is blocking: Idl.run() waits inside recv() until ovsdb-server sends
#      something, so queued transactions sit until the next 5 s inactivity probe; and
#      discovery waits for that probe too.
#   3. RemoteOvsdb.stop() joins its own event loop before telling it to stop, so when a
#      chassis reconnects (factory uninstantiates the old client) the accept greenthread
#      hangs and the new connection is never served.
#   4. A lost connection is never reported, and its loop then spins on a dead session;
#      its Stream is built as "disconnected", so every poll wakes at once (a busy loop).
#   5. An exception in a modify function kills the client; row events wait for a 0.1 s
#      polling loop.
# Everything below keeps os-ken's interfaces (factory, events, EventModifyRequest,
# EventReadRequest); drop it once os-ken's own client works with the ovs library in use.

class _CompatIdl(ovs_idl.Idl):
    """os-ken's constructor (accepted session + schema JSON) and ``events`` buffer on top
    of a properly initialised ovs Idl, fed by ovs's public ``notify()`` hook."""

    def __init__(self, session, schema):
        if not isinstance(schema, ovs_idl.SchemaHelper):
            schema = ovs_idl.SchemaHelper(schema_json=schema)
            schema.register_all()
        # The base class opens a session of its own; it never connects (run() is never
        # called on it) and is replaced at once by the accepted connection.
        super().__init__('unix:/nonexistent', schema)
        self._session.close()
        self._session = session
        self._events = []

    @property
    def events(self):
        events, self._events = self._events, []
        return events

    def notify(self, event, row, updates=None):
        table = row._table.name
        new = ovsdb_model.Row(_row_dict(row))
        new['_uuid'] = row.uuid
        if event == ovs_idl.ROW_CREATE:
            self._events.append((ovsdb_event.EventRowInsert, (table, new)))
        elif event == ovs_idl.ROW_DELETE:
            self._events.append((ovsdb_event.EventRowDelete, (table, new)))
        else:
            old = ovsdb_model.Row(new)
            if updates is not None:
                old.update(_row_dict(updates))
            self._events.append((ovsdb_event.EventRowUpdate, (table, old, new)))


def _wait(idl, *fds, timeout_ms=None):
    """Sleep (cooperatively under eventlet) until ``idl`` has work or an fd is readable."""
    poller = ovs_poller.Poller()
    idl.wait(poller)
    for fd in fds:
        poller.fd_wait(fd, ovs_poller.POLLIN)
    if timeout_ms is not None:
        poller.timer_wait(timeout_ms)
    poller.block()


def _discover_system_id(idl, timeout=10.0):
    """Replacement for client.discover_system_id: non-blocking socket, bounded wait.

    Returns None if the Open_vSwitch row has no external_ids:system-id within
    ``timeout``; the manager then drops the connection and ovsdb-server redials later.
    """
    stream = idl._session.rpc.stream
    stream.socket.setblocking(False)
    # os-ken builds the Stream with status None, i.e. "disconnected" (reads still work),
    # which turns every wait() on it into an immediate wake-up: a busy loop. It is connected.
    stream.state = ovs_stream.Stream._Stream__S_CONNECTED
    deadline = ovs_timeval.msec() + timeout * 1000
    while idl._session.is_connected() and ovs_timeval.msec() < deadline:
        idl.run()
        for row in idl.tables['Open_vSwitch'].rows.values():
            if row.external_ids.get('system-id'):
                return row.external_ids['system-id']
        _wait(idl, timeout_ms=max(1, int(deadline - ovs_timeval.msec())))
    return None


class _CompatRemoteOvsdb(ovsdb_client.RemoteOvsdb):
    """One greenthread per connection: run the IDL, deliver its row events at once, run
    queued transactions, sleep until the socket or a new request wakes it; report
    EventOVSDBDisconnected when the session ends."""

    _EVENTS = ovsdb_client.RemoteOvsdb._EVENTS + [EventOVSDBDisconnected]

    def __init__(self, *args, **kwargs):
        # Not super().__init__: os-ken's methods call super(RemoteOvsdb, self), and the
        # module name RemoteOvsdb is this class once installed (infinite recursion).
        app_manager.OSKenApp.__init__(self, *args, **kwargs)
        self.socket = kwargs['socket']
        self.address = kwargs['address']
        self._idl = kwargs['idl']
        self.system_id = kwargs['system_id']
        self.name = kwargs['name']
        self._txn_q = collections.deque()
        self.connected = True
        # Wakes _idl_loop when a transaction is queued. A socketpair, not a pipe: eventlet's
        # green os.read waits on EAGAIN instead of raising, a non-blocking socket raises.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    @classmethod
    def instance_name(cls, system_id):
        return 'RemoteOvsdb-%s' % system_id        # os-ken's name for the same client

    def start(self):
        app_manager.OSKenApp.start(self)      # its event loop; not the 0.1 s proxy loop
        self.threads.append(hub.spawn(self._idl_loop))

    def _idl_loop(self):
        try:
            while self.is_active:
                self._idl.run()
                self._deliver()
                if not self._idl._session.is_connected():
                    break     # a passive session never comes back: ovsdb-server redials
                while self._txn_q and self._idl._session.is_connected():
                    self._transaction()
                    self._deliver()
                _wait(self._idl, self._wake_r.fileno())
                try:
                    self._wake_r.recv(4096)
                except BlockingIOError:
                    pass
        except Exception:
            self.logger.exception('OVSDB client for %s failed', self.system_id)
        self.connected = False
        while self._txn_q:
            self.reply_to_request(self._txn_q.popleft(), ovsdb_event.EventModifyReply(
                self.system_id, 'not connected', {}, 'OVSDB connection lost'))
        if self.is_active:
            self.logger.info('OVSDB connection of %s lost', self.system_id)
            self.send_event_to_observers(EventOVSDBDisconnected(self.system_id, self))

    def _deliver(self):
        for ev_cls, args in self._idl.events:
            self._submit_event(ev_cls(self.system_id, *args))

    def modify_request_handler(self, ev):
        if not self.connected:
            return self.reply_to_request(ev, ovsdb_event.EventModifyReply(
                self.system_id, 'not connected', {}, 'OVSDB connection lost'))
        ev.func = _guarded(ev.func, self.system_id)
        self._txn_q.append(ev)
        self._wakeup()

    def _wakeup(self):
        try:
            self._wake_w.send(b'x')
        except BlockingIOError:
            pass              # already plenty of wake-ups pending

    def stop(self):
        # Called twice at shutdown (OVSDB.stop and AppManager.close): only once counts.
        if self._wake_w is None:
            return
        self.is_active = False
        self._wakeup()
        self._send_event(self._event_stop, None)     # os-ken forgot this one (item 3)
        hub.joinall(self.threads)
        self._idl.close()
        self._wake_r.close()
        self._wake_w.close()
        self._wake_w = None


def _guarded(func, system_id):
    """A modify function that cannot kill the client: errors abort the transaction."""
    def modify(tables, insert):
        try:
            return func(tables, insert)
        except Exception:
            LOG.exception('OVSDB modify function for %s failed; transaction aborted',
                          system_id)
            insert.__self__.abort()
    return modify


def _accept_until_stopped(self, server):
    """os-ken's accept loop, minus its shutdown traceback: stopping kills the loop inside
    ``accept()``, its bare ``except`` swallows that and then reads an unbound address
    (an UnboundLocalError logged as 'uncaught exception' on every clean stop)."""
    try:
        _os_ken_accept(self, server)
    except UnboundLocalError:
        if self.is_active:
            raise


if ovsdb_manager.OVSDB._accept is not _accept_until_stopped:
    _os_ken_accept = ovsdb_manager.OVSDB._accept
    ovsdb_manager.OVSDB._accept = _accept_until_stopped

if ovsdb_client.Idl.__module__ == ovsdb_client.__name__:   # os-ken's own, broken client
    ovsdb_client.Idl = _CompatIdl
    ovsdb_client.discover_system_id = _discover_system_id
    ovsdb_client.RemoteOvsdb = _CompatRemoteOvsdb

handler.register_service('apps.chassis')
