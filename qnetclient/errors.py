"""Typed client errors, one per HTTP status class the API uses, carrying the server's message.

Callers catch what they can handle (``except NotFound``) and let the rest surface with the text
the server wrote, which already says what is wrong and how to fix it.
"""


class ClientError(Exception):
    """An error response from qnet (or a failure to talk to it)."""

    status = None

    def __init__(self, message, status=None, type=None, detail=""):
        super().__init__(message)
        self.message = message
        self.status = status if status is not None else self.status
        self.type = type
        self.detail = detail

    def __str__(self):
        return f"{self.message} (HTTP {self.status})" if self.status else self.message


class BadRequest(ClientError):
    status = 400


class Unauthorized(ClientError):
    status = 401


class Forbidden(ClientError):
    status = 403


class NotFound(ClientError):
    status = 404


class Conflict(ClientError):
    status = 409


class Ambiguous(ClientError):
    """A name matches several resources: the caller must use an id."""


class ConnectionFailed(ClientError):
    """The server could not be reached at all."""


BY_STATUS = {cls.status: cls for cls in (BadRequest, Unauthorized, Forbidden, NotFound, Conflict)}


def from_response(status, body, fallback):
    """The exception for an error response; ``body`` is the parsed JSON or None.

    Understands Neutron's ``{"NeutronError": {"type", "message", "detail"}}`` and Quantum
    v1.0's ``{"networkNotFound": {"message", ...}}``.
    """
    fault = {}
    if isinstance(body, dict) and len(body) == 1:
        (inner,) = body.values()
        if isinstance(inner, dict):
            fault = inner
    if isinstance(body, dict) and "NeutronError" in body:
        fault = body["NeutronError"]
    message = fault.get("message") or fallback or f"HTTP {status}"
    cls = BY_STATUS.get(status, ClientError)
    return cls(message, status=status, type=fault.get("type"), detail=fault.get("detail", ""))
