"""Launching ``qnet serve`` as a subprocess, for the tests and the benches (one launcher for both:
benches import no tests, tests may import this).

    with QnetServer(workdir, plugin="openflow") as srv:    # free loopback ports, waits ready
        Client(srv.url)...; ovs-vsctl set-controller ... tcp:127.0.0.1:<srv.ofp_port>
        srv.restart()                                      # same ports, same database

Every server listens on loopback ports of its own (API, OpenFlow and OVSDB: never the
defaults a running service holds), logs to ``log_path`` (shown when it fails to start) and is
stopped by its own pid: SIGTERM, then SIGKILL if it has not exited 10 s later.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIMEOUT = 30
STOP_TIMEOUT = 10


def free_ports(n):
    """n distinct loopback TCP ports that were free a moment ago (held together while chosen,
    so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port():
    return free_ports(1)[0]


def qnet_command(name="qnet"):
    """Path of a qnet console script: beside this Python (the venv running the tests or the
    bench), else the checkout's .venv."""
    for d in (os.path.dirname(sys.executable), os.path.join(ROOT, ".venv", "bin")):
        path = os.path.join(d, name)
        if os.path.exists(path):
            return path
    raise RuntimeError(f"cannot find the {name} command (run with the project's venv python)")


def spawn(cmd, log_path):
    """Start `cmd` from the checkout with its output appended to `log_path`; the Popen carries
    ``log_path`` for error messages."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=ROOT)
    proc.log_path = Path(log_path)
    return proc


def read_log(log_path):
    try:
        return Path(log_path).read_text(errors="replace")
    except OSError:
        return ""


def log_tail(log_path, chars=4000):
    return read_log(log_path)[-chars:]


def wait_listening(proc, port, timeout=START_TIMEOUT):
    """Wait until `proc` accepts TCP connections on loopback `port`; RuntimeError (with the
    end of its log) if it exits or does not listen in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"qnet serve exited ({proc.returncode}):\n"
                               + log_tail(proc.log_path))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"qnet serve did not listen on {port} in {timeout} s:\n"
                       + log_tail(proc.log_path))


def spawn_listening(cmd, log_path, port, timeout=START_TIMEOUT):
    """``spawn`` and ``wait_listening``; the process is stopped again if it does not listen."""
    proc = spawn(cmd, log_path)
    try:
        wait_listening(proc, port, timeout)
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc, timeout=STOP_TIMEOUT):
    """Stop a process this module started, by its pid: SIGTERM, SIGKILL after `timeout` s.
    Returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class QnetServer:
    """``qnet serve`` on free loopback ports with a SQLite database in `workdir` (or `db_url`).

    ``plugin``, ``auth`` and ``log_level`` are the serve flags; ``extra`` more of them (a flag
    given twice: the last wins). ``command`` replaces the ``qnet`` executable (e.g. a Python
    wrapper that patches something before calling the CLI). Ports may be given, to take over
    from a stopped server. With the openflow plug-in it also listens for OpenFlow on the unix
    socket ``ofp_socket`` in `workdir` (``ofp_unix=False``: TCP only), which the lab's
    hypervisors dial directly (Lab.connect)."""

    def __init__(self, workdir, plugin="noop", auth="noauth", db_url=None, log_level="WARNING",
                 extra=(), api_port=None, ofp_port=None, ovsdb_port=None, command=None,
                 log_name="serve.log", ofp_unix=True):
        chosen = iter(free_ports(3))
        self.api_port = api_port or next(chosen)
        self.ofp_port = ofp_port or next(chosen)
        self.ovsdb_port = ovsdb_port or next(chosen)
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.db_url = db_url or f"sqlite:///{workdir}/serve.sqlite"
        self.log_path = Path(workdir) / log_name
        self.command = list(command or [qnet_command()])
        self.args = ["serve", "--db-url", self.db_url, "--auth", auth, "--plugin", plugin,
                     "--api-listen", f"127.0.0.1:{self.api_port}",
                     "--ofp-listen", f"127.0.0.1:{self.ofp_port}",
                     "--ovsdb-listen", f"127.0.0.1:{self.ovsdb_port}",
                     "--log-level", log_level]
        self.ofp_socket = None
        if plugin == "openflow" and ofp_unix:
            self.ofp_socket = str(Path(workdir) / f"ofp-{self.ofp_port}.sock")
            self.args += ["--ofp-unix-socket", self.ofp_socket]
        self.args += list(extra)
        self.proc = None

    def start(self, timeout=START_TIMEOUT):
        """Start and wait until the API listens; stopped again if it does not."""
        self.proc = spawn_listening(self.command + self.args, self.log_path, self.api_port,
                                    timeout)
        return self

    def stop(self):
        """Stop the server (if started); its exit code."""
        return stop(self.proc) if self.proc is not None else None

    def restart(self):
        """Stop, then start again on the same ports and database."""
        self.stop()
        return self.start()

    @property
    def pid(self):
        return self.proc.pid

    def read_log(self):
        return read_log(self.log_path)

    def manage(self, *args):
        """Run ``qnet-manage`` on this server's database; its output."""
        out = subprocess.run([qnet_command("qnet-manage"), "--db-url", self.db_url, *args],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
