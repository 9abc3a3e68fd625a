"""Documentation that is generated or quoted stays true."""

from __future__ import annotations

import re
import sys

from tests.conftest import ROOT


def test_configuration_reference_is_current():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import config_reference
    finally:
        sys.path.pop(0)
    assert (ROOT / "docs" / "configuration.md").read_text() == config_reference.reference(), \
        "run: python scripts/config_reference.py"
    assert (ROOT / "docs" / "serve-configuration.md").read_text() == config_reference.serve_reference(), \
        "run: python scripts/config_reference.py"
    assert (ROOT / "docs" / "assistant-configuration.md").read_text() == config_reference.assistant_reference(), \
        "run: python scripts/config_reference.py"
    assert (ROOT / "docs" / "recommend-configuration.md").read_text() == config_reference.recommend_reference(), \
        "run: python scripts/config_reference.py"


def test_every_shipped_config_starts_with_the_command_that_runs_it():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        head = path.read_text().splitlines()[:4]
        assert head[0].startswith("#"), path.name
        assert any(re.search(rf"whet (train|tune) configs/{re.escape(path.name)}", line) for line in head), path.name


def test_the_shipped_monitor_config_is_valid_and_says_how_to_run_it():
    from whet.monitor.settings import load_monitor_config

    path = ROOT / "configs" / "monitor" / "monitor.yaml"
    assert "whet monitor ingest configs/monitor/monitor.yaml configs/monitor/demo-stream.jsonl" in path.read_text()
    config = load_monitor_config(path)
    assert [rule.name for rule in config.alerts.rules] == ["negative-surge", "volume-spike"]


def test_the_shipped_assistant_config_is_valid_and_says_how_to_run_it():
    from whet.config import read_yaml
    from whet.assistant.settings import AssistantConfig

    path = ROOT / "configs" / "assistant" / "assistant.yaml"
    assert "whet assistant serve configs/assistant/assistant.yaml" in path.read_text()
    AssistantConfig.model_validate(read_yaml(path))


def test_readme_links_point_to_files_that_exist():
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(((?!http)[^)#]+)\)", readme):
        assert (ROOT / target).exists(), target
