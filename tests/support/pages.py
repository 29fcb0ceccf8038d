"""Reading the status pages as HTML: every tag with its attributes and the text, and a channel's 90-day bar."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class Html(HTMLParser):
    """Every start tag with its (unescaped) attributes, and the page's text."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def bar_of(page: str, channel: str) -> tuple[str, list[tuple[str, str]]]:
    """The aria-label of a channel's 90-day bar on the overview, and its days as (colour class, title)."""
    match = re.search(rf'href="/channels/{channel}">.*?<div class="days" role="img" aria-label="([^"]*)">(.*?)</div>', page, re.S)
    assert match, f"no bar for {channel}"
    return match.group(1), re.findall(r'<i class="d-(\w+)" title="([^"]*)"></i>', match.group(2))
