"""Who is asking: the request context every core operation takes."""
import dataclasses
import uuid


@dataclasses.dataclass(frozen=True)
class Context:
    """A caller's identity. ``project_id`` is None only for the admin tools (qnet-manage)."""

    project_id: str | None
    is_admin: bool = False
    request_id: str = dataclasses.field(default_factory=lambda: "req-" + str(uuid.uuid4()))

    @classmethod
    def admin(cls):
        return cls(project_id=None, is_admin=True)
