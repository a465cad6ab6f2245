"""Joining a hypervisor on purpose: the ``ovs-vsctl`` steps of ``qnet-manage hypervisor add``.

A hypervisor is whatever connects to the OVSDB manager with a ``system-id``; one set up by hand
easily misses a piece (the tunnel address, OpenFlow13, fail_mode=secure, the ovsdb-server
remote that makes it read the Manager table), and then its ports are lost in silence.
``join_steps`` returns the complete recipe as argv lists, so the command can print it for an
operator to run on the hypervisor, or run it itself (``--run``) on an all-in-one host or a lab.
docs/hypervisors.md explains each setting.
"""
import dataclasses

import netaddr

from apps.chassis_model import OPENFLOW_VERSION

BRIDGE = "br-int"
# ovsdb-server reads the Manager table (what set-manager writes) only with this remote; the
# packaged ovs-ctl starts it so, hand-started servers (``ovsdb-server conf.db --remote=punix:``)
# lack it, and then set-manager does nothing.
MANAGER_REMOTE = "db:Open_vSwitch,Open_vSwitch,manager_options"
DEFAULT_OFP_PORT, DEFAULT_OVSDB_PORT = 6653, 6640


@dataclasses.dataclass(frozen=True)
class Tls:
    """The hypervisor's own key and certificate (``qnet-manage pki hypervisor``) and the CA
    certificate it checks the controller with; paths as seen on the hypervisor."""
    private_key: str
    certificate: str
    ca_certificate: str


def target(address, default_port, tls=False):
    """An OVS connection target (``tcp:H:P`` / ``ssl:H:P``) from HOST[:PORT] or a full target.

    Raises ValueError for an address that is neither an IP address nor has a valid port: OVS
    targets take addresses, not names.
    """
    if address.startswith(("tcp:", "ssl:")):
        address = address.split(":", 1)[1]
    host, port = address, default_port
    if address.startswith("["):                         # [v6]:port
        host, _, rest = address[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else default_port
    elif address.count(":") == 1:
        host, port = address.split(":")
        port = int(port)
    ip = _address(host)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    shown = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"{'ssl' if tls else 'tcp'}:{shown}:{port}"


def _address(text):
    try:
        return netaddr.IPAddress(text)
    except (netaddr.AddrFormatError, TypeError, ValueError):
        raise ValueError(f"{text!r} is not an IP address") from None


def join_steps(name, tunnel_ip, controller, manager, tls=None, vsctl=("ovs-vsctl",),
               appctl=("ovs-appctl", "-t", "ovsdb-server")):
    """The argv lists that make a hypervisor join: each idempotent, so re-running fixes a
    half-set-up host. ``controller`` / ``manager``: HOST[:PORT] of ``qnet serve``'s
    ``ofp_listen`` / ``ovsdb_listen``; ``tls``: a Tls, or None for plain TCP. ``vsctl`` and
    ``appctl`` are the command prefixes (e.g. with ``--db=unix:...`` / ``-t <ctl socket>``).

    Raises ValueError for a bad name, tunnel address or target.
    """
    if not name or any(c.isspace() for c in name) or name != name.strip():
        raise ValueError(f"hypervisor name {name!r} is empty or has white space")
    tunnel = _address(tunnel_ip)
    vsctl, appctl = list(vsctl), list(appctl)
    steps = [
        [*appctl, "ovsdb-server/add-remote", MANAGER_REMOTE],
        [*vsctl, "set", "Open_vSwitch", ".", f"external_ids:system-id={name}",
         f"external_ids:qnet-tunnel-ip={tunnel}"],
        [*vsctl, "--may-exist", "add-br", BRIDGE, "--", "set", "Bridge", BRIDGE,
         "datapath_type=netdev", f"protocols={OPENFLOW_VERSION}", "fail_mode=secure",
         "other_config:disable-in-band=true"],
    ]
    if tls is not None:
        steps.append([*vsctl, "set-ssl", tls.private_key, tls.certificate,
                      tls.ca_certificate])
    steps += [
        [*vsctl, "set-controller", BRIDGE, target(controller, DEFAULT_OFP_PORT, bool(tls))],
        [*vsctl, "set-manager", target(manager, DEFAULT_OVSDB_PORT, bool(tls))],
    ]
    return steps
