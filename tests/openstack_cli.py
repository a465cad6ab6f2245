"""The real ``openstack`` command (python-openstackclient) in a subprocess, as a user would run it.

Its environment is built from nothing but what a test gives (no ``OS_*`` variable of the machine
leaks in, no clouds.yaml is read), and ``-f json`` output is parsed. Starting the client costs
about a CPU second of imports, so each ``OpenStackCli`` keeps one worker process that runs the
client's own entry point (``openstackclient.shell.main``, what the ``openstack`` script calls)
once per command, with a fresh shell each time: the same code path minus the interpreter start.
``OpenStackCli.script`` runs one command through the installed ``openstack`` script itself.
"""
import contextlib
import io
import json
import os
import subprocess
import sys

TIMEOUT = 60


def openstack_command():
    path = os.path.join(os.path.dirname(sys.executable), "openstack")
    if not os.path.exists(path):
        raise RuntimeError("no openstack command beside this Python: install the test extras "
                           "(pip install -e '.[test]')")
    return path


class OpenStackCli:
    """``cli("network", "list")`` -> parsed JSON; ``cli.fail(...)`` -> stderr of a refusal."""

    def __init__(self, workdir, **os_vars):
        self.workdir = str(workdir)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": self.workdir,             # no ~/.config/openstack/clouds.yaml
                    "OS_CLIENT_CONFIG_FILE": os.devnull,
                    **{k.upper(): str(v) for k, v in os_vars.items()}}
        self.worker = None

    def with_vars(self, **os_vars):
        """Another client: these variables added to (or replacing) this one's."""
        other = OpenStackCli(self.workdir)
        other.env = {**self.env, **{k.upper(): str(v) for k, v in os_vars.items()}}
        return other

    def run(self, *args):
        """(exit code, stdout, stderr) of ``openstack ARGS``."""
        if self.worker is None:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "tests.openstack_cli"], env=self.env, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.worker.stdin.write(json.dumps(list(args)) + "\n")
        self.worker.stdin.flush()
        line = self.worker.stdout.readline()
        if not line:
            raise RuntimeError(f"the openstack worker died running {args}")
        done = json.loads(line)
        return done["code"], done["stdout"], done["stderr"]

    def script(self, *args):
        """``openstack ARGS`` through the installed script, in a process of its own."""
        done = subprocess.run([openstack_command(), *args], env=self.env, capture_output=True,
                              text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        return done.returncode, done.stdout, done.stderr

    def __call__(self, *args):
        """Run a command that prints something; its ``-f json`` output, parsed."""
        code, out, err = self.run(*args, "-f", "json")
        assert code == 0, f"openstack {' '.join(args)}: {err[-2000:]}"
        return json.loads(out)

    def ok(self, *args):
        """Run a command that prints nothing (set, delete)."""
        code, out, err = self.run(*args)
        assert code == 0, f"openstack {' '.join(args)}: {err[-2000:]}"
        return out

    def fail(self, *args):
        """Run a command that must be refused; its error output."""
        code, out, err = self.run(*args)
        assert code != 0, f"openstack {' '.join(args)} succeeded: {out}"
        return err

    def close(self):
        if self.worker is not None:
            self.worker.stdin.close()
            try:
                self.worker.wait(10)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
            self.worker = None


def _serve():
    """The worker: one JSON argv per line in, one JSON result per line out."""
    from openstackclient import shell
    replies = sys.stdout
    for line in sys.stdin:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = shell.main(json.loads(line))
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 1
        replies.write(json.dumps({"code": code, "stdout": out.getvalue(),
                                  "stderr": err.getvalue()}) + "\n")
        replies.flush()


if __name__ == "__main__":
    _serve()
