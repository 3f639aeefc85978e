"""Interface translations: zh-CN first, English second.

Each domain keeps its own file per language (``i18n/<lang>/<domain>.toml``) so that
packages never edit each other's messages; keys are ``<domain>.<key>``.  A key missing
in English falls back to Chinese, and a key missing everywhere shows itself, so a gap is
visible instead of blank.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

I18N_DIR = Path(__file__).with_name("i18n")
LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"


def _flatten(prefix: str, table: dict[str, object], out: dict[str, str]) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(name, value, out)
        else:
            out[name] = str(value)


@cache
def messages(lang: str) -> dict[str, str]:
    """All messages of ``lang``, keyed ``domain.key``."""
    out: dict[str, str] = {}
    folder = I18N_DIR / lang
    for path in sorted(folder.glob("*.toml")):
        with path.open("rb") as handle:
            _flatten(path.stem, tomllib.load(handle), out)
    return out


def normalise_language(value: str | None) -> str:
    """A supported language code for whatever the user asked for (default zh-CN)."""
    if not value:
        return DEFAULT_LANGUAGE
    lowered = value.lower()
    if lowered.startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


def translate(lang: str, key: str, **values: object) -> str:
    """The message ``key`` in ``lang``, formatted with ``values``."""
    text = messages(lang).get(key) or messages(DEFAULT_LANGUAGE).get(key) or key
    return text.format(**values) if values else text
