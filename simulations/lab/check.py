"""Hand-written overlay flows and traffic probes (ping, TCP, iperf3) for the lab.

Why: they prove the lab itself (namespaces, userspace OVS, VXLAN over a routed underlay,
MTU and offload settings) works *without* the qnet controller, so a failing end-to-end
test can be blamed on the controller rather than on the lab. Shared by the lab's pytest
and by ``python -m simulations.lab --check``.
"""

import json
import select
import shlex
import subprocess
import sys

from .nodes import LabError, kill_pid, wait_for

HAND_COOKIE = 0x1ab0
HAND_VNI = 100

_SERVER = r'''
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 0)); s.listen(1); s.settimeout(30)
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); c.settimeout(30); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    n += len(b); h.update(b)
c.sendall(('%d %s' % (n, h.hexdigest())).encode()); c.close()
'''

_CLIENT = r'''
import hashlib, os, socket, sys
data = os.urandom(int(sys.argv[3]))
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
c.sendall(data); c.shutdown(socket.SHUT_WR)
reply = b''
while True:
    b = c.recv(4096)
    if not b: break
    reply += b
print(reply.decode(), hashlib.sha256(data).hexdigest())
'''


def install_hand_flows(lab, vni=HAND_VNI, cookie=HAND_COOKIE):
    """Full mesh of VXLAN ports and flood flows on every br-int; return {hv: tunnel ports}.

    VM port -> set tun_id=vni -> other local VM ports + every tunnel;
    tunnel port with tun_id=vni -> every local VM port (never back to a tunnel: no loops).
    """
    tunnels = {}
    for hv in lab.hypervisors:
        tunnels[hv.name] = [hv.add_vxlan_port('vx-%s' % peer.name, peer.tunnel_ip)
                            for peer in lab.hypervisors if peer is not hv]
        local = [hv.ofport(intf) for intf in hv.plugs]
        for p in local:
            outs = [q for q in local if q != p] + tunnels[hv.name]
            hv.ofctl('add-flow', 'br-int',
                     'cookie=%#x,priority=100,in_port=%d,actions=set_field:%d->tun_id,%s'
                     % (cookie, p, vni, ','.join('output:%d' % q for q in outs)))
        for t in tunnels[hv.name]:
            if local:
                hv.ofctl('add-flow', 'br-int',
                         'cookie=%#x,priority=100,in_port=%d,tun_id=%d,actions=%s'
                         % (cookie, t, vni, ','.join('output:%d' % q for q in local)))
    return tunnels


def remove_hand_flows(lab, cookie=HAND_COOKIE):
    for hv in lab.hypervisors:
        hv.ofctl('del-flows', 'br-int', 'cookie=%#x/-1' % cookie)


def ping(vm, ip, count=1, wait=1):
    """True if ``vm`` gets a reply from ``ip``."""
    out = vm.cmd('ping -n -c %d -W %d %s >/dev/null 2>&1; echo "rc=$?"' % (count, wait, ip))
    return 'rc=0' in out


def wait_ping(vm, ip, timeout=15):
    """Poll until the first reply (the first tries may die in ARP resolution)."""
    return wait_for(lambda: ping(vm, ip), timeout=timeout, interval=0,
                    what='%s to ping %s' % (vm.name, ip))


def _readline(proc, timeout):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise LabError('no output from pid %d within %ss' % (proc.pid, timeout))
    return proc.stdout.readline().decode().strip()


def tcp_transfer(client, server, server_ip, nbytes=4 << 20, timeout=30):
    """Send ``nbytes`` random bytes over TCP; return True if they arrived intact."""
    srv = server.popen([sys.executable, '-c', _SERVER, server_ip])
    try:
        port = _readline(srv, 10)
        cli = client.popen([sys.executable, '-c', _CLIENT, server_ip, port, str(nbytes)])
        try:
            out, err = cli.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_pid(cli.pid)
            cli.communicate()
            raise LabError('TCP transfer %s -> %s timed out' % (client.name, server.name))
        fields = out.decode().split()
        return (cli.returncode == 0 and len(fields) == 3 and fields[0] == str(nbytes)
                and fields[1] == fields[2])
    finally:
        kill_pid(srv.pid)
        srv.communicate()


_WHO_SERVER = r'''
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(30)
print('ready', flush=True)
c, peer = s.accept(); c.settimeout(10); c.recv(64); c.sendall(peer[0].encode()); c.close()
print(peer[0], flush=True)
'''

_WHO_CLIENT = r'''
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
c.settimeout(float(sys.argv[3])); c.sendall(b'who'); print(c.recv(64).decode())
'''


def peer_seen(client, server, connect_ip, bind_ip='0.0.0.0', port=8080, timeout=5):
    """One TCP connection from ``client`` to ``connect_ip``:``port``, served by ``server``
    (listening on ``bind_ip``); returns (the client address the server saw, the one the
    client was told back), or raises LabError when no connection completes in ``timeout``
    (NAT: the first is what the far side sees; the second proves the replies came back)."""
    srv = server.popen([sys.executable, '-c', _WHO_SERVER, bind_ip, str(port)])
    try:
        if _readline(srv, 10) != 'ready':
            raise LabError('peer_seen: the server did not start')
        cli = client.popen([sys.executable, '-c', _WHO_CLIENT, connect_ip, str(port),
                            str(timeout)])
        try:
            out, _ = cli.communicate(timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            kill_pid(cli.pid)
            cli.communicate()
            out = b''
        if cli.returncode != 0 or not out.strip():
            raise LabError('no TCP connection %s -> %s:%d' % (client.name, connect_ip, port))
        return _readline(srv, 5), out.decode().strip()
    finally:
        kill_pid(srv.pid)
        srv.communicate()


def iperf3(client, server, server_ip, seconds=2, omit=0):
    """Bounded iperf3 TCP run; return received bits/s.

    omit: seconds at the start left out of the result (slow start; a rate limiter's full
    bucket), so the figure is the steady rate.
    """
    srv = server.popen(['iperf3', '-s', '-1', '-B', server_ip, '-p', '5201'])
    try:
        wait_for(lambda: ':5201' in server.cmd('ss -Htln "sport = :5201"'),
                 timeout=10, what='iperf3 server')
        cli = client.popen(['iperf3', '-c', server_ip, '-p', '5201', '-t', str(seconds),
                            '-O', str(omit), '-J'])
        try:
            out, _ = cli.communicate(timeout=seconds + omit + 20)
        except subprocess.TimeoutExpired:
            kill_pid(cli.pid)
            cli.communicate()
            raise LabError('iperf3 timed out')
        result = json.loads(out.decode())
        if 'error' in result:
            raise LabError('iperf3: %s' % result['error'])
        return result['end']['sum_received']['bits_per_second']
    finally:
        kill_pid(srv.pid)
        srv.communicate()


# A TCP echo server on the given ports (each connection echoes until it is closed).
ECHO_SERVER = r'''
import socket, sys, threading
def serve(port, family):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(('::' if family == socket.AF_INET6 else '0.0.0.0', port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()
def echo(c):
    while True:
        data = c.recv(4096)
        if not data:
            return
        c.sendall(data)
for p in sys.argv[1:]:
    for fam in (socket.AF_INET, socket.AF_INET6):
        threading.Thread(target=serve, args=(int(p), fam), daemon=True).start()
print('ready', flush=True)
threading.Event().wait()
'''

# Connect, send one byte, print "ok" if it comes back within the timeout, else "no".
_ECHO_CLIENT = r'''
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    s = socket.create_connection((host, port), timeout=float(sys.argv[3]))
    s.settimeout(float(sys.argv[3]))
    s.sendall(b'x')
    print('ok' if s.recv(1) == b'x' else 'no')
except OSError:
    print('no')
'''


def echo_answers(vm, ip, port, timeout=1.0):
    """True if a TCP connection from `vm` to ip:port opens and echoes one byte in time."""
    out = vm.cmd(f"{sys.executable} -c {shlex.quote(_ECHO_CLIENT)} {ip} {port} {timeout}")
    return out.strip().endswith("ok")
