"""The ``qnet`` command. ``qnet serve`` runs the service; every other command is the API client
(qnetclient.cli), which does not import the service's modules so that it starts fast."""
import argparse
import sys

SERVE_HELP = "run the REST API and the OpenFlow controller (qnet serve --help)"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    from qnetclient import cli
    return cli.main(argv, prog="qnet", extra={"serve": SERVE_HELP})


def serve(argv):
    from controller import config
    parser = argparse.ArgumentParser(prog="qnet serve",
                                     description="run the REST API and the OpenFlow controller")
    config.add_arguments(parser)
    args = parser.parse_args(argv)
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
    sys.exit(main())
