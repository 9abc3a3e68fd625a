"""The package's layers: the import-linter contracts in pyproject.toml, no import cycles, and
every module placed in a layer. Function-level and TYPE_CHECKING imports count, as grimp reads them."""

from __future__ import annotations

import subprocess
import sys

import grimp
import pytest
from importlinter.api import read_configuration

from tests.conftest import ROOT

LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("whet", cache_dir=None)


def layers_contract() -> dict:
    contracts = read_configuration(str(ROOT / "pyproject.toml"))["contracts_options"]
    return next(contract for contract in contracts if contract["type"] == "layers")


def test_import_contracts_are_kept():
    # A process of its own: lint-imports prints its report (the broken imports, module by module)
    # to stdout, which becomes the failure message.
    result = subprocess.run([sys.executable, "-c", LINT], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_imports_itself_through_others(graph):
    cycles = {}  # one chain per set of modules, whichever import of the cycle finds it first
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                cycles.setdefault(frozenset(back), " -> ".join((importer, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles.values()))


def test_every_package_and_split_package_module_is_in_a_layer(graph):
    # A module outside every layer is not checked. whet.models and whet.metrics are split across
    # layers, so their modules are placed one by one.
    placed = {name.strip() for layer in layers_contract()["layers"] for name in layer.replace(":", "|").split("|")}
    split = {"whet.models", "whet.metrics"}
    modules = (graph.find_children("whet") - split).union(*(graph.find_children(package) for package in split))
    unplaced = sorted(module for module in modules if module not in placed)
    assert not unplaced, f"add these to a layer of the layers contract in pyproject.toml: {', '.join(unplaced)}"
