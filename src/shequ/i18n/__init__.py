"""The interface's words and formats: zh-CN first, English second.

Messages live in gettext catalogs read with Babel, one catalog per language assembled from
a file per domain (``locale/<zh_CN|en>/LC_MESSAGES/<domain>.po``), so that a domain's
messages are edited in one place.  A ``msgid`` is the message key (``domain.key``) and
its ``msgstr`` the text, with ``{name}`` placeholders (``python-brace-format``).  A key
missing in English falls back to Chinese, and a key missing everywhere shows itself, so a
gap is visible instead of blank (and the page tests look for keys on pages).

Numbers, dates and times are formatted for the locale by Babel; times are stored in UTC
and always shown in China Standard Time (a naive value is taken to be UTC).

Errors carry a stable ``code`` and parameters (:mod:`shequ.errors`); :func:`describe`
renders one in the reader's language from the key ``errors.<code>`` or
``problems.<code>``, falling back to a sentence for the kind of error rather than
English text on a Chinese page.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.pofile import read_po

from shequ.errors import Problem, ShequError, ValidationError

LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
CHINA_TZ = ZoneInfo("Asia/Shanghai")
# The folder of each language's catalog, and Babel's locale for its formats.
_CATALOG_FOLDER = {"zh-CN": "zh_CN", "en": "en"}
_BABEL_LOCALE = {"zh-CN": Locale.parse("zh_Hans_CN"), "en": Locale.parse("en_GB")}


@cache
def messages(lang: str) -> dict[str, str]:
    """Every message of ``lang``, keyed ``domain.key`` (untranslated entries left out)."""
    out: dict[str, str] = {}
    folder = LOCALE_DIR / _CATALOG_FOLDER.get(lang, _CATALOG_FOLDER[DEFAULT_LANGUAGE])
    for path in sorted(folder.glob("LC_MESSAGES/*.po")):
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=_CATALOG_FOLDER[lang], domain=path.stem)
        for message in catalog:
            if message.id and isinstance(message.id, str) and message.string:
                out[message.id] = str(message.string)
    return out


def normalise_language(value: str | None) -> str:
    """A supported language for whatever the user asked for: a code (``en``, ``zh-CN``)
    or an ``Accept-Language`` header, weighted by ``q``; zh-CN when nothing matches."""
    return negotiate(value) or DEFAULT_LANGUAGE


def negotiate(value: str | None) -> str | None:
    """The supported language ``value`` prefers (a code or an ``Accept-Language``
    header), or ``None`` when it names none of them."""
    if not value:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(value.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        ranked.append((-weight, position, tag.strip().lower()))
    for weight, _position, tag in sorted(ranked):
        if weight == 0:
            continue
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return None


def has_message(lang: str, key: str) -> bool:
    """Whether ``key`` has a text in ``lang`` (or in zh-CN, its fallback)."""
    return key in messages(lang) or key in messages(DEFAULT_LANGUAGE)


class _Missing(dict[str, object]):
    """Placeholders without a value stay visible (``{name}``) instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def translate(lang: str, key: str, **values: object) -> str:
    """The message ``key`` in ``lang``, formatted with ``values``."""
    text = messages(lang).get(key) or messages(DEFAULT_LANGUAGE).get(key) or key
    if not values:
        return text
    return string.Formatter().vformat(text, (), _Missing(values))


def locale_of(lang: str) -> Locale:
    """Babel's locale for a supported language."""
    return _BABEL_LOCALE.get(lang, _BABEL_LOCALE[DEFAULT_LANGUAGE])


def number(value: float | int | None, lang: str, *, digits: int | None = None) -> str:
    """``value`` with the locale's grouping; ``digits`` fixes the decimals shown."""
    if value is None:
        return "—"
    if digits is None:
        return babel_numbers.format_decimal(value, locale=locale_of(lang))
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return babel_numbers.format_decimal(value, format=pattern, locale=locale_of(lang))


def percent(value: float | None, lang: str, *, digits: int = 0) -> str:
    """A share (0.25) as the locale writes a percentage (25%)."""
    if value is None:
        return "—"
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "") + "%"
    return babel_numbers.format_percent(value, format=pattern, locale=locale_of(lang))


def china_time(value: dt.datetime) -> dt.datetime:
    """``value`` in China Standard Time; a naive value is taken to be UTC, as stored."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(CHINA_TZ)


def datetime_text(value: dt.datetime | None, lang: str, *, form: str = "medium") -> str:
    """A moment in China time, as the locale writes it (``form``: short, medium, long)."""
    if value is None:
        return "—"
    return babel_dates.format_datetime(china_time(value), format=form, tzinfo=CHINA_TZ,
                                       locale=locale_of(lang))


def date_text(value: dt.date | dt.datetime | None, lang: str, *, form: str = "medium") -> str:
    """A day as the locale writes it (a moment is first put in China time)."""
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        value = china_time(value).date()
    return babel_dates.format_date(value, format=form, locale=locale_of(lang))


def time_text(value: dt.time, lang: str) -> str:
    """A time of day (hours and minutes) as the locale writes it."""
    return babel_dates.format_time(value, format="HH:mm", locale=locale_of(lang))


def _problem_values(problem: Problem, lang: str) -> dict[str, object]:
    values: dict[str, object] = dict(problem.params)
    values.setdefault("row", problem.row)
    column = problem.column or ""
    label_key = f"fields.{column}"
    values.setdefault("field", translate(lang, label_key) if has_message(lang, label_key)
                      else column)
    return values


def describe_problem(problem: Problem, lang: str) -> str:
    """One problem in the reader's language: its code's message, or (in Chinese, for a
    problem without a translated code) a sentence naming the field instead of the
    English reason."""
    values = _problem_values(problem, lang)
    if problem.code and has_message(lang, f"problems.{problem.code}"):
        text = translate(lang, f"problems.{problem.code}", **values)
    elif lang == "en":
        return problem.reason + (f" ({problem.hint})" if problem.hint else "")
    elif problem.column:
        text = translate(lang, "problems.invalid_value", **values)
    else:
        text = translate(lang, "errors.kind.validation.detail")
    return text


def where(problem: Problem, lang: str) -> str:
    """Where the problem is, in the reader's words (row and field), or empty."""
    values = _problem_values(problem, lang)
    parts: list[str] = []
    if problem.row is not None:
        parts.append(translate(lang, "problems.at_row", row=problem.row))
    if problem.column:
        parts.append(str(values["field"]))
    return translate(lang, "problems.separator").join(parts)


def error_title(exc: ShequError, lang: str) -> str:
    """The short title of an error's kind (RFC 9457 ``title``)."""
    return translate(lang, f"errors.kind.{exc.kind}")


def describe(exc: ShequError, lang: str) -> str:
    """An error in the reader's language (RFC 9457 ``detail``): its code's message with
    its parameters; else, in English, the error's own text, and in Chinese the sentence
    for its kind.  A validation error lists its problems."""
    if isinstance(exc, ValidationError) and exc.code == type(exc).default_code:
        head = translate(lang, "errors.validation", count=len(exc.problems))
        lines = [f"{where(p, lang)}{translate(lang, 'problems.colon') if where(p, lang) else ''}"
                 f"{describe_problem(p, lang)}" for p in exc.problems[:20]]
        return head + ("\n" + "\n".join(lines) if lines else "")
    key = f"errors.{exc.code}"
    if has_message(lang, key) and exc.code != type(exc).default_code:
        return translate(lang, key, **exc.params)
    if lang == "en":
        return str(exc)
    return translate(lang, f"errors.kind.{exc.kind}.detail")


def values_in(lang: str, mapping: Mapping[str, str]) -> dict[str, str]:
    """Each key of ``mapping`` (value → message key) translated: for choice lists."""
    return {value: translate(lang, key) for value, key in mapping.items()}


def message_domains() -> frozenset[str]:
    """The first parts of every message key (``common``, ``plan`` …): a word on a page
    made of one of these, a dot and a name is a message key shown raw."""
    return frozenset(key.split(".", 1)[0] for key in messages(DEFAULT_LANGUAGE))
