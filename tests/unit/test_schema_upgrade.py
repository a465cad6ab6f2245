"""A database made before a column was added to the model gets it when qnet opens it."""
import sqlite3

from controller.context import Context
from controller.core import Core
from controller.plugins.noop import NoopPlugin


def test_qos_columns_are_added_to_an_existing_database(tmp_path):
    path = tmp_path / "old.sqlite"
    url = f"sqlite:///{path}"
    core = Core.from_url(url, NoopPlugin())
    ctx = Context("alice")
    net = core.networks.create(ctx, {"name": "n"})
    port = core.ports.create(ctx, {"network_id": net["id"]})
    core.close()
    # the database as a release before the qos extension left it
    with sqlite3.connect(path) as db:
        for table in ("ports", "networks"):
            db.execute(f"DROP INDEX ix_{table}_qos_policy_id")
            db.execute(f"ALTER TABLE {table} DROP COLUMN qos_policy_id")

    core = Core.from_url(url, NoopPlugin())
    try:
        assert core.ports.get(ctx, port["id"])["qos_policy_id"] is None
        policy = core.qos.create(ctx, {"name": "p"})
        core.networks.update(ctx, net["id"], {"qos_policy_id": policy["id"]})
        assert core.networks.get(ctx, net["id"])["qos_policy_id"] == policy["id"]
    finally:
        core.close()
    with sqlite3.connect(path) as db:
        indexes = {row[1] for row in db.execute("PRAGMA index_list(ports)")}
    assert "ix_ports_qos_policy_id" in indexes
    # and opening it once more changes nothing
    Core.from_url(url, NoopPlugin()).close()
