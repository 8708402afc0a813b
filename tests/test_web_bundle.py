"""The web app's weight against issue 15's targets, measured as `make benchmark-web` measures it (Vite's
manifest, gzip level 9): at most 80 kB of JS gz before the first route renders, and the words of the
pages (en.json's other sections) load with those pages, not before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.web_app import KB, build, closure, files, sizes
from tests.support.manifests import ROOT

FIRST_ROUTE_JS = 80 * KB
# Issue 15's target for all of the app is 180 kB; what stands between (chart.js, luxon through the time
# axis, the annotation plugin with the doughnut controller it imports, Vuestic) is in docs/architecture.md.
# Until then this holds what the cuts reached, so that none is undone unnoticed.
ALL_JS = 215 * KB


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("app")
    build(folder)
    return folder


def first_route_js(folder: Path) -> str:
    manifest = json.loads((folder / ".vite" / "manifest.json").read_text())
    entry = next(key for key, chunk in manifest.items() if chunk.get("isEntry"))
    return "".join(
        (folder / path).read_text()
        for path in files(manifest, closure(manifest, entry, lazy=False))
        if path.endswith(".js")
    )


def test_the_first_route_is_at_most_80_kb_of_js(built: Path) -> None:
    (name, js, _css), *_ = sizes(built)
    assert name.startswith("first route")
    assert js <= FIRST_ROUTE_JS, f"first route: {js / KB:.1f} kB gz of JS"


def test_all_of_the_app_stays_within_its_budget(built: Path) -> None:
    *_, (name, js, _css) = sizes(built)
    assert name == "all of the app"
    assert js <= ALL_JS, f"all of the app: {js / KB:.1f} kB gz of JS"


def test_the_first_route_carries_the_layouts_and_the_faults_words_only(built: Path) -> None:
    code = first_route_js(built)
    locale = json.loads((ROOT / "frontend" / "src" / "locales" / "en.json").read_text())
    assert locale["errors"]["title"] in code  # the fault banner is in the first route
    for words in (
        locale["form"]["createTitle"],
        locale["bot"]["delete"]["explain"],
        locale["account"]["title"],
    ):
        assert words not in code, f"{words!r} loads before the first route renders"
