"""OpenFlow over a unix socket, for the switch on the controller's own host (``ofp_unix_socket``).

Why: a switch that runs beside ``qnet serve`` (an all-in-one host, a lab whose hypervisors are
namespaces of one machine) need not go through TCP, nor through a relay process when its
network namespace cannot reach the controller's loopback: ovs-vswitchd dials a ``unix:PATH``
controller target itself (it must lie in its run directory, e.g. /var/run/openvswitch; a
symbolic link there to this socket will do). OVN's ovn-controller talks to its ovs-vswitchd
this way too. On a loaded host every process on the path is one more wait for the scheduler,
and port-up is a few such round trips (docs/benchmarks.md).

os-ken's own listener takes TCP or TLS only: its ``Datapath`` turns on TCP_NODELAY, which a
unix socket refuses (EOPNOTSUPP). Connections accepted here are handed to os-ken's
``datapath_connection_factory`` like its own, wrapped so that a TCP-level option is skipped;
everything else (handshake, events, the apps) is os-ken's and the same for both listeners.
The socket carries no TLS: it is created mode 0600, so only the controller's user (and root)
can connect.
"""
import contextlib
import logging
import os
import socket
import stat

from os_ken.controller.controller import datapath_connection_factory
from os_ken.lib import hub

LOG = logging.getLogger(__name__)


class UnixConnection:
    """An accepted unix-socket connection as os-ken's Datapath expects a TCP one: the same
    socket, minus the TCP options it sets (there is no Nagle delay to turn off)."""

    def __init__(self, sock):
        self._sock = sock

    def setsockopt(self, level, option, value):
        if level != socket.IPPROTO_TCP:
            self._sock.setsockopt(level, option, value)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def listen(path):
    """Listen on unix socket ``path`` (a stale socket file there is replaced; any other
    file is refused) and serve every switch that connects. Returns ``stop()``, which ends
    the listener (the switches' sessions go on) and removes the socket file."""
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise SystemExit(f"ofp_unix_socket {path} exists and is not a socket")
        os.unlink(path)
    umask = os.umask(0o177)          # 0600 from the start: no window where others may dial
    try:
        server = hub.listen(path, family=socket.AF_UNIX)
    finally:
        os.umask(umask)
    LOG.info("OpenFlow also on unix:%s (switches on this host)", path)

    def serve():
        while True:
            sock, _ = server.accept()
            hub.spawn(datapath_connection_factory, UnixConnection(sock), "unix:" + path)
    thread = hub.spawn(serve)

    def stop():
        hub.kill(thread)
        server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return stop
