"""A throwaway Keystone for the tests (and for trying ``auth = keystone`` by hand): Keystone from
PyPI with a SQLite database and fernet keys in a directory of its own, served by a threaded
WSGI server on a loopback port.

    with KeystoneServer(workdir) as ks:          # db_sync, fernet_setup, bootstrap, serve
        ks.admin_session()                       # keystoneauth1 session of the admin
        ks.add_user("alice", "project-a", "member")
        ks.qnet_authtoken_section()              # [keystone_authtoken] for qnet serve

    python -m simulations.keystone serve CONFIG HOST:PORT   # the server process itself

Set-up costs a few seconds (three ``keystone-manage`` runs); passwords are hashed with few
bcrypt rounds so that each login costs milliseconds, not a quarter second of CPU.
"""
import grp
import os
import pwd
import secrets
import subprocess
import sys
from pathlib import Path

from simulations.serve import free_port, qnet_command, spawn_listening, stop

REGION = "RegionOne"
DOMAIN = "Default"


class KeystoneServer:
    """Keystone on a free loopback port, state in ``workdir`` (removed with it)."""

    def __init__(self, workdir, token_expiration=3600, port=None):
        self.dir = Path(workdir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/v3"
        self.admin_password = secrets.token_hex(16)
        self.config = self.dir / "keystone.conf"
        self.token_expiration = token_expiration
        self.proc = None
        self._session = None

    # -- set-up ---------------------------------------------------------------------------------
    def write_config(self):
        for d in ("fernet-keys", "receipt-keys"):
            (self.dir / d).mkdir(mode=0o700, exist_ok=True)
        self.config.write_text(
            "[DEFAULT]\n"
            f"log_file = {self.dir / 'keystone.log'}\n"
            "[database]\n"
            f"connection = sqlite:///{self.dir / 'keystone.sqlite'}\n"
            "[fernet_tokens]\n"
            f"key_repository = {self.dir / 'fernet-keys'}\n"
            "[fernet_receipts]\n"
            f"key_repository = {self.dir / 'receipt-keys'}\n"
            "[identity]\n"
            "password_hash_rounds = 4\n"
            "[token]\n"
            f"expiration = {self.token_expiration}\n")

    def manage(self, *args):
        done = subprocess.run([qnet_command("keystone-manage"), "--config-file",
                               str(self.config), *args], capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"keystone-manage {' '.join(args)} failed:\n{done.stderr[-3000:]}")

    def bootstrap(self):
        """The database, the keys, the admin user/project and the identity endpoint."""
        self.write_config()
        self.manage("db_sync")
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        self.manage("fernet_setup", "--keystone-user", user, "--keystone-group", group)
        self.manage("bootstrap", "--bootstrap-password", self.admin_password,
                    "--bootstrap-admin-url", self.url, "--bootstrap-public-url", self.url,
                    "--bootstrap-internal-url", self.url, "--bootstrap-region-id", REGION)

    def start(self, bootstrap=True, timeout=60):
        if bootstrap:
            self.bootstrap()
        self.proc = spawn_listening([sys.executable, "-m", "simulations.keystone", "serve",
                                     str(self.config), f"127.0.0.1:{self.port}"],
                                    self.dir / "keystone-serve.log", self.port, timeout)
        return self

    def stop(self):
        return stop(self.proc) if self.proc is not None else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- identity -------------------------------------------------------------------------------
    def session(self, username, password, project=None, system=False):
        """A keystoneauth1 session of a user, scoped to ``project`` or to the system."""
        from keystoneauth1 import session
        from keystoneauth1.identity import v3
        scope = {"system_scope": "all"} if system else \
            {"project_name": project, "project_domain_name": DOMAIN}
        auth = v3.Password(auth_url=self.url, username=username, password=password,
                           user_domain_name=DOMAIN, **scope)
        return session.Session(auth=auth)

    def admin_session(self):
        if self._session is None:
            self._session = self.session("admin", self.admin_password, "admin")
        return self._session

    def token(self, username, password, project=None, system=False):
        return self.session(username, password, project, system).get_token()

    def _find_or_create(self, kind, name, body):
        s = self.admin_session()
        found = s.get(f"{self.url}/{kind}s", params={"name": name}).json()[f"{kind}s"]
        if found:
            return found[0]["id"]
        return s.post(f"{self.url}/{kind}s", json={kind: body}).json()[kind]["id"]

    def project(self, name):
        """The id of project ``name`` (made if missing)."""
        return self._find_or_create("project", name, {"name": name, "domain_id": "default"})

    def role(self, name):
        return self._find_or_create("role", name, {"name": name})

    def add_user(self, name, project, *roles, password=None):
        """User ``name`` with ``roles`` on ``project`` (made if missing); its password."""
        password = password or secrets.token_hex(12)
        user = self._find_or_create("user", name, {"name": name, "domain_id": "default",
                                                   "password": password})
        self.admin_session().patch(f"{self.url}/users/{user}",
                                   json={"user": {"password": password}})
        project_id = self.project(project)
        for role in roles:
            self.admin_session().put(
                f"{self.url}/projects/{project_id}/users/{user}/roles/{self.role(role)}")
        return password

    def revoke(self, token):
        """Revoke a token (as ``openstack token revoke``)."""
        self.admin_session().delete(f"{self.url}/auth/tokens", headers={"X-Subject-Token": token})

    def qnet_authtoken_section(self, password, username="qnet", cache_time=300):
        """The [keystone_authtoken] section of a qnet serve validating tokens as ``username``
        (a user with the ``service`` role on project ``service``)."""
        return ("[keystone_authtoken]\n"
                f"www_authenticate_uri = {self.url}\n"
                f"auth_url = {self.url}\n"
                "auth_type = password\n"
                f"username = {username}\n"
                f"password = {password}\n"
                "project_name = service\n"
                "user_domain_name = Default\n"
                "project_domain_name = Default\n"
                f"token_cache_time = {cache_time}\n")


def serve(config, listen):
    """Serve Keystone's WSGI application (its Flask app) until killed."""
    import socketserver
    from wsgiref import simple_server
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = config
    sys.argv[1:] = []  # Keystone parses the command line as its own options
    from keystone.server import wsgi
    app = wsgi.initialize_public_application()

    class Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
        daemon_threads = True

    class Quiet(simple_server.WSGIRequestHandler):
        def log_message(self, *args):
            pass

    host, _, port = listen.rpartition(":")
    simple_server.make_server(host, int(port), app, server_class=Server,
                              handler_class=Quiet).serve_forever()


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"] or len(sys.argv) != 4:
        raise SystemExit("usage: python -m simulations.keystone serve CONFIG HOST:PORT")
    serve(sys.argv[2], sys.argv[3])
