"""A tiny HTML element collector (stdlib only) for asserting on a page's structure."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    within: tuple[str, ...] = ()  # ids of the enclosing elements
    text: list[str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.stack: list[Element] = []

    def _within(self) -> tuple[str, ...]:
        return tuple(e.attrs["id"] for e in self.stack if e.attrs.get("id"))

    def handle_starttag(self, tag, attrs):
        el = Element(tag, {k: v or "" for k, v in attrs}, self._within())
        self.elements.append(el)
        if tag not in _VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag, attrs):
        self.elements.append(Element(tag, {k: v or "" for k, v in attrs}, self._within()))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for el in self.stack:
            el.text.append(data)


class Dom:
    def __init__(self, html: str) -> None:
        parser = _Collector()
        parser.feed(html)
        parser.close()
        self.elements = parser.elements

    def find(self, tag: str | None = None, *, id: str | None = None, cls: str | None = None,
             within: str | None = None, **attrs: str) -> list[Element]:
        out = []
        for el in self.elements:
            if within is not None and within not in el.within:
                continue
            if tag is not None and el.tag != tag:
                continue
            if id is not None and el.attrs.get("id") != id:
                continue
            if cls is not None and cls not in el.classes:
                continue
            if any(el.attrs.get(k.replace("_", "-")) != v for k, v in attrs.items()):
                continue
            out.append(el)
        return out

    def one(self, tag: str | None = None, **kw) -> Element:
        found = self.find(tag, **kw)
        assert len(found) == 1, f"expected one {tag} {kw}, found {len(found)}"
        return found[0]

    def text_of(self, **kw) -> str:
        return "".join(self.one(**kw).text)
