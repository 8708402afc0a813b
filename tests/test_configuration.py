"""docs/configuration.md lists every setting, with its default."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from skybots.bots import field_docstrings
from skybots.reposter.config import ReposterSettings
from skybots.settings import ApiSettings, LocalSettings, OperatorSettings
from tests.support.reposter import platform_keys

DOC = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()


SETTINGS = [(model, name) for model in (OperatorSettings, ApiSettings) for name in model.model_fields]


@pytest.mark.parametrize(("model", "name"), SETTINGS, ids=[f"{m.__name__}.{n}" for m, n in SETTINGS])
def test_every_operator_and_api_setting_is_documented(model: type[BaseSettings], name: str) -> None:
    field = model.model_fields[name]
    default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    if isinstance(default, SecretStr):
        default = default.get_secret_value()
    shown = ",".join(default) if isinstance(default, list) else "" if default is None else str(default)
    assert f"| `SKYBOTS_{name.upper()}` | `{shown}` |" in DOC
    assert field.description, f"{name} has no docstring"


@pytest.mark.parametrize("name", list(ReposterSettings.model_fields))
def test_every_reposter_setting_is_documented(name: str) -> None:
    field = ReposterSettings.model_fields[name]
    variable = "AWS_REGION" if name == "aws_region" else f"SKYBOTS_{name.upper()}"
    shown = (
        "(required)" if field.is_required() else f"`{'' if field.default in (None, ()) else field.default}`"
    )
    assert f"| `{variable}` | {shown} | {field_docstrings(ReposterSettings)[name]} |" in DOC


@pytest.mark.parametrize("name", [n for n in LocalSettings.model_fields if n != "redis_url"])
def test_every_local_runtime_setting_is_documented(name: str) -> None:
    field = LocalSettings.model_fields[name]
    assert f"| `SKYBOTS_{name.upper()}` | `{field.default}` | {field.description} |" in DOC


def test_namespaces_come_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBOTS_NAMESPACES", "team-a, team-b")
    assert OperatorSettings().namespaces == ["team-a", "team-b"]


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"SKYBOTS_REPOSTER_CPU_LIMIT": "lots"}, "reposter_cpu_limit"),
        ({"SKYBOTS_REPOSTER_CPU_REQUEST": "1.5", "SKYBOTS_REPOSTER_CPU_LIMIT": "500m"}, "reposter_cpu_limit"),
    ],
    ids=["not-a-quantity", "below-the-request"],
)
def test_a_reposter_cpu_limit_kubernetes_would_refuse_is_refused_at_start(
    environ: dict[str, str], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Otherwise every bot's CronJob would fail at the API server, one by one."""
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=named):
        OperatorSettings()


def test_no_run_may_outlive_the_claims_it_holds_on_posts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's claim on a post lasts 15 minutes: a run allowed longer could write after another run
    took the same post, so both deadlines stop short of it."""
    monkeypatch.setenv("SKYBOTS_RUN_DEADLINE_SECONDS", "900")
    with pytest.raises(ValueError, match="run_deadline_seconds"):
        OperatorSettings()
    keys = {name.removeprefix("SKYBOTS_").lower(): value for name, value in platform_keys().items()}
    with pytest.raises(ValueError, match="deadline_seconds"):
        ReposterSettings.model_validate({**keys, "app_password": "x", "deadline_seconds": 900})


@pytest.mark.parametrize(
    ("link", "why"),
    [
        ("javascript:alert(1)//{rkey}", "not an http"),
        ("https://{handle}.example/post/{rkey}", "not an http"),
        ("https://bsky.app/profile/{handle}", "needs {rkey} or {uri}"),
        ("https://bsky.app/profile/{handle}/post/{cid}", "unknown placeholder 'cid'"),
        ("https://bsky.app/profile/{handle!r}/post/{rkey}", "no format or conversion"),
        ("https://bsky.app/profile/{handle/post/{rkey}", "not a link template"),
    ],
)
def test_a_post_link_the_web_app_could_not_fill_safely_is_refused_at_start(
    link: str, why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYBOTS_POST_LINK", link)
    with pytest.raises(ValueError, match="post_link") as refused:
        ApiSettings()
    assert why in str(refused.value)
