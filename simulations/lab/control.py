"""The running lab's control socket: how ``qnet-lab server ...`` reaches the lab process.

Mininet hosts (the VMs) and the hypervisors' OVS daemons live in the process that started the
lab, so a command typed in another terminal asks that process, over a unix socket, to start a
VM, plug its NICs, run DHCP in it, list or delete VMs, or run a command in one. The API side
(creating the ports) is done by the command itself with the caller's own credentials, so the
ports belong to the caller's project.

Protocol: one JSON object per connection each way: ``{"op": ..., **args}`` ->
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``. Requests are served one at
a time in a background thread (Mininet's node shells are not thread-safe).
"""
import json
import os
import socket
import socketserver
import subprocess
import threading

from . import seed
from .nodes import LabError

DEFAULT_SOCKET = "/run/qnet-lab/control.sock"


def socket_path(path=None):
    return path or os.environ.get("QNET_LAB_CONTROL") or DEFAULT_SOCKET


def describe(server):
    return {"name": server.name, "tenant": server.tenant, "host": server.vm.name,
            "hypervisor": server.hypervisor.name,
            "nics": [{"network": n.network, "interface": n.intf, "ip": n.ip,
                      "mac": n.port["mac_address"], "port_id": n.port["id"],
                      "attachment": n.port["attachment"]} for n in server.nics]}


class LabControl:
    """Keeps the lab's servers ({(tenant, name): seed.Server}) and serves requests on them."""

    def __init__(self, lab, path=None):
        self.lab, self.path = lab, socket_path(path)
        self.servers = {}
        self._count = 0
        self._server = None

    # -- operations -------------------------------------------------------------------------------
    def add(self, server):
        """Register a server started by someone else (the seed scenario)."""
        self.servers[(server.tenant, server.name)] = server
        return server

    def find(self, name):
        """``NAME`` or ``TENANT/NAME``."""
        tenant, _, short = name.rpartition("/")
        found = [s for (t, n), s in self.servers.items()
                 if n == short and (not tenant or t == tenant)]
        if not found:
            raise LabError(f"no server {name} in this lab")
        if len(found) > 1:
            raise LabError(f"several servers are named {name} "
                           f"({', '.join(s.tenant + '/' + s.name for s in found)}): "
                           "use TENANT/NAME")
        return found[0]

    def pick_hypervisor(self, name=None):
        """The named hypervisor, else the one with the fewest VMs (the first among equals)."""
        hvs = self.lab.hypervisors
        if name:
            for hv in hvs:
                if hv.name == name:
                    return hv
            raise LabError(f"no hypervisor {name} (have {', '.join(h.name for h in hvs)})")
        load = {hv.name: 0 for hv in hvs}
        for s in self.servers.values():
            load[s.hypervisor.name] += 1
        return min(hvs, key=lambda hv: load[hv.name])

    def op_server_create(self, name, tenant, ports, hypervisor=None, dhcp_timeout=20):
        if (tenant, name) in self.servers:
            raise LabError(f"server {tenant}/{name} already exists")
        hv = self.pick_hypervisor(hypervisor)
        self._count += 1
        server = seed.start_vm(self.lab, tenant, name, [tuple(p) for p in ports], hv,
                               f"{name[:6]}{self._count}")
        self.add(server)
        try:
            seed.dhcp(server, timeout=dhcp_timeout)
        except Exception:
            self.op_server_delete(f"{tenant}/{name}")
            raise
        return describe(server)

    def op_server_list(self):
        return [describe(s) for s in self.servers.values()]

    def op_server_delete(self, name):
        server = self.find(name)
        for nic in server.nics:
            server.hypervisor.unplug_vm(nic.hv_intf)
        self.lab.net.delLinkBetween(server.vm, server.hypervisor, allLinks=True)
        self.lab.net.delHost(server.vm)
        del self.servers[(server.tenant, server.name)]
        return describe(server)

    def op_exec(self, name, cmd, timeout=60):
        outside = self.lab.net.nameToNode.get("outside") if name == "outside" else None
        vm = outside or self.find(name).vm
        proc = vm.popen(["sh", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            return {"rc": 124, "output": out.decode(errors="replace") + "(timed out)\n"}
        return {"rc": proc.returncode, "output": out.decode(errors="replace")}

    def handle(self, request):
        op = getattr(self, "op_" + str(request.pop("op", "")).replace(".", "_"), None)
        if op is None:
            return {"ok": False, "error": f"unknown operation {request}"}
        try:
            return {"ok": True, "result": op(**request)}
        except LabError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:        # one bad request must not take the lab down
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    # -- serving ----------------------------------------------------------------------------------
    def start(self):
        control = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                try:
                    request = json.loads(self.rfile.readline())
                    reply = control.handle(request)
                except ValueError as exc:
                    reply = {"ok": False, "error": f"bad request: {exc}"}
                self.wfile.write(json.dumps(reply).encode() + b"\n")

        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        if os.path.exists(self.path):
            if _answers(self.path):
                raise LabError(f"another lab already serves {self.path}")
            os.unlink(self.path)
        self._server = socketserver.UnixStreamServer(self.path, Handler)
        threading.Thread(target=self._server.serve_forever, name="lab-control",
                         daemon=True).start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            if os.path.exists(self.path):
                os.unlink(self.path)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _answers(path):
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


def call(op, path=None, timeout=120, **args):
    """Ask the running lab; return the result or raise LabError with the lab's message."""
    path = socket_path(path)
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        try:
            s.connect(path)
        except OSError as exc:
            raise LabError(f"no lab answers on {path} ({exc.strerror}): start one with "
                           "`qnet-lab overlay` (as root), or point --control at it") from None
        s.sendall(json.dumps({"op": op, **args}).encode() + b"\n")
        reply = json.loads(s.makefile().readline())
    if not reply["ok"]:
        raise LabError(reply["error"])
    return reply["result"]
