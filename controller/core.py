"""The core service: owns the database and the plug-in, and runs every write as one transaction.

Resource logic lives in one manager per resource (controller/networks.py, subnets.py, ports.py),
all with the same interface, so the REST layer can serve any of them the same way.
"""
import dataclasses
import uuid

from controller import changelog, rbac, snapshot
from controller.db import Database
from controller.models import Hypervisor
from controller.plugin import load_plugin


@dataclasses.dataclass
class CoreConfig:
    """Settings of the logical model (see ``controller.config`` for where they come from)."""

    vni_min: int = 1000
    vni_max: int = 16777215
    #: Default MTU of a new network: 1450 leaves room for VXLAN over a 1500-byte underlay.
    default_mtu: int = 1450
    max_mtu: int = 9000
    base_mac: str = "fa:16:3e"
    #: A YAML/JSON file whose rules override the authorization defaults (controller/policy.py).
    policy_file: str | None = None
    #: Each project's default limits (controller/quotas.py; -1: none), Neutron's defaults.
    quota_floatingip: int = 50
    quota_router: int = 10


class Core:
    """Entry point of the logical model: ``core.networks``, ``core.subnets``, ``core.ports``,
    ``core.qos`` (QoS policies; the qos extension serves them), ``core.routers`` and
    ``core.floating_ips`` (the router extension's), ``core.security_groups`` with
    ``core.security_group_rules`` (the security-group extension), ``core.address_groups``
    (the address-group extension: CIDRs that rules may name), ``core.rbac_policies``
    (sharing networks and QoS policies with some projects); ``core.policy`` judges who may do
    what."""

    def __init__(self, db, plugin, config=None):
        from controller.floatingips import FloatingIPManager
        from controller.networks import NetworkManager
        from controller.policy import Policy
        from controller.quotas import QuotaManager
        from controller.ports import PortManager
        from controller.qos import BandwidthLimitRuleManager, QosPolicyManager
        from controller.rbac import RbacPolicyManager
        from controller.routers import RouterManager
        from controller.address_groups import AddressGroupManager
        from controller.security_groups import SecurityGroupManager, SecurityGroupRuleManager
        from controller.subnets import SubnetManager

        self.db = db
        self.plugin = plugin
        self.config = config or CoreConfig()
        self.policy = Policy(self.config.policy_file)
        self.networks = NetworkManager(self)
        self.subnets = SubnetManager(self)
        self.ports = PortManager(self)
        self.qos = QosPolicyManager(self)
        self.qos_rules = BandwidthLimitRuleManager(self)
        self.security_groups = SecurityGroupManager(self)
        self.security_group_rules = SecurityGroupRuleManager(self)
        self.address_groups = AddressGroupManager(self)
        self.routers = RouterManager(self)
        self.floating_ips = FloatingIPManager(self)
        self.rbac_policies = RbacPolicyManager(self)
        self.quotas = QuotaManager(self)
        self.managers = {m.collection: m for m in (self.networks, self.subnets, self.ports)}
        #: this process among the instances sharing the database (controller/cluster.py)
        self.instance_id = str(uuid.uuid4())
        self.feed = changelog.ChangeFeed(self, self.instance_id)
        self._boot_snapshot = None

    @classmethod
    def from_url(cls, db_url, plugin="noop", config=None):
        plugin_obj = load_plugin(plugin) if isinstance(plugin, str) else plugin
        core = cls(Database(db_url), plugin_obj, config)
        core.write(lambda session: (rbac.backfill(session), []))
        # the plug-in boots from the snapshot the change log is followed from
        core._boot_snapshot = core.feed.begin()
        plugin_obj.start(core)
        core._boot_snapshot = None
        return core

    def write(self, work, veto=True):
        """Run ``work(session) -> (result, [Change, ...])`` as one transaction.

        The plug-in may veto each change before commit (the transaction then rolls back and
        nothing is stored; not for ``veto=False``: a back-end's own status reports); the
        changes are appended to the change log in the same transaction (the other instances
        of a cluster follow it: controller/changelog.py); after commit the plug-in is told
        about each change, in order.
        """
        def transaction(session):
            result, changes = work(session)
            session.flush()
            if veto:
                for change in changes:
                    self.plugin.check(change)
            return result, changes, changelog.append(session, changes, self.instance_id)

        result, changes, seqs = self.db.run_write(transaction)
        self.feed.committed(changes, seqs)
        if changes:
            self.plugin.committed()
        return result

    def logical_snapshot(self):
        """Every network, subnet, port, QoS policy, router, floating IP and security group as
        typed values (controller/logical.py), read in one transaction: what a back-end mirrors
        when it boots (at start, the one the change log is followed from)."""
        if self._boot_snapshot is not None:
            return self._boot_snapshot
        with self.db.read() as session:
            return snapshot.snapshot(session)

    def hypervisor_registered(self, system_id):
        """Whether ``qnet-manage hypervisor add`` registered ``system_id`` (the allow-list the
        back-end applies with ``hypervisors = registered``)."""
        with self.db.read() as session:
            return session.get(Hypervisor, system_id) is not None

    def close(self):
        self.plugin.stop()
        self.db.dispose()
