"""Where the client's settings come from: flags, then environment, then an INI file.

    QNET_URL      http://127.0.0.1:9696 by default
    QNET_TOKEN    API token (``qnet-manage token create``); X-Auth-Token
    QNET_PROJECT  noauth servers: the project to act as (X-Project-Id);
                  with an admin token: the project to create in and list from
    QNET_ADMIN    noauth servers: 1 to send X-Roles: admin
    QNET_CONFIG   the INI file (default ~/.config/qnet/client.ini), e.g.

        [qnet]
        url = http://127.0.0.1:9696
        token = qnet-...
"""
import configparser
import dataclasses
import os

DEFAULT_URL = "http://127.0.0.1:9696"
DEFAULT_FILE = os.path.join("~", ".config", "qnet", "client.ini")
TRUE = ("1", "true", "yes", "on")


@dataclasses.dataclass
class Settings:
    url: str = DEFAULT_URL
    token: str | None = None
    project: str | None = None
    admin: bool = False
    timeout: float = 30.0

    @classmethod
    def load(cls, url=None, token=None, project=None, admin=None, config=None, env=None):
        """Flags (non-None arguments) win over the environment, which wins over the file."""
        env = os.environ if env is None else env
        values = cls._from_file(config or env.get("QNET_CONFIG"), required=bool(config))
        for key in ("url", "token", "project", "admin"):
            if env.get("QNET_" + key.upper()):
                values[key] = env["QNET_" + key.upper()]
        for key, value in (("url", url), ("token", token), ("project", project),
                           ("admin", admin)):
            if value is not None:
                values[key] = value
        if isinstance(values.get("admin"), str):
            values["admin"] = values["admin"].strip().lower() in TRUE
        if "timeout" in values:
            values["timeout"] = float(values["timeout"])
        return cls(**values)

    @staticmethod
    def _from_file(path, required):
        path = os.path.expanduser(path or DEFAULT_FILE)
        parser = configparser.ConfigParser()
        if not parser.read(path):
            if required:
                raise ValueError(f"cannot read config file {path}")
            return {}
        if not parser.sections():
            return {}                   # an empty file (e.g. /dev/null) sets nothing
        if not parser.has_section("qnet"):
            raise ValueError(f"{path}: no [qnet] section")
        known = {f.name for f in dataclasses.fields(Settings)}
        unknown = sorted(set(parser["qnet"]) - known)
        if unknown:
            raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)}")
        return dict(parser["qnet"])
