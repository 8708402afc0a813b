"""Material Icons cut down to the ligatures Vuestic draws (its icon aliases' targets), as woff2.

The app shows icons only through Vuestic's components; the whole font is 128 kB of woff2 for some
2,000 icons. This keeps the glyphs of the icons below, the letters their names are typed with, and
the ligature rules between them: src/assets/material-icons-subset.woff2, a few kB. Run by hand when
the list changes (fontTools and brotli are not the project's dependencies):

    python -m venv /tmp/ft && /tmp/ft/bin/pip install fonttools brotli
    /tmp/ft/bin/python scripts/subset_icons.py
"""

from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

FRONTEND = Path(__file__).resolve().parent.parent
SOURCE = FRONTEND / "node_modules/@fontsource/material-icons/files/material-icons-latin-400-normal.woff2"
TARGET = FRONTEND / "src/assets/material-icons-subset.woff2"
# The targets of vuestic-ui's icon aliases (services/icon/presets/vuestic-aliases.js), and the two
# names its components use bare (VaModal's "close", VaCheckbox's indeterminate "remove").
ICONS = [
    "swap_vert",
    "expand_less",
    "expand_more",
    "first_page",
    "last_page",
    "chevron_right",
    "chevron_left",
    "calendar_today",
    "delete_outline",
    "check",
    "check_circle",
    "warning",
    "highlight_off",
    "close",
    "loop",
    "add",
    "remove",
]


def main() -> None:
    font = TTFont(SOURCE)
    glyph_of = font.getBestCmap()  # code point -> glyph name
    ligatures = {}  # icon name -> its ligature glyph
    for lookup in font["GSUB"].table.LookupList.Lookup:
        for table in lookup.SubTable:
            table = getattr(table, "ExtSubTable", table)
            for first, entries in getattr(table, "ligatures", {}).items():
                for entry in entries:
                    ligatures[(first, *entry.Component)] = entry.LigGlyph
    by_name = {}
    for icon in ICONS:
        key = tuple(glyph_of[ord(letter)] for letter in icon)
        by_name[icon] = ligatures[key]  # KeyError: not an icon of the font
    letters = {glyph_of[ord(letter)] for icon in ICONS for letter in icon}
    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["rlig"]  # the font spells its icons with required ligatures
    options.layout_closure = False  # only the ligatures listed, not every one the letters could spell
    subsetter = subset.Subsetter(options)
    subsetter.populate(glyphs=sorted(set(by_name.values()) | letters))
    subsetter.subset(font)
    TARGET.parent.mkdir(exist_ok=True)
    font.flavor = "woff2"
    font.save(TARGET)
    print(f"{TARGET.relative_to(FRONTEND)}: {len(ICONS)} icons, {TARGET.stat().st_size} bytes")


if __name__ == "__main__":
    main()
