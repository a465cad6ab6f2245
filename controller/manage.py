"""``qnet-manage``: operator tasks done directly on the database (projects and API tokens).

Whoever can write the database is the operator, so this needs no token: it is how the first
admin token comes to be.
"""
import argparse
import datetime
import sys

from sqlalchemy import select

from controller import config
from controller.db import Database
from controller.models import Project, Token, utcnow
from controller.resource import isoformat


def main(argv=None):
    parser = argparse.ArgumentParser(prog="qnet-manage", description=__doc__.split("\n")[0])
    parser.add_argument("--config", metavar="FILE", help="INI file with a [qnet] section")
    parser.add_argument("--db-url", dest="db_url", default=None,
                        help="SQLAlchemy database URL (default: as qnet serve)")
    sub = parser.add_subparsers(dest="command", required=True)
    proj = sub.add_parser("project", help="projects (tenants)").add_subparsers(
        dest="action", required=True)
    p_create = proj.add_parser("create", help="create a project")
    p_create.add_argument("project_id", type=text(64))
    p_create.add_argument("--name", default="", type=text(255))
    proj.add_parser("list", help="list projects")
    tok = sub.add_parser("token", help="API tokens").add_subparsers(dest="action", required=True)
    t_create = tok.add_parser("create", help="create a token (printed once, stored hashed)")
    t_create.add_argument("--project", required=True, type=text(64),
                          help="project the token acts for (created if missing)")
    t_create.add_argument("--admin", action="store_true", help="the token may act as admin")
    t_create.add_argument("--description", default="", type=text(255))
    t_create.add_argument("--expires", metavar="SECONDS|DATE", type=expiry, default=None,
                          help="lifetime: a number of seconds from now, or an ISO 8601 date "
                               "or time (UTC unless it names an offset); default: until revoked")
    tok.add_parser("list", help="list tokens (not their secrets)")
    t_revoke = tok.add_parser("revoke", help="revoke a token by its number")
    t_revoke.add_argument("token_id", type=int)
    args = parser.parse_args(argv)
    settings = config.from_args(argparse.Namespace(config=args.config, db_url=args.db_url))
    db = Database(settings.db_url)
    try:
        return run(db, args)
    finally:
        db.dispose()


def run(db, args):
    from rest.auth import create_token
    if args.command == "project" and args.action == "create":
        def work(session):
            if session.get(Project, args.project_id) is None:
                session.add(Project(id=args.project_id, name=args.name or args.project_id))
        db.run_write(work)
        print(args.project_id)
    elif args.command == "project":
        with db.read() as session:
            for p in session.scalars(select(Project).order_by(Project.id)):
                print(f"{p.id}\t{p.name}\t{p.created_at:%Y-%m-%d %H:%M}")
    elif args.action == "create":
        print(create_token(db, args.project, args.admin, args.description, args.expires))
    elif args.action == "list":
        with db.read() as session:
            for t in session.scalars(select(Token).order_by(Token.id)):
                role = "admin" if t.is_admin else "member"
                expires = "never" if t.expires_at is None else isoformat(t.expires_at)
                if t.expires_at is not None and t.expires_at <= utcnow():
                    expires += " (expired)"
                print(f"{t.id}\t{t.project_id}\t{role}\t{t.created_at:%Y-%m-%d %H:%M}\t"
                      f"expires {expires}\t{t.description}")
    else:
        def work(session):
            token = session.get(Token, args.token_id)
            if token is None:
                return False
            session.delete(token)
            return True
        if not db.run_write(work):
            print(f"no token {args.token_id}", file=sys.stderr)
            return 1
        print(f"revoked token {args.token_id}")
    return 0


def text(max_len):
    """An argparse type: a string that fits its column (PostgreSQL refuses longer ones)."""
    def check(value):
        if len(value) > max_len:
            raise argparse.ArgumentTypeError(f"longer than {max_len} characters")
        return value
    return check


def expiry(value):
    """``--expires``: seconds from now, or an ISO 8601 date/time; naive UTC, in the future."""
    now = utcnow()
    if value.isascii() and value.isdigit():
        try:
            when = now + datetime.timedelta(seconds=int(value))
        except OverflowError:
            raise argparse.ArgumentTypeError(f"{value} seconds is beyond the calendar")
    else:
        try:
            when = datetime.datetime.fromisoformat(value)
            if when.tzinfo is not None:
                when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(
                f"{value!r} is neither a number of seconds nor an ISO 8601 date or time")
    if when <= now:
        raise argparse.ArgumentTypeError(f"{value!r} is not in the future")
    return when


if __name__ == "__main__":
    sys.exit(main())
