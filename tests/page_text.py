"""What a reader of a page sees, and the untranslated words in it: shared by the tablet's and the bridge's zh-CN tests."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from html.parser import HTMLParser

AM_PM = re.compile(r"\b[AP]M\b")


class _Text(HTMLParser):
    """The text between tags, without scripts, styles and the elements a page marks as code."""

    def __init__(self, skip_tags: frozenset[str], skip_classes: frozenset[str]) -> None:
        super().__init__()
        self.skip_tags, self.skip_classes = skip_tags, skip_classes
        self.parts: list[str] = []
        self.skip: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").split())
        if self.skip or tag in self.skip_tags or classes & self.skip_classes:
            self.skip.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skip and self.skip[-1] == tag:
            self.skip.pop()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def visible_text(html: str, skip_tags: Iterable[str] = ("script", "style"), skip_classes: Iterable[str] = ()) -> str:
    p = _Text(frozenset(skip_tags), frozenset(skip_classes))
    p.feed(html)
    return " ".join(" ".join(p.parts).split())


def untranslated_finder(
    keys: Iterable[str], english_values: Iterable[str], raw_prefixes: Iterable[str]
) -> Callable[[str], list[str]]:
    """A finder of what a zh-CN page must not show: catalogue keys, raw event names, English values, 12-hour times."""
    raw = re.compile(r"\b(?:" + "|".join(map(re.escape, raw_prefixes)) + r")\.[a-z_]+")
    key = re.compile(r"\b(?:" + "|".join(re.escape(k) for k in keys if "_" in k) + r")\b")
    value = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(english_values))) + r")\b", re.IGNORECASE)

    def untranslated(text: str) -> list[str]:
        return raw.findall(text) + key.findall(text) + value.findall(text) + AM_PM.findall(text)

    return untranslated
