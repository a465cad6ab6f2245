"""``auth = keystone``: the caller is whoever Keystone says the ``X-Auth-Token`` belongs to.

Tokens are validated by keystonemiddleware's ``auth_token``, the library Neutron puts in front of
its API, configured exactly as in Neutron: a ``[keystone_authtoken]`` section (``auth_url``,
``www_authenticate_uri``, the service user qnet validates tokens as, ``token_cache_time``, ...)
in the file named by the ``keystone_config`` setting (by default qnet's own ``--config`` file).
The middleware reads that file with a private oslo.config object: os-ken owns the global one.

The middleware runs with ``delay_auth_decision``: it validates any token and sets the
identity headers, and leaves refusing to the router, so the version document and
``/openapi.json`` stay public while everything else needs a valid token (401 otherwise, with
the ``WWW-Authenticate: Keystone uri=...`` header pointing at Keystone). It removes identity
headers a client sends, so the headers read here come from a validated token only.
"""
import os

from controller import errors
from controller.context import Context


def protect(app, config_file):
    """``app`` behind auth_token, configured from ``config_file``'s [keystone_authtoken]."""
    from keystonemiddleware import auth_token
    if not os.path.isfile(config_file):
        raise ValueError(f"keystone_config {config_file} does not exist")
    return auth_token.AuthProtocol(app, {
        "oslo_config_project": "qnet", "oslo_config_file": config_file,
        "delay_auth_decision": "true"})


def context(req):
    """The request context of a token auth_token validated; 401 for any other request."""
    if req.headers.get("X-Identity-Status") != "Confirmed":
        raise errors.NotAuthenticated(
            "The token is missing, expired, revoked or not valid: ask Keystone for a new one.")
    roles = tuple(sorted({r.strip().lower() for r in req.headers.get("X-Roles", "").split(",")
                          if r.strip()}))
    return Context(project_id=req.headers.get("X-Project-Id") or None,
                   is_admin="admin" in roles, roles=roles,
                   user_id=req.headers.get("X-User-Id") or None,
                   system_scope=req.headers.get("OpenStack-System-Scope") or None)
