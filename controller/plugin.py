"""The plug-in contract: how the core tells a back-end about every change.

The API and the logical model never depend on one back-end technology: the core commits a change,
then hands the selected plug-in a ``Change`` that says who made it and what the resource looked like
before and after, both as the API shows it and as typed values (controller/logical.py: what a
back-end should read, so that no back-end depends on the API's attribute names). A back-end that
starts reads the whole model as typed values with ``core.logical_snapshot()``. Back-ends are found
by name through the ``qnet.plugins`` entry-point group.

A plug-in implements only the hooks it cares about, named ``<resource>_<action>``:
``network_created``, ``network_updated``, ``network_deleted``, the same for ``subnet`` and
``port``, ``qos_policy_created`` / ``_updated`` / ``_deleted`` (a rule change is an update of
its policy, whose ``rules`` are always complete), ``security_group_created`` / ``_updated`` /
``_deleted`` (likewise: a rule created or deleted is an update of its group), and
``interface_plugged`` / ``interface_unplugged`` for attachments, and ``port_status``: a back-end's own report of
where a port is bound and whether it is ACTIVE (``PortManager.report_status``; a Change like
any write, so that every listener sees it, and never vetoed). ``check(change)`` runs *before*
the commit and may raise a ``QnetError`` to veto the change (nothing is stored).

Besides changes, the core may ask a back-end for what only it knows: ``port_stats(port)``
(counters such as bandwidth-limit drops). The default answers 501: the back-end keeps none.
"""
import dataclasses
import logging
from importlib import metadata

from controller import errors, logical
from controller.context import Context

LOG = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "qnet.plugins"


@dataclasses.dataclass(frozen=True)
class Change:
    """One committed change. ``old``/``before`` are None on create, ``new``/``after`` on delete.

    ``old``/``new`` are plain dicts (the resource as the API shows it to an admin), detached
    from any database session, so a plug-in may keep them. ``before``/``after`` are the same
    as typed values (controller/logical.py): what a back-end reads, so that no back-end reads
    an API attribute name. A change made without the API (a benchmark) may give only those.
    """

    resource: str
    action: str
    context: Context
    old: dict | None
    new: dict | None
    before: object = None
    after: object = None

    def __post_init__(self):
        for typed, body in (("before", self.old), ("after", self.new)):
            if getattr(self, typed) is None and body is not None:
                object.__setattr__(self, typed, logical.from_api(self.resource, body))

    @property
    def hook(self):
        return f"{self.resource}_{self.action}"

    @property
    def current(self):
        return self.new if self.new is not None else self.old

    @property
    def subject(self):
        """The typed value the change is about: as it is now, or as it was before a delete."""
        return self.after if self.after is not None else self.before


class Plugin:
    """Base class of back-ends. Every hook is optional."""

    name = "base"
    #: os-ken application modules the service loads for this back-end.
    osken_apps = ()

    def start(self, core):
        """Called once the core is ready; keep ``core`` to report status back."""
        self.core = core

    def stop(self):
        """Called on shutdown."""

    def configure(self, config):
        """Called with the service settings before the os-ken apps start."""

    def osken_args(self, config):
        """Extra os-ken configuration arguments (e.g. where to listen for OVSDB)."""
        return []

    def bind_apps(self, apps):
        """Called with the instantiated os-ken apps (name -> app) once the hub runs them."""

    def topology(self):
        """The switches, links and bindings the back-end sees (admin API). Back-ends without
        a topology say so with a 404."""
        raise errors.NotFound(f"The {self.name} plug-in has no topology: it programs no "
                              "switches (use --plugin openflow, in --mode overlay or fabric).")

    def trace(self, query, describe, live=False):
        """What the back-end's switches would do with one packet (apps/trace.py ``Query``),
        naming resources with ``describe(kind, id)``; ``live``: compare with what the
        switches hold. Back-ends that program no switches answer 501."""
        raise errors.TraceNotAvailable(plugin=self.name)

    def check(self, change):
        """Veto point inside the transaction: raise a QnetError to refuse ``change``."""

    def port_stats(self, port):
        """Per-port data-plane statistics of ``port`` (a controller.logical.Port) as a
        JSON-able dict."""
        raise errors.StatsNotAvailable(plugin=self.name)

    def notify(self, change):
        """Called after commit; dispatches to the ``<resource>_<action>`` hook if defined."""
        hook = getattr(self, change.hook, None)
        if hook is not None:
            hook(change)

    def committed(self):
        """Every change of one committed write has been notified: a back-end that works in
        the background may start on them now, before the API answers."""


def available_plugins():
    return sorted(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))


def load_plugin(name, **options):
    """Instantiate the plug-in registered under ``name``."""
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()(**options)
    raise LookupError(f"no qnet plug-in named {name!r}; installed: {', '.join(available_plugins())}")
