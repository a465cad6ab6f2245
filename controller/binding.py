"""Which port a hypervisor's interface binds: the binding authority (docs/security.md).

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
"""
PROJECT_KEY = "qnet-project-id"

UNDECLARED = ("interface {iface_id} names attachment {iface_id} but not its project "
              f"(external_ids:{PROJECT_KEY}); an attachment binds only with it")


class BindingIndex:
    """The ports an interface can bind, by port id and by (attachment, project).

    Ports are any objects with ``id``, ``project_id`` and ``attachment``; the index keeps them
    as given, so the back-end's own port records can be indexed.
    """

    def __init__(self, ports=()):
        self.by_id = {}
        self.by_attachment = {}   # attachment -> {project id: port}
        for port in ports:
            self.add(port)

    def add(self, port):
        self.by_id[port.id] = port
        if port.attachment is not None:
            self.by_attachment.setdefault(port.attachment, {})[port.project_id] = port

    def remove(self, port):
        if self.by_id.get(port.id) is port:
            del self.by_id[port.id]
        holders = self.by_attachment.get(port.attachment) if port.attachment else None
        if holders is not None and holders.get(port.project_id) is port:
            del holders[port.project_id]
            if not holders:
                del self.by_attachment[port.attachment]

    def resolve(self, iface_id, project_id=None):
        """(port or None, error or None) for an interface's ``iface-id`` and declared project.

        The error, when there is one, is for the ports that hold ``iface_id`` as attachment
        (``holders(iface_id)``): why none of them was bound.
        """
        if not iface_id:
            return None, None
        port = self.by_id.get(iface_id)
        if port is not None:
            return port, None
        holders = self.by_attachment.get(iface_id)
        if not holders:
            return None, None
        if project_id is None:
            return None, UNDECLARED.format(iface_id=iface_id)
        return holders.get(project_id), None

    def holders(self, iface_id):
        """The ports whose attachment is ``iface_id`` (any project)."""
        return list(self.by_attachment.get(iface_id, {}).values())
