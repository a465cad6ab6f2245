"""Who is asking: the request context every core operation takes."""
import dataclasses
import uuid


@dataclasses.dataclass(frozen=True)
class Context:
    """A caller's identity. ``project_id`` is None only for the admin tools (qnet-manage) and
    for Keystone system-scoped tokens (``system_scope`` "all").

    ``roles`` are the roles a Keystone token carries (``auth = keystone``); None for qnet's own
    tokens and noauth, whose callers are members of their project. ``is_admin`` alone decides
    whether the caller is an administrator (controller/policy.py builds the credentials).
    """

    project_id: str | None
    is_admin: bool = False
    request_id: str = dataclasses.field(default_factory=lambda: "req-" + str(uuid.uuid4()))
    roles: tuple | None = None
    user_id: str | None = None
    system_scope: str | None = None

    @classmethod
    def admin(cls):
        return cls(project_id=None, is_admin=True)
