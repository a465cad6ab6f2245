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


def test_attachment_uniqueness_is_scoped_to_projects_in_an_existing_database(tmp_path):
    """A database made when an attachment was unique across all projects is rebuilt once:
    then two projects may name the same interface, and nothing else is lost."""
    path = tmp_path / "old.sqlite"
    url = f"sqlite:///{path}"
    core = Core.from_url(url, NoopPlugin())
    alice, bob = Context("alice"), Context("bob")
    net = core.networks.create(alice, {"name": "n"})
    core.subnets.create(alice, {"network_id": net["id"], "cidr": "10.0.0.0/24"})
    port = core.ports.create(alice, {"network_id": net["id"], "attachment": "vm-1/eth0"})
    core.close()
    # the ports table as the release before this one wrote it: UNIQUE (attachment)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys=OFF")
        create = db.execute("SELECT sql FROM sqlite_master WHERE name='ports'").fetchone()[0]
        indexes = [row[0] for row in db.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name='ports' AND type='index' "
            "AND sql IS NOT NULL AND name != 'uniq_ports_project_attachment'")]
        db.execute(create.replace("CREATE TABLE ports (", "CREATE TABLE old_ports (")
                   .rstrip().rstrip(")") + ", UNIQUE (attachment))")
        db.execute("INSERT INTO old_ports SELECT * FROM ports")
        db.execute("DROP TABLE ports")
        db.execute("ALTER TABLE old_ports RENAME TO ports")
        for sql in indexes:
            db.execute(sql)
        assert "UNIQUE (attachment)" in db.execute(
            "SELECT sql FROM sqlite_master WHERE name='ports'").fetchone()[0]

    core = Core.from_url(url, NoopPlugin())
    try:
        kept = core.ports.get(alice, port["id"])
        assert kept["attachment"] == "vm-1/eth0" and len(kept["fixed_ips"]) == 1
        theirs = core.networks.create(bob, {"name": "b"})
        other = core.ports.create(bob, {"network_id": theirs["id"], "attachment": "vm-1/eth0"})
        assert other["attachment"] == "vm-1/eth0"
    finally:
        core.close()
    with sqlite3.connect(path) as db:
        assert "UNIQUE (attachment)" not in db.execute(
            "SELECT sql FROM sqlite_master WHERE name='ports'").fetchone()[0]
        indexes = {row[1] for row in db.execute("PRAGMA index_list(ports)")}
        assert {"uniq_ports_project_attachment", "ix_ports_network_id_id"} <= indexes
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    Core.from_url(url, NoopPlugin()).close()
