"""Every fixture Bot goes through the CRD (schema and CEL, as the API server would) and the model.

Valid fixtures must pass both, and the API server's defaults must equal the model's. Invalid
fixtures must fail for the reason their annotations name, in each layer that can see it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from skybots.bots import BotSpecError, validate_bot
from skybots.crd import bot_crd
from tests.support.crd_validation import CrdValidator

FIXTURES = Path(__file__).parent / "fixtures" / "bots"
VALID = list(yaml.safe_load_all((FIXTURES / "valid.yaml").read_text()))
INVALID = list(yaml.safe_load_all((FIXTURES / "invalid.yaml").read_text()))
CRD = CrdValidator(bot_crd())


def name_of(bot: dict[str, Any]) -> str:
    return str(bot["metadata"]["name"])[:40]


def expectation(bot: dict[str, Any], key: str, default: str | None = None) -> str:
    value = bot["metadata"]["annotations"].get(f"test.skybots.dev/{key}", default)
    assert value is not None
    return str(value)


@pytest.mark.parametrize("bot", VALID, ids=name_of)
def test_valid_bot_passes_crd_and_model_with_the_same_defaults(bot: dict[str, Any]) -> None:
    defaulted, errors = CRD.admit(bot)
    assert errors == []
    spec = validate_bot(bot)
    assert spec.model_dump(mode="json", by_alias=True, exclude_none=True) == defaulted["spec"]


@pytest.mark.parametrize("bot", INVALID, ids=name_of)
def test_invalid_bot_is_refused_naming_the_field(bot: dict[str, Any]) -> None:
    field, message, layer = (expectation(bot, k) for k in ("field", "message", "layer"))
    crd_errors = CRD.errors(bot)
    with pytest.raises(BotSpecError) as refused:
        validate_bot(bot)
    model_errors = refused.value.errors
    assert field in [path for path, _ in model_errors], model_errors
    if layer == "both":
        crd_field = expectation(bot, "crd-field", field)
        assert any(path == crd_field and message in text for path, text in crd_errors), crd_errors
    else:
        assert crd_errors == [], "the CRD now refuses this too: mark the fixture's layer as both"
        assert any(path == field and message in text for path, text in model_errors), model_errors


def test_model_errors_read_well() -> None:
    bad = {"metadata": {"name": "ok"}, "spec": {"account": {"handle": "x"}, "sources": [{"type": "hashtag"}]}}
    with pytest.raises(BotSpecError) as refused:
        validate_bot(bad)
    assert refused.value.errors == [
        ("spec.account.handle", "String should have at least 3 characters"),
        ("spec.account.credentialsSecretRef", "Field required"),
        ("spec.sources[0].tag", "Field required"),
    ]


def test_the_readme_example_is_a_valid_bot() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```yaml\n")[1:]]
    bots = [doc for block in blocks for doc in yaml.safe_load_all(block) if doc and doc.get("kind") == "Bot"]
    assert bots, "the README shows no Bot"
    for bot in bots:
        assert CRD.errors(bot) == []
        validate_bot(bot)
