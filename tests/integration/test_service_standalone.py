"""The layout holds: ``qnet serve`` and the packages it is made of import nothing from
``simulations`` (the lab and benches behind ``qnet-lab``) nor from ``tests``, and the installed
lab and benches import no tests.

The lab is installed on purpose, but a deployment must be able to leave it out; a product module
that reached for a test double or a fixture would break there first, so it fails here. The tests
are not installed at all: an installed module that imports them breaks on every install.
"""
import ast
import importlib.metadata
import pathlib
import subprocess
import sys

import pytest
import requests

from simulations.serve import ROOT, QnetServer

PRODUCT_PACKAGES = ("controller", "rest", "apps", "topology", "tunnel", "qnetclient")
NOT_PRODUCT = ("simulations", "tests")

# Runs the qnet command with an import hook that refuses the lab and the tests: a refused import
# is printed (so one swallowed by an ``except ImportError`` still shows) and raised.
GUARDED_QNET = """
import importlib.abc
import sys

class NotProduct(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in %r:
            print("FORBIDDEN IMPORT " + name, file=sys.stderr, flush=True)
            raise ImportError("the service must not import " + name)
        return None

sys.meta_path.insert(0, NotProduct())
from controller import cli
sys.exit(cli.main(sys.argv[1:]))
""" % (NOT_PRODUCT,)


def imported_modules(path):
    """Every module name an ``import`` / ``from ... import`` in the file names."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def imports_of(packages, forbidden):
    """'path: import name' for each import of a `forbidden` top-level package in `packages`."""
    root = pathlib.Path(ROOT)
    return [f"{path.relative_to(root)}: import {name}"
            for package in packages
            for path in sorted((root / package).rglob("*.py"))
            for name in imported_modules(path)
            if name.split(".")[0] in forbidden]


def test_product_sources_import_neither_the_lab_nor_the_tests():
    assert imports_of(PRODUCT_PACKAGES, NOT_PRODUCT) == []


def test_lab_and_benches_import_no_tests():
    assert imports_of(["simulations"], ["tests"]) == []


def test_no_plugin_is_served_from_the_lab():
    plugins = importlib.metadata.entry_points(group="qnet.plugins")
    assert plugins, "no qnet.plugins entry points: is the package installed?"
    assert [p.value for p in plugins if p.value.split(".")[0] in NOT_PRODUCT] == []


@pytest.mark.parametrize("mode", ["overlay", "fabric"])
def test_serve_runs_with_the_lab_out_of_reach(tmp_path, mode):
    script = tmp_path / "guarded_qnet.py"
    script.write_text(GUARDED_QNET)
    srv = QnetServer(tmp_path, plugin="openflow", log_level="INFO", extra=["--mode", mode],
                     command=[sys.executable, str(script)])
    with srv:
        assert requests.get(srv.url + "/", timeout=10).status_code == 200
    log = srv.read_log()
    assert srv.proc.returncode == 0, log[-3000:]
    assert "FORBIDDEN IMPORT" not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


def test_guard_refuses_the_lab(tmp_path):
    """The hook above does refuse ``simulations`` (else the serve test could not fail)."""
    script = tmp_path / "guarded_qnet.py"
    script.write_text(GUARDED_QNET.replace("from controller import cli",
                                           "import simulations.serve\nfrom controller import cli"))
    out = subprocess.run([sys.executable, str(script), "serve", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0 and "FORBIDDEN IMPORT simulations" in out.stderr
