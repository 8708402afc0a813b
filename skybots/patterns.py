"""A bot's include and exclude patterns: users' regexes, run on RE2.

Every tenant's pattern runs over every candidate post, so none may cost more than time linear in
the text: Python's backtracking `re` needs about 10 s for `(a+)+$` over 26 characters, and twice
that for each one more. RE2 guarantees linear time, and `MAX_PROGRAM_BYTES` bounds the memory of
one compiled pattern. The model refuses what `compile_pattern` refuses, so the API and the
operator accept exactly the patterns a run can use, and the refusal says why.

RE2's syntax is Perl's without the constructs that need backtracking. Where a user coming from
Python would notice: no backreferences, lookaround, atomic groups or possessive quantifiers;
`\\z` ends the text (`\\Z` is refused, `$` does not match before a final newline); and the Perl
classes `\\w`, `\\d`, `\\s` and the boundary `\\b` are ASCII, so `\\p{L}` (a letter of any
script) and `\\p{Nd}` are how to say the Unicode ones. Case-insensitivity folds Unicode case as
Python's does (the three Greek sigmas, k and the Kelvin sign), except for the Turkish dotted and
dotless i.

`re2` is imported on first use: a bot without patterns never loads it.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

MAX_PROGRAM_BYTES = 256 << 10
"""RE2's `max_mem` for one pattern: room for `.{1000}` or `\\p{Han}{150}`, not for `\\p{L}{20}`.

A bot's 40 patterns then hold at most 10 MiB of a reposter's 128, and refusing or compiling them
all costs the API well under a second of CPU (each takes time in proportion to its size).
"""


class CompiledPattern(Protocol):
    """What the filters use of a compiled pattern."""

    def search(self, text: str, /) -> object | None: ...


class PatternError(ValueError):
    """RE2 cannot compile the pattern; the message says why, as a user can act on it."""


def compile_pattern(pattern: str) -> CompiledPattern:
    """The pattern compiled for case-insensitive search, or PatternError."""
    import re2

    try:
        # Not re2.compile: its cache would keep up to 128 programs of up to MAX_PROGRAM_BYTES alive
        # in the API and the operator, which compile whatever patterns tenants send.
        compiled: CompiledPattern = re2._Regexp(pattern, _options())
    except re2.error as error:
        raise PatternError(_reason(error)) from None
    return compiled


@functools.lru_cache(maxsize=1024)
def pattern_error(pattern: str) -> str | None:
    """Why the pattern is refused, or None; the model asks for every bot it reads, so verdicts are cached."""
    try:
        compile_pattern(pattern)
    except PatternError as error:
        return str(error)
    return None


@functools.cache
def _options() -> Any:
    import re2

    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = MAX_PROGRAM_BYTES
    options.log_errors = False  # a tenant's broken pattern is no line in our logs
    return options


def _reason(error: Exception) -> str:
    message = error.args[0] if error.args else ""
    said = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    if said.startswith("pattern too large"):
        return (
            f"is too large for the regex engine (over {MAX_PROGRAM_BYTES >> 10} KiB compiled):"
            " repeat less, e.g. \\p{L}+ rather than \\p{L}{20}"
        )
    hint = _hint(said)
    return f"is not a valid regular expression (RE2 syntax): {said}" + (f"; {hint}" if hint else "")


_ESCAPE, _OPERATOR = "invalid escape sequence: \\", "invalid perl operator: "


def _hint(said: str) -> str | None:
    """What RE2's message means to someone used to Python's re: the constructs RE2 leaves out."""
    if said.startswith(_ESCAPE):
        escaped = said.removeprefix(_ESCAPE)
        if escaped[:1].isdigit():
            return "backreferences are not supported"
        return "write \\z for the end of the text" if escaped == "Z" else None
    if said.startswith(_OPERATOR):
        return {
            "(?=": "lookahead and lookbehind are not supported",
            "(?!": "lookahead and lookbehind are not supported",
            "(?<": "lookahead and lookbehind are not supported",  # (?<name>...) is fine, so (?<= or (?<!
            "(?P": "named backreferences are not supported",  # (?P<name>...) is fine, so (?P=name)
            "(?>": "atomic groups are not supported",
            "(?(": "conditionals are not supported",
        }.get(said.removeprefix(_OPERATOR)[:3])
    if said.startswith("bad repetition operator: ") and said.endswith("+"):
        return "possessive quantifiers are not supported"
    return None
