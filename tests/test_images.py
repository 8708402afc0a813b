"""The Dockerfile, read as BuildKit would read it (no container engine here): what each image holds."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from skybots.operator.rendering import REPOSTER_UID
from tests.support.manifests import ROOT, named

TARGETS = ("reposter", "operator", "api")


def _stages() -> dict[str, dict[str, Any]]:
    """Each stage by name: its base and its instructions."""
    parser = DockerfileParser(str(ROOT / "Dockerfile"))
    stages: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for item in parser.structure:
        if item["instruction"] == "FROM":
            base, _, name = item["value"].partition(" AS ")
            current = stages[name.strip()] = {"base": base.strip(), "instructions": []}
        elif current is not None and item["instruction"] != "COMMENT":
            current["instructions"].append((item["instruction"], item["value"]))
    return stages


def _chain(name: str) -> list[tuple[str, str]]:
    """The instructions that make a stage, its bases' first."""
    stages = _stages()
    stage = stages[name]
    inherited = _chain(stage["base"]) if stage["base"] in stages else []
    own: list[tuple[str, str]] = stage["instructions"]
    return inherited + own


def _last(name: str, instruction: str) -> str:
    return [value for kind, value in _chain(name) if kind == instruction][-1]


def test_the_base_image_is_pinned_to_the_python_the_project_is_checked_with() -> None:
    [arg] = [
        value.partition("=")[2]
        for item in DockerfileParser(str(ROOT / "Dockerfile")).structure
        if item["instruction"] == "ARG" and (value := item["value"]).startswith("PYTHON_IMAGE=")
    ]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", arg), f"{arg}: pin an exact release"
    checked = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["python_version"]
    assert arg.startswith(f"python:{checked}.")
    assert {s["base"] for s in _stages().values()} <= {"${PYTHON_IMAGE}", *_stages()}


@pytest.mark.parametrize("target", TARGETS)
def test_each_image_runs_skybots_as_a_user_with_no_privileges(target: str) -> None:
    user, group = _last(target, "USER").split(":")
    assert int(user) == int(group) == REPOSTER_UID != 0  # numeric: runAsNonRoot can verify it
    assert json.loads(_last(target, "ENTRYPOINT")) == ["skybots"]


@pytest.mark.parametrize("target", TARGETS)
def test_each_image_holds_its_own_virtualenv_and_nothing_built_in_it(target: str) -> None:
    """No RUN in an image's stages: compilers and pip stay in the build stage."""
    chain = _chain(target)
    assert [kind for kind, _ in chain if kind == "RUN"] == []
    copies = [value for kind, value in chain if kind == "COPY"]
    assert copies == [f"--from=build /opt/skybots-{target} /opt/skybots-{target}"]
    assert f"PATH=/opt/skybots-{target}/bin:$PATH" in [value for kind, value in chain if kind == "ENV"]


def test_the_build_makes_one_virtualenv_per_image_from_its_own_extra_and_the_lock() -> None:
    [(_, script)] = [i for i in _stages()["build"]["instructions"] if i[0] == "RUN"]
    assert f"for role in {' '.join(TARGETS)};" in script
    assert 'pip install --quiet -c requirements.lock ".[$role]"' in script
    assert "compileall" in script  # a read-only root filesystem cannot cache bytecode at run time
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(TARGETS) <= set(extras)
    assert not {"kopf", "fastapi", "kubernetes_asyncio"} & {
        re.split(r"[<>=\[]", d)[0] for d in extras["reposter"]
    }


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    admitted = {
        line.removeprefix("!").rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = {
        source
        for kind, value in _stages()["build"]["instructions"]
        if kind == "COPY"
        for source in value.split()[:-1]
    }
    assert copied == admitted


def test_the_manifests_run_the_images_as_the_dockerfiles_user() -> None:
    for name in ("skybots-operator", "skybots-api"):
        pod = named("manifests/base", "Deployment", name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == REPOSTER_UID
