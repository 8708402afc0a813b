"""Every fixture Bot goes through the CRD (schema and CEL, as the API server would) and the model.

Valid fixtures must pass both, and the API server's defaults must equal the model's. Invalid
fixtures must fail for the reason their annotations name, in each layer that can see it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from skybots.bots import BotSpecError, shortest_interval, validate_bot
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


@pytest.mark.parametrize(
    ("schedule", "shortest"),
    [
        ("* * * * *", timedelta(minutes=1)),
        ("*/1 * * * *", timedelta(minutes=1)),
        ("0,1 * * * *", timedelta(minutes=1)),
        ("@hourly", timedelta(hours=1)),
        ("*/7 * * * *", timedelta(minutes=4)),  # :56, then :00
        ("0,59 0,23 * * *", timedelta(minutes=1)),  # 23:59, then 00:00 the next day
        ("30 23 * * MON-FRI", timedelta(days=1)),
        ("0 0 * * 0", timedelta(days=7)),
        ("0 0 13 * FRI", timedelta(days=1)),  # both day fields restricted: either one (Thursday 13th)
        ("0 0 31 * *", timedelta(days=31)),  # 31 July, 31 August
        ("0 0 29 2 *", timedelta(days=4 * 365 + 1)),  # leap days
    ],
)
def test_the_shortest_interval_of_a_schedule_is_computed_from_its_fields(
    schedule: str, shortest: timedelta
) -> None:
    assert shortest_interval(schedule) == shortest
