"""The ``qnet`` command. ``qnet serve`` runs the service."""
import argparse

from controller import config


def main(argv=None):
    parser = argparse.ArgumentParser(prog="qnet", description="qnet network service")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the REST API and the OpenFlow controller")
    config.add_arguments(serve)
    args = parser.parse_args(argv)
    if args.command == "serve":
        from controller.service import serve as run
        try:
            settings = config.from_args(args)
            run(settings)
        except (ValueError, LookupError, OSError) as exc:
            parser.exit(2, f"qnet serve: error: {exc}\n")
        except Exception as exc:
            from sqlalchemy.exc import SQLAlchemyError
            if not isinstance(exc, SQLAlchemyError):
                raise
            parser.exit(2, f"qnet serve: database error: {getattr(exc, 'orig', exc)}\n")


if __name__ == "__main__":
    main()
