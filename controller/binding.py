"""Which hypervisor interface binds which port: the binding authority (docs/security.md).

A hypervisor names an interface's port in the Interface's ``external_ids``:

- ``iface-id`` equal to a port's id (a UUID only the server makes) binds that port, always:
  the Neutron/OVN convention, and the one a compute service should follow;
- ``iface-id`` equal to an attachment string (Quantum v1.0's ``PUT .../attachment``, v2.0's
  ``attachment``) binds only together with ``qnet-project-id``, the project the hypervisor
  started the interface for: attachments are scoped to the project that set them, so another
  project naming the same string neither blocks the owner (no 409) nor receives its traffic;
- an attachment claim without ``qnet-project-id`` cannot be told apart from another project's
  claim of the same string: it binds nothing, and the ports naming that attachment say why in
  their ``binding_error``.

Pure functions over plain values, shared by the back-end's full and incremental placement and
by the API tests: *claims* are ``{iface-id: {declared project or None: {chassis id: ofport}}}``
and a port is anything with ``id``, ``project_id`` and ``attachment`` (a port value whose
``project_id`` is None, as unit-test fixtures make, matches undeclared claims).
"""
PROJECT_KEY = "qnet-project-id"

UNDECLARED = ("interface {attachment} is claimed without external_ids:" + PROJECT_KEY +
              ": an attachment binds only an interface declared for its project")


def add_claim(claims, iface_id, project_id, chassis_id, ofport):
    """Record that ``chassis_id`` has ``iface_id`` (declared for ``project_id``) at
    ``ofport``; a chassis' first claim of a key stands."""
    claims.setdefault(iface_id, {}).setdefault(project_id, {}).setdefault(chassis_id, ofport)


def drop_claim(claims, iface_id, project_id, chassis_id):
    by_project = claims.get(iface_id, {})
    holders = by_project.get(project_id, {})
    holders.pop(chassis_id, None)
    if not holders:
        by_project.pop(project_id, None)
        if not by_project:
            claims.pop(iface_id, None)


def holders_of(port, claims):
    """({chassis id: ofport} of the interfaces that bind ``port``, error or None).

    The error says why a port that an interface does claim is not bound (an undeclared
    attachment claim); it is None when the port is bound or simply not claimed.
    """
    holders = {}
    for per_chassis in claims.get(port.id, {}).values():
        for chassis_id, ofport in per_chassis.items():
            holders.setdefault(chassis_id, ofport)
    if port.attachment:
        by_project = claims.get(port.attachment, {})
        for chassis_id, ofport in by_project.get(port.project_id, {}).items():
            holders.setdefault(chassis_id, ofport)
        if not holders and port.project_id is not None and None in by_project:
            return {}, UNDECLARED.format(attachment=port.attachment)
    return holders, None


def claimed_ids(port):
    """The iface-ids whose claims can bind ``port``: its id and its attachment."""
    return (port.id, port.attachment) if port.attachment else (port.id,)
