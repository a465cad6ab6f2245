"""Who is calling: ``noauth`` trusts headers (development), ``token`` checks API tokens,
``keystone`` believes Keystone (rest/keystone.py).

Tokens are random strings shown once at creation (``qnet-manage token create``); the database
keeps only their SHA-256 digest.
"""
import hashlib
import re
import secrets

from sqlalchemy import select

from controller import errors
from controller.context import Context
from controller.models import Project, Token, utcnow
from controller.resource import isoformat
from rest import keystone
from rest.attributes import PROJECT

MODES = ("noauth", "token", "keystone")
# Quantum v1.0 names the tenant in the URL; without headers, noauth mode believes it.
V1_TENANT = re.compile(r"^/v1\.\d/tenants/([^/]+)")


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def new_token():
    return "qnet-" + secrets.token_urlsafe(32)


def _roles(req):
    return {r.strip().lower() for r in req.headers.get("X-Roles", "").split(",") if r.strip()}


class Authenticator:
    def __init__(self, db, mode="token", noauth_project="demo"):
        if mode not in MODES:
            raise ValueError(f"auth mode must be one of {MODES}, not {mode!r}")
        self.db, self.mode, self.noauth_project = db, mode, noauth_project

    def __call__(self, req):
        if self.mode == "noauth":
            v1_tenant = V1_TENANT.match(req.path_info)
            project = (req.headers.get("X-Project-Id") or req.headers.get("X-Tenant-Id")
                       or (v1_tenant and v1_tenant.group(1)) or self.noauth_project)
            # the project names what it creates: it must fit where project ids are stored
            PROJECT.convert("project_id", project)
            return Context(project_id=project, is_admin="admin" in _roles(req))
        if self.mode == "keystone":
            return keystone.context(req)
        token = req.headers.get("X-Auth-Token")
        if not token:
            raise errors.NotAuthenticated()
        with self.db.read() as session:
            row = session.scalars(select(Token).where(Token.digest == digest(token))).first()
            if row is None:
                raise errors.NotAuthenticated("The token is not valid.")
            if row.expires_at is not None and row.expires_at <= utcnow():
                raise errors.NotAuthenticated(
                    f"The token expired at {isoformat(row.expires_at)}: ask for a new one.")
            return Context(project_id=row.project_id, is_admin=row.is_admin)


def create_token(db, project_id, is_admin=False, description="", expires_at=None):
    """Create ``project_id`` if needed and a token for it; return the token (shown once).

    ``expires_at`` (naive UTC datetime) ends its life; None: it lasts until revoked.
    """
    token = new_token()

    def work(session):
        if session.get(Project, project_id) is None:
            session.add(Project(id=project_id, name=project_id))
        session.add(Token(digest=digest(token), project_id=project_id, is_admin=is_admin,
                          description=description, expires_at=expires_at))
    db.run_write(work)
    return token
