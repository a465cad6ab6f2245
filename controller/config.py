"""Service settings: defaults, overridden by an INI file (``[qnet]`` section), overridden by flags.

Example file (every key optional)::

    [qnet]
    db_url = postgresql://qnet:secret@127.0.0.1/qnet
    api_listen = 127.0.0.1:9696
    ofp_listen = 192.0.2.10:6653
    ofp_unix_socket = /var/run/openvswitch/qnet-ofp.sock
    ovsdb_listen = 192.0.2.10:6640
    tls_private_key = /etc/qnet/pki/controller-privkey.pem
    tls_certificate = /etc/qnet/pki/controller-cert.pem
    tls_ca_certificate = /etc/qnet/pki/cacert.pem
    hypervisors = registered
    plugin = openflow
    mode = overlay
    auth = token
    policy_file = /etc/qnet/policy.yaml

With ``auth = keystone`` the same file holds keystonemiddleware's ``[keystone_authtoken]``
section (docs/keystone.md).
"""
import argparse
import configparser
import dataclasses

from controller.core import CoreConfig


@dataclasses.dataclass
class ServiceConfig:
    db_url: str = "sqlite:///qnet.sqlite"
    api_listen: str = "127.0.0.1:9696"
    # Loopback unless configured: a fresh install exposes no control channel by accident.
    ofp_listen: str = "127.0.0.1:6653"
    ofp_unix_socket: str = ""
    ovsdb_listen: str = "127.0.0.1:6640"
    tls_private_key: str = ""
    tls_certificate: str = ""
    tls_ca_certificate: str = ""
    hypervisors: str = "any"
    plugin: str = "openflow"
    mode: str = "overlay"
    auth: str = "token"
    keystone_config: str = ""
    noauth_project: str = "demo"
    vni_range: str = "1000:16777215"
    default_mtu: int = 1450
    max_page_size: int = 0
    max_request_body_size: int = 1024 * 1024
    resync_grace: int = 20
    log_level: str = "INFO"
    policy_file: str = ""
    quota_floatingip: int = 50
    quota_router: int = 10

    HELP = {
        "db_url": "SQLAlchemy URL of the database (SQLite file by default; "
                  "postgresql://user:pw@host/db works too)",
        "api_listen": "HOST:PORT the REST API listens on",
        "ofp_listen": "HOST:PORT the OpenFlow controller listens on (loopback by default: "
                      "give the underlay-facing address for remote hypervisors)",
        "ofp_unix_socket": "also accept OpenFlow on this unix socket, for a switch on this host "
                           "(ovs-vswitchd target unix:PATH, PATH in its run directory; no "
                           "TLS, mode 0600; empty: none; apps/ofp_unix.py)",
        "ovsdb_listen": "HOST:PORT switches' ovsdb-servers connect to as manager "
                        "(openflow plug-in; loopback by default, like ofp_listen)",
        "tls_private_key": "controller's TLS key: with tls_certificate and "
                           "tls_ca_certificate, OpenFlow and OVSDB accept only TLS from "
                           "hypervisors whose certificate that CA signed (qnet-manage pki)",
        "tls_certificate": "controller's TLS certificate (see tls_private_key)",
        "tls_ca_certificate": "CA certificate hypervisors' certificates must be signed by",
        "hypervisors": "'any' (every system-id that connects is a hypervisor) or 'registered' "
                       "(only those registered with qnet-manage hypervisor add; others are "
                       "refused and logged)",
        "plugin": "back-end plug-in name (entry point in group qnet.plugins)",
        "mode": "'overlay' (hypervisor bridges joined by VXLAN tunnels) or 'fabric' (a "
                "multi-switch OpenFlow fabric, ports bound by binding:profile; docs/fabric.md)",
        "auth": "'token' (X-Auth-Token, see qnet-manage token create), 'keystone' "
                "(Keystone tokens, validated by keystonemiddleware; docs/keystone.md) or "
                "'noauth' (trust X-Project-Id / X-Roles headers; development only)",
        "keystone_config": "INI file with the [keystone_authtoken] section of auth "
                           "keystone (default: the --config file)",
        "noauth_project": "project of noauth requests that name none",
        "vni_range": "MIN:MAX of the VXLAN ids given to new networks",
        "default_mtu": "MTU of new networks (1450 leaves room for VXLAN)",
        "max_page_size": "largest page a list returns (0: no limit)",
        "max_request_body_size": "largest request body in bytes; larger ones are refused "
                                 "with 413 before they are read",
        "resync_grace": "seconds after start during which the openflow plug-in only adds "
                        "flows, until every hypervisor that had active ports is back",
        "log_level": "DEBUG, INFO, WARNING or ERROR",
        "policy_file": "YAML or JSON file of authorization rules overriding the defaults "
                       "(docs/policy.md lists them); empty: the defaults",
        "quota_floatingip": "floating IPs a project may hold unless an admin set its own "
                            "limit (-1: no limit)",
        "quota_router": "routers a project may hold unless an admin set its own limit "
                        "(-1: no limit)",
    }

    def backend(self):
        """The plug-in to load: the openflow back-end comes in two modes."""
        if self.mode not in ("overlay", "fabric"):
            raise SystemExit(f"mode must be overlay or fabric, not {self.mode!r}")
        return "fabric" if self.mode == "fabric" and self.plugin == "openflow" else self.plugin

    def tls(self):
        """(private key, certificate, CA certificate), or None when TLS is off."""
        files = (self.tls_private_key, self.tls_certificate, self.tls_ca_certificate)
        if not any(files):
            return None
        if not all(files):
            raise SystemExit("TLS needs all of tls_private_key, tls_certificate and "
                             "tls_ca_certificate")
        return files

    def check_hypervisors(self):
        if self.hypervisors not in ("any", "registered"):
            raise SystemExit(f"hypervisors must be any or registered, not {self.hypervisors!r}")

    def core_config(self):
        low, _, high = self.vni_range.partition(":")
        return CoreConfig(vni_min=int(low), vni_max=int(high), default_mtu=self.default_mtu,
                          policy_file=self.policy_file or None,
                          quota_floatingip=self.quota_floatingip,
                          quota_router=self.quota_router)

    @staticmethod
    def split(listen):
        host, _, port = listen.rpartition(":")
        return host or "0.0.0.0", int(port)


def add_arguments(parser):
    parser.add_argument("--config", metavar="FILE", help="INI file with a [qnet] section")
    for field in dataclasses.fields(ServiceConfig):
        parser.add_argument("--" + field.name.replace("_", "-"), dest=field.name,
                            type=field.type if field.type is int else str, default=None,
                            help=f"{ServiceConfig.HELP[field.name]} (default: {field.default})")


def from_args(args):
    """Defaults < file < flags."""
    values = {}
    if getattr(args, "config", None):
        parser = configparser.ConfigParser()
        if not parser.read(args.config):
            raise SystemExit(f"cannot read config file {args.config}")
        section = parser["qnet"] if parser.has_section("qnet") else parser.defaults()
        names = {f.name: f for f in dataclasses.fields(ServiceConfig)}
        for key, value in section.items():
            key = key.replace("-", "_")
            if key not in names:
                raise SystemExit(f"{args.config}: unknown setting {key!r}")
            values[key] = int(value) if names[key].type is int else value
    for field in dataclasses.fields(ServiceConfig):
        if getattr(args, field.name, None) is not None:
            values[field.name] = getattr(args, field.name)
    if values.get("auth") == "keystone" and not values.get("keystone_config") and \
            getattr(args, "config", None):
        values["keystone_config"] = args.config  # Neutron's way: one file, two sections
    return ServiceConfig(**values)


def parser_with_config(description):
    parser = argparse.ArgumentParser(description=description)
    add_arguments(parser)
    return parser
