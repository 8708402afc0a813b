"""docs/configuration.md lists every setting, with its default."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybots.bots import field_docstrings
from skybots.reposter.config import ReposterSettings
from skybots.settings import OperatorSettings

DOC = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()


@pytest.mark.parametrize("name", list(OperatorSettings.model_fields))
def test_every_operator_setting_is_documented(name: str) -> None:
    field = OperatorSettings.model_fields[name]
    default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    shown = ",".join(default) if isinstance(default, list) else "" if default is None else str(default)
    assert f"| `SKYBOTS_{name.upper()}` | `{shown}` |" in DOC
    assert field.description, f"{name} has no docstring"


@pytest.mark.parametrize("name", list(ReposterSettings.model_fields))
def test_every_reposter_setting_is_documented(name: str) -> None:
    field = ReposterSettings.model_fields[name]
    variable = "AWS_REGION" if name == "aws_region" else f"SKYBOTS_{name.upper()}"
    shown = "(required)" if field.is_required() else f"`{'' if field.default is None else field.default}`"
    assert f"| `{variable}` | {shown} | {field_docstrings(ReposterSettings)[name]} |" in DOC


def test_namespaces_come_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBOTS_NAMESPACES", "team-a, team-b")
    assert OperatorSettings().namespaces == ["team-a", "team-b"]
