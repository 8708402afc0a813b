"""Just enough of PromQL to say which series a query reads: metric names, their matchers, grouping labels.

The monitoring tests check every query of the rules and the dashboard against the metrics the code
exports; a tokenizer that knows PromQL's functions, aggregators and keywords is all that takes.
An unknown function or a malformed matcher is an error, so a typo cannot pass for a metric name.
Grafana's variables ($bot, ${bot}, $__rate_interval) are read as what they stand for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


FUNCTIONS = _words(
    """abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp
    clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg
    delta deriv end exp floor histogram_avg histogram_count histogram_fraction histogram_quantile
    histogram_stddev histogram_stdvar histogram_sum holt_winters hour idelta increase irate label_join
    label_replace last_over_time ln log10 log2 mad_over_time max_over_time min_over_time minute month pi
    predict_linear present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort
    sort_by_label sort_by_label_desc sort_desc sqrt start stddev_over_time stdvar_over_time sum_over_time
    tan tanh time timestamp vector year"""
)
AGGREGATORS = _words(
    "avg bottomk count count_values group limit_ratio limitk max min quantile stddev stdvar sum topk"
)
GROUPING = _words("by without on ignoring group_left group_right")
KEYWORDS = _words("and or unless bool offset atan2 inf nan") | GROUPING
MATCH_OPERATORS = frozenset({"=", "!=", "=~", "!~"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    |(?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
    |(?P<range>\[[^\]]*\])
    |(?P<variable>\$\{?\w+\}?)
    |(?P<number>0x[0-9a-fA-F]+|(?:\d+(?:ms|[smhdwy]))+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<name>[A-Za-z_:][\w:]*)
    |(?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){},@])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Selector:
    """One vector selector: a metric and its label matchers as (label, operator, value)."""

    metric: str
    matchers: tuple[tuple[str, str, str], ...] = ()

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(label for label, _, _ in self.matchers)


@dataclass(frozen=True)
class Query:
    selectors: tuple[Selector, ...]
    grouping: frozenset[str]
    """Labels named in by, without, on, ignoring, group_left and group_right."""


def _tokens(expr: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if match is None:
            raise ValueError(f"cannot read {expr[position:]!r} in {expr!r}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


def _unquote(token: tuple[str, str]) -> str:
    kind, text = token
    if kind != "string":
        raise ValueError(f"a matcher's value must be a string, not {text!r}")
    return text[1:-1]


def _matchers(
    tokens: list[tuple[str, str]], i: int, expr: str
) -> tuple[tuple[tuple[str, str, str], ...], int]:
    """The matchers of the block that opens at tokens[i] ("{"), and the index after its "}"."""
    matchers = []
    i += 1
    try:
        while tokens[i][1] != "}":
            label, operator = tokens[i], tokens[i + 1][1]
            if label[0] != "name" or operator not in MATCH_OPERATORS:
                raise ValueError(f"bad matcher {label[1]}{operator} in {expr!r}")
            matchers.append((label[1], operator, _unquote(tokens[i + 2])))
            i += 3
            if tokens[i][1] == ",":
                i += 1
    except IndexError:
        raise ValueError(f"unclosed matchers in {expr!r}") from None
    return tuple(matchers), i + 1


def parse(expr: str) -> Query:
    """The selectors and grouping labels of a PromQL expression; ValueError when it is not PromQL."""
    tokens = _tokens(expr)
    end = ("", "")
    selectors: list[Selector] = []
    grouping: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else end
        if text == "{":
            raise ValueError(f"a selector without a metric name in {expr!r}")
        if kind != "name":
            i += 1
            continue
        word = text.lower()  # keywords and aggregators are case-insensitive; functions are not
        if word in GROUPING and following[1] == "(":
            close = next((j for j in range(i + 2, len(tokens)) if tokens[j][1] == ")"), None)
            if close is None:
                raise ValueError(f"unclosed {text}( in {expr!r}")
            grouping.update(name for kind, name in tokens[i + 2 : close] if kind == "name")
            i = close + 1
        elif word in KEYWORDS or (word in AGGREGATORS and following[1].lower() in ("(", "by", "without")):
            i += 1
        elif following[1] == "(":
            if text not in FUNCTIONS:
                raise ValueError(f"unknown function {text}() in {expr!r}")
            i += 1
        else:
            matchers, i = _matchers(tokens, i + 1, expr) if following[1] == "{" else ((), i + 1)
            selectors.append(Selector(text, matchers))
    return Query(tuple(selectors), frozenset(grouping))


_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.+),\s*(?P<label>\w+)\s*\)\s*$")


def label_values(query: str) -> tuple[Selector, str]:
    """Grafana's variable query label_values(selector, label): the selector and the label."""
    match = _LABEL_VALUES.match(query)
    if match is None:
        raise ValueError(f"not a label_values() query: {query!r}")
    (selector,) = parse(match["selector"]).selectors
    return selector, match["label"]
