"""What a reader sees of a page's main part: its text, without tags, scripts or data
blocks, for the checks that a Chinese page shows no Latin words and no message keys."""

from __future__ import annotations

import re
from html import unescape

from shequ.i18n import message_domains

# Latin a zh-CN page may show: format names, units, proper names of standards.
ALLOWED_LATIN = frozenset({"API", "HSDS", "Open311", "JPEG", "PNG", "MB"})


def main_text(html: str) -> str:
    """The text of ``<main>``, scripts and their data left out."""
    main = html.split("<main", 1)[1].split("</main>", 1)[0]
    main = re.sub(r"<script.*?</script>", " ", main, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", main.split(">", 1)[1]))


def latin_words(html: str, *, names: frozenset[str] = frozenset()) -> list[str]:
    """Latin words in the main text other than the allowed ones and ``names``."""
    return [w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]+", main_text(html))
            if w not in ALLOWED_LATIN and w not in names]


def raw_keys(html: str) -> list[str]:
    """Message keys shown as they are (a missing message)."""
    domains = "|".join(sorted(message_domains()))
    return re.findall(rf"(?<![\w/.-])(?:{domains})\.[a-z0-9_.]+", main_text(html))


def han_outside(html: str, names: set[str] | frozenset[str]) -> list[str]:
    """Runs of Chinese characters in the main text once ``names`` (of places, facilities,
    people, and what users typed) are taken out: an English page shows none."""
    text = main_text(html)
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, " ")
    return re.findall(r"[\u3400-\u9fff]+", text)
