"""The OVSDB manager end: hypervisors' ovsdb-servers connect in, each gets an IDL replica.

Every hypervisor runs ``ovs-vsctl set-manager tcp:<controller>:6640`` (the lab: ``unix:`` to a
relay), so its ovsdb-server dials *us* and the controller needs no list of hypervisors.
``OvsdbManager`` listens and, per accepted connection, runs the ``ovs`` Python IDL (the
library Open vSwitch ships) over the ovs stream and JSON-RPC classes:

  accepted socket -> ovs.stream.Stream -> ovs.jsonrpc.Connection -> get_schema Open_vSwitch
  -> ovs.jsonrpc.Session (never reconnects: the hypervisor redials) -> ovs.db.idl.Idl that
  replicates only the columns the caller names -> external_ids:system-id of Open_vSwitch
  -> ``on_connected``; ``on_changed`` after each change of the replica; ``on_lost`` at the end.

Why the ``ovs`` IDL used directly:

- os-ken's OVSDB manager app (os_ken.services.protocols.ovsdb, 4.2.2) does not work with any
  current ``ovs`` library (its Idl subclass skips Idl.__init__, so the first run() fails;
  faucetsdn/ryu#146), reads a blocking socket (transactions wait for the next probe), hangs
  when a chassis reconnects and never reports a lost connection. Making it work took patching
  it at import; that shim is what this module replaces.
- ovsdbapp does not fit a manager: one ovsdbapp Connection is one IDL on one remote, and its
  passive mode ("ptcp:") is the ovs JSON-RPC Session's, which holds at most one connection
  and drops it when the next one arrives, i.e. one hypervisor at a time; its start() blocks
  until that one has connected. Its ovs-vsctl-like commands would add nothing either: tunnel
  ports are planned from the replica at commit time.

One thread of os-ken's hub (a greenthread under eventlet, which qnet uses; a thread on the
native hub) runs the listener and every connection, sleeping in ``ovs.poller`` on their
sockets. It alone touches the IDLs: ``read`` and ``transact`` queue a function to it and wait
for the answer with a timeout, so a wedged hypervisor never hangs a caller, and callers never
hold IDL rows that change under them.

TLS (``tls``, a context from ``server_tls_context``; the hypervisors ``set-manager ssl:...``):
each accepted socket is wrapped and its handshake run here, without blocking the others; a
peer without a certificate signed by the CA fails the handshake, and one whose certificate's
common name is not the system-id its database claims is refused. ``ovs.stream`` has no
passive SSL stream (no ``pssl:``), so the handshake is done with the standard ``ssl`` module
and the wrapped socket handed to ``ovs.stream.SSLStream``. ``admit(system_id)`` may refuse a
hypervisor (the allow-list): refused connections are closed and logged, and never replace an
admitted connection of the same system-id.
"""

import collections
import dataclasses
import errno
import logging
import socket
import ssl

from ovs import jsonrpc
from ovs import poller as ovs_poller
from ovs import reconnect
from ovs import stream as ovs_stream
from ovs import timeval
from ovs.db import idl as ovs_idl

from os_ken.lib import hub
from os_ken.lib import ip

LOG = logging.getLogger(__name__)

DATABASE = 'Open_vSwitch'
HANDSHAKE_TIMEOUT = 10.0      # seconds for the schema and a system-id, else the connection goes
# Transaction outcomes ``transact`` returns; any other (error, aborted) raises OvsdbError.
SUCCESS, UNCHANGED, TRY_AGAIN = (ovs_idl.Transaction.SUCCESS, ovs_idl.Transaction.UNCHANGED,
                                 ovs_idl.Transaction.TRY_AGAIN)


def server_tls_context(private_key, certificate, ca_certificate):
    """The manager's TLS context: its own key and certificate, peers' certificates required
    and checked against the CA (hypervisors connect by address: no host name is checked)."""
    if not (private_key and certificate and ca_certificate):
        raise ValueError('TLS needs a private key, a certificate and a CA certificate')
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certificate, private_key)
    ctx.load_verify_locations(ca_certificate)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def common_name(sock):
    """The subject CN of the peer's (verified) certificate, or None."""
    cert = sock.getpeercert() or {}
    return next((value for rdn in cert.get('subject', ()) for key, value in rdn
                 if key == 'commonName'), None)


class OvsdbError(RuntimeError):
    """A read or transaction could not be done: no such connection, lost, timed out, failed."""


class AcceptedIdl(ovs_idl.Idl):
    """An ovs Idl on a connection somebody else accepted.

    ovs.db.idl.Idl only opens its own session from a remote name; handing it an accepted
    connection means replacing that session (created, never opened) before the first run().
    ``_session`` is the one name of ovs's Idl relied on here; tests/unit/test_ovsdb_manager.py
    runs it against a real ovsdb-server.
    """

    def __init__(self, session, schema_helper):
        super().__init__(session.get_name(), schema_helper)
        self._session.close()
        self._session = session

    def is_connected(self):
        return self._session.is_connected()


# What OvsdbConnection.run() saw, for the manager to act on.
CONNECTED = 'connected'    # the handshake is done: system_id is known (reported once)
CHANGED = 'changed'        # the replica changed
ENDED = 'ended'            # the connection is over (handshake failed or connection lost)


class OvsdbConnection:
    """One hypervisor's ovsdb-server, connected in: the handshake (schema, then system-id),
    then its IDL replica and the transactions in flight on it. Run by the manager's thread.
    """

    def __init__(self, sock, address, columns, handshake_timeout):
        self.address = address
        self.system_id = None             # known once the handshake is done
        self.common_name = None           # the TLS peer certificate's CN (TLS only)
        self.connected = True
        self.idl = None                   # None while the schema is being fetched
        self._columns = columns
        self._timeout = handshake_timeout
        self._deadline = timeval.msec() + handshake_timeout * 1000
        self._sock = sock
        self._tls_wait = None             # TLS handshake in progress: the poll event it awaits
        self._rpc = None
        self._seqno = None                # idl.change_seqno already reported
        self._transactions = []           # (Transaction, func's value, reply queue)
        if isinstance(sock, ssl.SSLSocket):
            self._tls_wait = ovs_poller.POLLIN
        else:
            self._open_rpc(ovs_stream.Stream(sock, 'tcp:' + address, 0))

    @property
    def tls(self):
        return isinstance(self._sock, ssl.SSLSocket)

    def _open_rpc(self, stream):
        self._rpc = jsonrpc.Connection(stream)
        self._schema_request = jsonrpc.Message.create_request('get_schema', [DATABASE])
        self._rpc.send(self._schema_request)

    def _tls_handshake(self):
        try:
            self._sock.do_handshake()
        except ssl.SSLWantReadError:
            self._tls_wait = ovs_poller.POLLIN
            return self._handshake_overdue('did not finish the TLS handshake')
        except ssl.SSLWantWriteError:
            self._tls_wait = ovs_poller.POLLOUT
            return self._handshake_overdue('did not finish the TLS handshake')
        except (ssl.SSLError, OSError) as e:
            LOG.warning('OVSDB connection from %s refused: TLS handshake failed: %s',
                        self.address, e)
            return ENDED
        self._tls_wait = None
        self.common_name = common_name(self._sock)
        self._open_rpc(ovs_stream.SSLStream(self._sock, 'ssl:' + self.address, 0))
        return self.run()

    def run(self):
        """Do what is due; returns CONNECTED, CHANGED, ENDED or None (nothing to report)."""
        if self._tls_wait is not None:
            return self._tls_handshake()
        if self.idl is None:
            return self._await_schema()
        self.idl.run()
        self._finish_transactions()
        if not self.idl.is_connected():
            return ENDED
        if self.system_id is None:
            return self._await_system_id()
        if self.idl.change_seqno != self._seqno:
            self._seqno = self.idl.change_seqno
            return CHANGED
        return None

    def _await_schema(self):
        self._rpc.run()
        error, msg = self._rpc.recv()
        if error == errno.EAGAIN:
            return self._handshake_overdue('sent no schema')
        if error:
            LOG.info('OVSDB connection from %s closed during the handshake', self.address)
            return ENDED
        if msg.type == jsonrpc.Message.T_REQUEST and msg.method == 'echo':
            self._rpc.send(jsonrpc.Message.create_reply(msg.params, msg.id))
        elif msg.id == self._schema_request.id:
            if msg.type != jsonrpc.Message.T_REPLY:
                LOG.warning('%s has no %s database: %s', self.address, DATABASE, msg.error)
                return ENDED
            helper = ovs_idl.SchemaHelper(schema_json=msg.result)
            for table, columns in self._columns.items():
                helper.register_columns(table, columns)
            fsm = reconnect.Reconnect(timeval.msec())
            fsm.set_name(self._rpc.name)
            fsm.set_quiet(True)
            fsm.set_max_tries(0)          # passive: a lost connection stays lost
            fsm.connected(timeval.msec())
            self.idl = AcceptedIdl(jsonrpc.Session(fsm, self._rpc, [self._rpc.name]), helper)
            return self.run()
        return None

    def _await_system_id(self):
        rows = self.idl.tables[DATABASE].rows.values()
        self.system_id = next((r.external_ids['system-id'] for r in rows
                               if r.external_ids.get('system-id')), None)
        if self.system_id is None:
            return self._handshake_overdue('has no external_ids:system-id')
        if self.tls and self.common_name != self.system_id:
            LOG.warning('OVSDB connection from %s refused: it claims system-id %s but its '
                        'certificate is for %s', self.address, self.system_id,
                        self.common_name)
            self.system_id = None           # never reported: nothing was admitted
            return ENDED
        self._seqno = self.idl.change_seqno
        return CONNECTED

    def _handshake_overdue(self, what):
        if timeval.msec() <= self._deadline:
            return None
        LOG.warning('OVSDB connection from %s %s after %ss: closed (it will redial)',
                    self.address, what, self._timeout)
        return ENDED

    def read(self, func):
        return func(self.idl.tables)

    def transact(self, func, reply):
        """Run ``func(tables, txn)`` in a new transaction and commit it; the outcome goes to
        ``reply`` once ovsdb-server answers (see OvsdbManager.transact)."""
        txn = ovs_idl.Transaction(self.idl)
        try:
            value = func(self.idl.tables, txn)
        except Exception as e:
            txn.abort()
            reply.put((False, e))
            return
        self._transactions.append((txn, value, reply))
        self._finish_transactions()

    def _finish_transactions(self):
        for item in list(self._transactions):
            txn, value, reply = item
            status = txn.commit()
            if status == ovs_idl.Transaction.INCOMPLETE:
                continue
            self._transactions.remove(item)
            if status in (SUCCESS, UNCHANGED, TRY_AGAIN):
                reply.put((True, (status, value)))
            else:
                reply.put((False, OvsdbError('%s: transaction %s: %s' % (
                    self.system_id, status, txn.get_error()))))

    def wait(self, poller):
        if self._tls_wait is not None:
            poller.fd_wait(self._sock, self._tls_wait)
        elif self.idl is None:
            self._rpc.wait(poller)
            self._rpc.recv_wait(poller)
        else:
            self.idl.wait(poller)
            for txn, _, _ in self._transactions:
                txn.wait(poller)
        if self.system_id is None:
            poller.timer_wait_until(self._deadline)

    def close(self):
        """Close the connection; transactions still in flight fail."""
        self.connected = False
        for _, _, reply in self._transactions:
            reply.put((False, OvsdbError('%s: OVSDB connection lost' % self.system_id)))
        self._transactions.clear()
        if self.idl is not None:
            self.idl.close()
        elif self._rpc is not None:
            self._rpc.close()
        else:
            self._sock.close()


@dataclasses.dataclass(eq=False)
class _Request:
    system_id: str
    func: object            # read: func(tables); transaction: func(tables, txn)
    transaction: bool
    reply: object           # hub.Queue of (ok, value or exception)


class OvsdbManager:
    """Listens on ``address:port`` for ovsdb-servers and keeps one IDL replica per hypervisor.

    ``columns`` maps table -> column names to replicate (and to write: the IDL writes only
    what it replicates). The callbacks run in the manager's thread and must not block:
    ``on_connected(conn)`` once a connection has its system-id (a newer connection of the
    same system-id replaces the older one, which then ends silently), ``on_changed(conn)``
    after its replica changed, ``on_lost(conn)`` when it ended (``conn.connected`` is False).
    ``tls``: an SSLContext (``server_tls_context``) or None for plain TCP; ``admit(system_id)``
    returns why a hypervisor is refused, or None to accept it.
    """

    def __init__(self, address, port, columns, on_connected, on_changed, on_lost,
                 handshake_timeout=HANDSHAKE_TIMEOUT, tls=None, admit=None):
        self.address, self.port = address, port
        self.columns = {t: list(c) for t, c in columns.items()}
        self.columns.setdefault(DATABASE, [])
        if 'external_ids' not in self.columns[DATABASE]:     # where system-id is found
            self.columns[DATABASE].append('external_ids')
        self.on_connected, self.on_changed, self.on_lost = on_connected, on_changed, on_lost
        self.handshake_timeout = handshake_timeout
        self.tls, self.admit = tls, admit
        self.connections = {}             # system_id -> OvsdbConnection (handshake done)
        self._all = []                    # every open OvsdbConnection, handshaking ones too
        self._requests = collections.deque()
        self._server = self._thread = None
        self._running = False
        self._wake_r = self._wake_w = None

    # --- life cycle (called from other threads)

    def start(self):
        """Listen and start serving; returns the thread. Raises OSError if the port is taken."""
        family = socket.AF_INET6 if ip.valid_ipv6(self.address) else socket.AF_INET
        self._server = hub.listen((self.address, self.port), family=family)
        self._server.setblocking(False)
        self.port = self._server.getsockname()[1]            # the real one if 0 was asked
        # Wakes the thread when a request is queued or on stop. A socketpair, not a pipe: a
        # non-blocking green socket raises on EAGAIN, where eventlet's green os.read waits.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._running = True
        self._thread = hub.spawn(self._run)
        LOG.info('OVSDB manager listening on %s:%d%s', self.address, self.port,
                 ' (TLS)' if self.tls else '')
        return self._thread

    def stop(self):
        """Stop listening, close every connection (without ``on_lost``), fail what waits."""
        if not self._running:
            return
        self._running = False
        self._wakeup()
        hub.joinall([self._thread])

    # --- requests (called from other threads)

    def read(self, system_id, func, timeout):
        """``func(idl.tables)`` run on ``system_id``'s replica; returns what it returns."""
        return self._call(_Request(system_id, func, False, hub.Queue()), timeout)

    def transact(self, system_id, func, timeout):
        """Run ``func(idl.tables, txn)`` in a new transaction on ``system_id`` and commit it.

        Returns (status, what func returned) when the commit ended SUCCESS, UNCHANGED or
        TRY_AGAIN (the replica was stale: re-plan and call again). An exception from ``func``
        aborts the transaction and is raised here; other outcomes raise OvsdbError.
        """
        return self._call(_Request(system_id, func, True, hub.Queue()), timeout)

    def _call(self, request, timeout):
        if not self._running:
            raise OvsdbError('%s: OVSDB manager not running' % request.system_id)
        self._requests.append(request)
        self._wakeup()
        try:
            ok, value = request.reply.get(timeout=timeout)
        except hub.QueueEmpty:
            raise OvsdbError('%s: no OVSDB reply within %ss' % (request.system_id, timeout))
        if not ok:
            raise value
        return value

    def _wakeup(self):
        try:
            self._wake_w.send(b'x')
        except OSError:
            pass              # wake-ups already pending (BlockingIOError), or stopped

    # --- the manager's thread

    def _run(self):
        try:
            while self._running:
                self._accept()
                for conn in list(self._all):
                    if conn in self._all:         # not closed meanwhile (replaced)
                        self._run_connection(conn)
                self._serve_requests()
                self._sleep()
        except Exception:
            LOG.exception('OVSDB manager failed')
        finally:
            self._shutdown()

    def _accept(self):
        while True:
            try:
                sock, peer = self._server.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:          # e.g. out of file descriptors: try again later
                LOG.warning('OVSDB manager: accept failed: %s', e)
                return
            # eventlet's non-blocking accept hands out a raw socket, which ovs.poller cannot
            # wait on (it asserts socket.socket, i.e. the green class): rewrap the descriptor.
            sock = socket.socket(sock.family, sock.type, fileno=sock.detach())
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            address = ('[%s]:%s' if sock.family == socket.AF_INET6 else '%s:%s') % peer[:2]
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
            self._all.append(OvsdbConnection(sock, address, self.columns,
                                             self.handshake_timeout))
            LOG.debug('OVSDB connection from %s', address)

    def _run_connection(self, conn):
        try:
            seen = conn.run()
        except Exception:
            LOG.exception('OVSDB connection from %s failed', conn.address)
            seen = ENDED
        if seen == CONNECTED:
            refused = self._refusal(conn)
            if refused:
                LOG.warning('OVSDB connection from %s (system-id %s) refused: %s',
                            conn.address, conn.system_id, refused)
                self._close(conn)
                return
            old = self.connections.get(conn.system_id)
            self.connections[conn.system_id] = conn
            if old is not None:
                LOG.info('%s: new OVSDB connection from %s replaces the one from %s',
                         conn.system_id, conn.address, old.address)
                self._close(old)
            self._callback(self.on_connected, conn)
        elif seen == CHANGED:
            self._callback(self.on_changed, conn)
        elif seen == ENDED:
            self._close(conn, lost=conn.system_id is not None)

    def _refusal(self, conn):
        if self.admit is None:
            return None
        try:
            return self.admit(conn.system_id)
        except Exception:
            LOG.exception('OVSDB admission check for %s failed', conn.system_id)
            return 'the admission check failed'

    def _serve_requests(self):
        while self._requests:
            req = self._requests.popleft()
            conn = self.connections.get(req.system_id)
            if conn is None:
                req.reply.put((False, OvsdbError('%s: no OVSDB connection' % req.system_id)))
            elif req.transaction:
                conn.transact(req.func, req.reply)
            else:
                try:
                    req.reply.put((True, conn.read(req.func)))
                except Exception as e:
                    req.reply.put((False, e))

    def _sleep(self):
        poller = ovs_poller.Poller()
        poller.fd_wait(self._server.fileno(), ovs_poller.POLLIN)
        poller.fd_wait(self._wake_r.fileno(), ovs_poller.POLLIN)
        for conn in self._all:
            conn.wait(poller)
        if self._requests:
            poller.immediate_wake()
        poller.block()
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _callback(self, callback, conn):
        try:
            callback(conn)
        except Exception:
            LOG.exception('OVSDB callback %s for %s failed', callback, conn.system_id)

    def _close(self, conn, lost=False):
        """Forget and close ``conn``; ``on_lost`` if ``lost``."""
        self._all.remove(conn)
        if self.connections.get(conn.system_id) is conn:
            del self.connections[conn.system_id]
        conn.close()
        if lost:
            LOG.info('OVSDB connection of %s (%s) lost', conn.system_id, conn.address)
            self._callback(self.on_lost, conn)

    def _shutdown(self):
        for conn in list(self._all):
            self._close(conn)
        while self._requests:
            req = self._requests.popleft()
            req.reply.put((False, OvsdbError('%s: OVSDB manager stopped' % req.system_id)))
        self._server.close()
        self._wake_r.close()
        self._wake_w.close()
