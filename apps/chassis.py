"""Chassis inventory and VXLAN tunnel ports, over OVSDB: the os-ken app.

Why this app exists: the OpenFlow side sees datapaths and port numbers, but not *which
hypervisor* a datapath is, its tunnel address, nor which logical port a VM interface is
bound to. Those live in each hypervisor's OVSDB (the conventions are in apps/chassis_model.py).
Every hypervisor's ovsdb-server connects *in* (``ovs-vsctl set-manager tcp:<controller>:6640``)
to the manager end in apps/ovsdb_manager.py, so the controller needs no list of hypervisors.

ChassisMonitor turns those connections into ``EventChassisChanged`` (snapshots built by the
pure ``build_chassis``) and writes tunnel ports (``ensure_tunnels``, planned by the pure
``plan_tunnels``). It owns the ``[ovsdb] address/port`` options, i.e. ``--ovsdb-address`` and
``--ovsdb-port``, which apps/openflow.py passes from ``--ovsdb-listen``.
"""

import dataclasses
import logging

from os_ken import cfg
from os_ken.base import app_manager
from os_ken.controller import event as os_ken_event
from os_ken.controller import handler
from os_ken.lib import hub

from apps.chassis_model import (COLUMNS, QNET_TUNNEL_KEY, TUNNEL_KEY, TUNNEL_TYPE, build_chassis,
                                plan_tunnels, snapshot_tables)
from apps.ovsdb_manager import TRY_AGAIN, OvsdbError, OvsdbManager, server_tls_context

LOG = logging.getLogger(__name__)

# Command-line options (registered at import, before os-ken parses its configuration).
cfg.CONF.register_cli_opts([
    cfg.StrOpt('address', default='127.0.0.1',
               help='Address the OVSDB manager listens on for hypervisors\' ovsdb-servers'),
    cfg.IntOpt('port', default=6640, help='TCP port of the OVSDB manager'),
    cfg.StrOpt('private-key', default=None, help='TLS key of the OVSDB manager; with '
               'certificate and ca-certificate it accepts only TLS (ssl: managers)'),
    cfg.StrOpt('certificate', default=None, help='TLS certificate of the OVSDB manager'),
    cfg.StrOpt('ca-certificate', default=None,
               help='CA that must have signed the hypervisors\' certificates'),
], group='ovsdb')
cfg.CONF.register_cli_opts([
    cfg.BoolOpt('registered-only', default=False,
                help='Accept only the system-ids ChassisMonitor.admit says are registered'),
], group='chassis')
cfg.CONF.register_opts([
    cfg.StrOpt('integration-bridge', default='br-int',
               help='Bridge whose interfaces and tunnel ports qnet manages'),
    cfg.FloatOpt('request-timeout', default=10.0,
                 help='Seconds to wait for an OVSDB read or transaction'),
], group='chassis')


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


class ChassisError(RuntimeError):
    """An OVSDB read or transaction for a chassis failed or timed out."""


class ChassisMonitor(app_manager.OSKenApp):
    """Keeps ``self.chassis`` (system_id -> Chassis) current and writes tunnel ports.

    The OVSDB manager's callbacks only mark a chassis dirty; one worker greenthread then
    re-reads that chassis' replica and emits ``EventChassisChanged`` only when the snapshot
    differs. So a burst of updates costs one read, and listeners see neither duplicates nor
    half-applied transactions.
    """

    _EVENTS = [EventChassisChanged]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.chassis = {}                # system_id -> Chassis (latest emitted snapshot)
        self.bridge = self.CONF.chassis.integration_bridge
        self.timeout = self.CONF.chassis.request_timeout
        self.registered_only = self.CONF.chassis.registered_only
        self.admit = None                # system_id -> bool: the allow-list (registered_only)
        opts = self.CONF.ovsdb
        tls = None
        if opts.private_key or opts.certificate or opts.ca_certificate:
            tls = server_tls_context(opts.private_key, opts.certificate, opts.ca_certificate)
        self.ovsdb = OvsdbManager(opts.address, opts.port, COLUMNS,
                                  on_connected=self._connected, on_changed=self._changed,
                                  on_lost=self._disconnected, tls=tls, admit=self._admit)
        self._clients = {}               # system_id -> its current OvsdbConnection
        self._dirty = set()              # system_ids to re-read
        self._lost = {}                  # system_id -> connection that ended
        self._wake = hub.Event()

    def start(self):
        """Returns the OVSDB manager's thread: os-ken's run_apps lives as long as it."""
        super().start()
        self.threads.append(hub.spawn(self._worker))
        return self.ovsdb.start()

    def stop(self):
        self.is_active = False
        self._wake.set()
        self.ovsdb.stop()
        super().stop()

    # intake from the OVSDB manager's thread: cheap, never blocks

    def _admit(self, system_id):
        """Why ``system_id`` may not join (None: it may): the allow-list, when asked for."""
        if not self.registered_only:
            return None
        if self.admit is None:
            return 'the allow-list of registered hypervisors is not loaded yet'
        if not self.admit(system_id):
            return 'not a registered hypervisor (qnet-manage hypervisor add %s)' % system_id
        return None

    def _connected(self, conn):
        LOG.info('chassis %s connected from %s', conn.system_id, conn.address)
        self._clients[conn.system_id] = conn
        self._lost.pop(conn.system_id, None)
        self._mark(conn.system_id)

    def _changed(self, conn):
        self._mark(conn.system_id)

    def _disconnected(self, conn):
        if self._clients.get(conn.system_id) is conn:     # not an already replaced one
            self._lost[conn.system_id] = conn
            self._wake.set()

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
            for system_id, conn in lost.items():
                ch = self.chassis.get(system_id)
                if ch is not None and self._clients.get(system_id) is conn:
                    LOG.info('chassis %s disconnected', system_id)
                    self._publish(dataclasses.replace(ch, connected=False))
            dirty, self._dirty = self._dirty, set()
            for system_id in sorted(dirty):
                try:
                    self._refresh(system_id)
                except ChassisError as e:   # lost or wedged: the next change retries
                    LOG.warning('refreshing chassis %s failed: %s', system_id, e)
                except Exception:           # keep the worker alive
                    LOG.exception('refreshing chassis %s failed', system_id)

    def _refresh(self, system_id):
        conn = self._clients.get(system_id)
        if conn is None or not conn.connected:
            return
        try:
            tables = self.ovsdb.read(system_id, snapshot_tables, self.timeout)
        except OvsdbError as e:
            raise ChassisError(str(e)) from e
        self._publish(build_chassis(system_id, tables, self.bridge))

    def _publish(self, chassis):
        if self.chassis.get(chassis.system_id) != chassis:
            self.chassis[chassis.system_id] = chassis
            self.send_event_to_observers(EventChassisChanged(chassis))

    # tunnels

    def ensure_tunnels(self, system_id, wanted, timeout=None):
        """Make the qnet VXLAN ports on the chassis' integration bridge exactly ``wanted``.

        ``wanted`` maps port name (see ``tunnel.mesh.tunnel_port_name``) -> remote_ip. Missing
        ports are added (type=vxlan, options:remote_ip, options:local_ip = the chassis' tunnel
        address, options:key=flow, external_ids:qnet-tunnel=true on Port and Interface), qnet ports with other settings are fixed
        in place (their ofport survives), unwanted qnet ports are removed, and nothing
        else is touched. One OVSDB transaction, planned from the replica at commit time;
        ports are added/removed by mutation, so a concurrent ``ovs-vsctl add-port`` is never
        overwritten. Idempotent: when nothing differs, nothing is written.

        Blocks the calling greenthread until ovsdb-server answers. Returns the TunnelPlan it
        applied; raises ChassisError if the chassis is unknown or disconnected, on error, or
        on timeout. The new ports' ofports arrive later, with EventChassisChanged.
        """
        wanted = {str(k): str(v) for k, v in wanted.items()}
        for attempt in range(3):
            try:
                status, plan = self.ovsdb.transact(
                    system_id, _tunnel_txn(self.bridge, wanted), timeout or self.timeout)
            except OvsdbError as e:
                raise ChassisError(str(e)) from e
            except Exception as e:
                if not isinstance(e, ChassisError):
                    LOG.exception('tunnel transaction on %s failed', system_id)
                raise ChassisError('%s: %s' % (system_id, e)) from e
            if status == TRY_AGAIN:
                hub.sleep(0.05 * (attempt + 1))
                continue
            if plan.conflicts:
                LOG.warning('%s: tunnel names used by non-qnet ports, left alone: %s',
                            system_id, ', '.join(plan.conflicts))
            return plan
        raise ChassisError('%s: tunnel transaction kept conflicting' % system_id)


def _tunnel_txn(bridge_name, wanted):
    """The transaction of ``ensure_tunnels``: plan from the live replica, write the plan.

    Runs in the OVSDB manager's thread, so the plan is made from the rows the transaction is
    checked against. Raising aborts the transaction; the error goes back to the caller.
    """
    def write(tables, txn):
        br = next((r for r in tables['Bridge'].rows.values() if r.name == bridge_name), None)
        if br is None:
            raise ChassisError('no bridge %s' % bridge_name)
        chassis = build_chassis('', snapshot_tables(tables), bridge_name)
        local_ip = chassis.tunnel_ip
        plan = plan_tunnels(chassis.interfaces, wanted, local_ip)
        ports = {p.name: p for p in br.ports}
        for name, ip in plan.add.items():
            iface = txn.insert(tables['Interface'])
            iface.name = name
            _set_tunnel(iface, ip, local_ip)
            port = txn.insert(tables['Port'])
            port.name = name
            port.interfaces = [iface]
            port.external_ids = {QNET_TUNNEL_KEY: 'true'}
            br.addvalue('ports', port)
        for name, ip in plan.update.items():
            for iface in ports[name].interfaces:
                _set_tunnel(iface, ip, local_ip)
        for name in plan.remove:
            br.delvalue('ports', ports[name])   # OVSDB garbage-collects Port/Interface
        return plan
    return write


def _set_tunnel(iface, remote_ip, local_ip):
    iface.type = TUNNEL_TYPE
    iface.options = {'remote_ip': remote_ip, 'key': TUNNEL_KEY,
                     **({'local_ip': local_ip} if local_ip else {})}
    iface.external_ids = {QNET_TUNNEL_KEY: 'true'}


handler.register_service('apps.chassis')
