"""The whole-product crawl: a reader of one role and one language walks every page that
links reach from the home page and the workbench, and each page and form is checked.

:func:`crawl` drives one Playwright browser context (one reader) breadth first over the
same-origin links of the layout and the pages (and the pages its search and filter forms
lead to as they stand), and checks every page it opens:

- the answer is below 500, an HTML document (never JSON on a page route), in the reader's
  language (``<html lang>``), and a link or a search form does not lead to a 4xx page;
- nothing is fetched from a host other than the server's (127.0.0.1);
- axe-core finds no serious or critical accessibility violation;
- the visible words are in the page's language: on zh-CN pages no Latin-script word
  outside :data:`LATIN_ALLOWED`, on English pages no Han character or CJK punctuation;
  nowhere a snake_case code, an untranslated message key or a Python/JS null.  Words
  the database holds (names of divisions, facilities, people, and what users typed) are
  taken out first: they are the data, not the interface (:class:`DataWords`);
- the language switch keeps the page's path and query and only swaps ``lang``;
- no script error and no Content-Security-Policy refusal in the console.

Every POST form met (once per action and set of fields) is sent once with a value that
is certainly wrong in one field (a word in a number or date field, a blank required
field, text over its maxlength) and the browser's own validation turned off: the answer
must show the problem (role=alert, a field error or the error page) in the page's
language, and the form again with everything else that was typed.

Failures are collected, not raised, so that one run lists all of them
(:meth:`CrawlReport.describe`).
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import shequ.i18n
from tests.web.axe import AXE_JS, axe_violations

LANGS = ("zh-CN", "en")
# Links not to follow: the way out, files and assets, and the machine surfaces (JSON).
SKIPPED_PREFIXES = ("/logout", "/static", "/media", "/api", "/hsds", "/open311",
                    "/openapi.json", "/favicon", "/docs/")
SKIPPED_SUFFIXES = (".csv", ".xlsx", ".json", ".geojson", ".txt", ".ico", ".svg", ".png",
                    ".jpg", ".jpeg", ".pdf", ".zip", ".js", ".css")
# Pages that are not Shequ's own frame: their words are a third party's (Swagger UI).
FOREIGN_TEXT_PAGES = ("/docs",)

# Latin-script words a zh-CN page may show: names of standards, formats and units.
LATIN_ALLOWED = frozenset({
    "m²", "km²", "km", "m", "min", "h", "kg", "HSDS", "Open311", "API", "Shequ", "CSV",
    "XLSX", "GeoJSON", "JSON", "OSM", "OpenStreetMap", "Leaflet", "ECharts", "GB", "T",
    "UTC", "UTF", "WGS84", "GCJ", "iCalendar", "JPEG", "PNG", "MB", "KB",
    "Shapefile", "GeoPackage",
})
# OpenStreetMap opening hours ("Mo-Fr 08:30-17:30") are what staff type on the pages
# where they keep the facilities' records; anywhere else they must be put in words.
OPENING_HOURS_WORDS = frozenset({"Mo", "Tu", "We", "Th", "Fr", "Sa", "Su", "PH", "off"})
LATIN_ALLOWED_UNDER = {"/upkeep": OPENING_HOURS_WORDS}
TYPED_FILLER = re.compile(r"x{8,}")  # the overlong value the crawl types, said back
# Reference codes of the plan's indicators and the like (N1, S7, L4): names, not words.
REFERENCE_CODE = re.compile(r"[A-Z]{1,2}\d{1,3}")
# The first part of every message key (each catalog's, a catalog added later too).
CATALOG_DOMAINS = tuple(sorted(shequ.i18n.message_domains()))

HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_PUNCT = r"\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
HAN_RUN = re.compile(f"[{HAN}]+")
CJK_PUNCT_RUN = re.compile(f"[{CJK_PUNCT}]+")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9²³_]*")
SNAKE_CASE = re.compile(r"(?<![\w./-])[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+(?![\w/-])")
CATALOG_KEY = re.compile(r"(?<![\w./])(?:" + "|".join(CATALOG_DOMAINS)
                         + r")\.[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*(?![\w/])")
NULLISH = re.compile(r"(?<![\w.])(?:None|nan|NaN|undefined|null|NaT|Infinity)(?![\w.])")
ID_SEGMENT = re.compile(r"^(?:\d+|[0-9a-f]{16,}|[A-Za-z0-9_-]{22,})$")

# In the page: the texts a reader meets (text nodes shown, labels read aloud, the title),
# each as its own string; closed <details> are opened first.
VISIBLE_TEXTS_JS = """
(skipSelector) => {
  for (const d of document.querySelectorAll("details:not([open])")) d.open = true;
  const parts = [];
  const page = document.documentElement.lang;
  // Words marked as another language (the switch's own name, say) are rightly so.
  const foreign = (el) => {
    const tagged = el.closest("[lang]");
    return tagged && tagged.lang !== page;
  };
  const shown = (el) => {
    const box = el.closest("option, optgroup") ? el.closest("select") : el;
    return box && box.checkVisibility({visibilityProperty: true});
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest(skipSelector) || foreign(el) || !shown(el)) continue;
    const text = node.nodeValue.trim();
    if (text) parts.push(text);
  }
  const labelled = "[aria-label], [placeholder], [title], img[alt], "
                 + "input[type=submit][value], input[type=button][value]";
  for (const el of document.body.querySelectorAll(labelled)) {
    if (el.closest(skipSelector) || foreign(el)) continue;
    for (const name of ["aria-label", "placeholder", "title", "alt"]) {
      const value = el.getAttribute(name);
      if (value && value.trim()) parts.push(value.trim());
    }
    if (el.matches("input[type=submit], input[type=button]")) parts.push(el.value);
  }
  if (document.title) parts.push(document.title);
  return parts;
}
"""
# Not read for words: scripts, names marked as such, literal machine text (<code>: a
# command, a field of a file format) and Swagger UI.
TEXT_SKIP = ("script, style, noscript, template, [translate=no], [data-proper-name], code, "
             "kbd, samp, #swagger-ui")

# In the page: the POST forms and their fields, as the crawl needs them.
FORMS_JS = """
() => Array.from(document.forms).map((form, index) => {
  const named = Array.from(form.elements).filter((el) => el.name);
  return {
    index,
    method: (form.getAttribute("method") || "get").toLowerCase(),
    // the attribute, not form.action: a field named "action" hides that property
    action: new URL(form.getAttribute("action") || "", document.baseURI).href,
    fields: named.map((el) => ({
      name: el.name,
      // the how-manieth field of this name (a table of inputs shares one name)
      nth: named.filter((other) => other.name === el.name).indexOf(el),
      tag: el.tagName.toLowerCase(),
      type: {SELECT: "select", TEXTAREA: "textarea", BUTTON: "button"}[el.tagName]
            || (el.getAttribute("type") || "text").toLowerCase(),
      required: el.required,
      maxlength: el.maxLength > 0 ? el.maxLength : null,
      visible: el.type !== "hidden" && el.checkVisibility({visibilityProperty: true}),
      readonly: el.readOnly || el.disabled,
      value: el.value,
    })),
  };
})
"""

# In the page: give form ``index`` the values ``fill`` (field name → value; a field
# named in ``bad`` becomes a plain text field first, so that the browser keeps any
# word), turn off the browser's checks and send it as a user would.
SUBMIT_JS = """
([index, fill, bad]) => {
  const form = document.forms[index];
  form.noValidate = true;
  for (const [key, value] of fill) {
    const [name, nth] = key;
    const target = Array.from(form.elements).filter((el) => el.name === name)[nth];
    const isBad = bad[0] === name && bad[1] === nth;
    if (isBad && target.tagName === "INPUT") {
      for (const limit of ["maxlength", "min", "max", "pattern"]) target.removeAttribute(limit);
      target.type = "text";
    }
    if (isBad && target.tagName === "TEXTAREA") target.removeAttribute("maxlength");
    target.value = value;
  }
  form.requestSubmit();
}
"""

# In the page: what the form posted to ``action`` shows in field ``name`` (the value
# the server wrote into the page, not what the browser kept).
DRAWN_VALUE_JS = """
([action, position, name, nth]) => {
  const forms = Array.from(document.forms);
  const same = forms.filter(
    (f) => new URL(f.getAttribute("action") || "", document.baseURI).href === action);
  // the form that failed shows its problems; else the same one by position
  const form = same.find((f) => f.querySelector("[aria-invalid=true], [data-testid=field-error]"))
            || same[position] || same[0];
  if (!form) return null;
  const el = Array.from(form.elements).filter((e) => e.name === name)[nth];
  if (!el) return null;
  if (el.tagName === "TEXTAREA") return el.defaultValue;
  if (el.tagName === "INPUT") return el.getAttribute("value") || "";
  return el.value;
}
"""

TEXTUAL_TYPES = frozenset({"text", "search", "number", "email", "tel", "url", "textarea",
                           "date", "time", "datetime-local", "month", "password"})
KEEPABLE_TYPES = TEXTUAL_TYPES - {"password"}
KEPT_FILLER = "77"


class DataWords:
    """Words that come from the database, found in a text so that they are not taken for
    words of the interface.

    ``names`` are whole strings (names, addresses, what users typed); long free texts
    are also split at punctuation and spaces, and each piece's beginnings kept, so that
    a text shown cut short is still recognised.
    """

    def __init__(self, texts: Iterable[str]) -> None:
        self.texts = tuple(texts)
        words: set[str] = set()
        splitter = re.compile(r"[\s，。；：、,.;:!?！？（）()\"“”'‘’/]+")
        for raw in self.texts:
            text = raw.strip()
            if not text:
                continue
            words.add(text)
            for line in text.splitlines():
                if line.strip():
                    words.add(line.strip())
            for piece in splitter.split(text):
                if len(piece) >= 2:
                    words.update(piece[:end] for end in range(2, len(piece) + 1))
        self.words = frozenset(words)
        self.longest: dict[str, int] = {}
        for word in self.words:
            first = word[0]
            self.longest[first] = max(self.longest.get(first, 0), len(word))
        self.longest_any = max(self.longest.values(), default=0)

    def plus(self, texts: Iterable[str]) -> DataWords:
        """These words and ``texts``."""
        return DataWords((*self.texts, *texts))

    def covered(self, text: str, start: int, end: int) -> bool:
        """Whether every character of ``text[start:end]`` lies in a database word."""
        cover = [False] * (end - start)
        for begin in range(max(0, start - self.longest_any), end):
            most = self.longest.get(text[begin], 0)
            if not most or begin + most <= start:
                continue
            for stop in range(min(len(text), begin + most), max(begin, start), -1):
                if text[begin:stop] in self.words:
                    for i in range(max(begin, start), min(stop, end)):
                        cover[i - start] = True
                    break
        return all(cover)


def language_problems(texts: Iterable[str], lang: str, data: DataWords,
                      path: str = "/") -> list[str]:
    """What in ``texts`` (the visible strings of the page at ``path``) is not in ``lang``."""
    allowed = LATIN_ALLOWED.union(*(words for prefix, words in LATIN_ALLOWED_UNDER.items()
                                    if path == prefix or path.startswith(prefix + "/")))
    found: list[str] = []
    seen: set[tuple[str, str]] = set()

    def add(kind: str, word: str, text: str) -> None:
        if (kind, word) in seen:
            return
        seen.add((kind, word))
        context = text if len(text) <= 90 else text[:87] + "…"
        found.append(f"{kind} {word!r} in {context!r}")

    for text in texts:
        for match in SNAKE_CASE.finditer(text):
            if not data.covered(text, match.start(), match.end()):
                add("code", match.group(), text)
        for match in CATALOG_KEY.finditer(text):
            add("message key", match.group(), text)
        for match in NULLISH.finditer(text):
            if not data.covered(text, match.start(), match.end()):
                add("empty value", match.group(), text)
        if lang == "zh-CN":
            for match in LATIN_WORD.finditer(text):
                word = match.group()
                if (word in allowed or SNAKE_CASE.fullmatch(word)
                        or REFERENCE_CODE.fullmatch(word) or TYPED_FILLER.fullmatch(word)):
                    continue
                if not data.covered(text, match.start(), match.end()):
                    add("Latin word", word, text)
        else:
            for match in HAN_RUN.finditer(text):
                if not data.covered(text, match.start(), match.end()):
                    add("Han", match.group(), text)
            for match in CJK_PUNCT_RUN.finditer(text):
                if not data.covered(text, match.start(), match.end()):
                    add("CJK punctuation", match.group(), text)
    return found


def page_key(url: str) -> str:
    """A page's identity in the crawl: path and query, without ``lang`` and ``msg``."""
    parts = urlsplit(url)
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if k not in {"lang", "msg"})
    return parts.path + ("?" + urlencode(query) if query else "")


def page_shape(url: str) -> str:
    """A page's kind: its path with ids replaced and the names of its query."""
    parts = urlsplit(url)
    path = "/".join("{id}" if ID_SEGMENT.match(s) else s for s in parts.path.split("/"))
    keys = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True)
                   if k not in {"lang", "msg"}})
    return path + ("?" + "&".join(keys) if keys else "")


def followable(url: str, origin: str) -> bool:
    """Whether the crawl opens ``url`` (a same-origin page, not a file or JSON)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or f"{parts.scheme}://{parts.netloc}" != origin:
        return False
    path = parts.path or "/"
    if path == "/docs":
        return True
    return not (path.startswith(SKIPPED_PREFIXES) or path.lower().endswith(SKIPPED_SUFFIXES))


def switch_problem(href: str | None, here: str, lang: str) -> str | None:
    """What is wrong with the language switch ``href`` on the page at ``here``."""
    if not href:
        return "no language switch"
    other = "en" if lang == "zh-CN" else "zh-CN"
    target, current = urlsplit(href), urlsplit(here)
    asked = [v for k, v in parse_qsl(target.query, keep_blank_values=True) if k == "lang"]
    kept = sorted((k, v) for k, v in parse_qsl(target.query, keep_blank_values=True)
                  if k != "lang")
    before = sorted((k, v) for k, v in parse_qsl(current.query, keep_blank_values=True)
                    if k not in {"lang", "msg"})
    if (target.path or "/") != (current.path or "/") or kept != before or asked != [other]:
        return f"language switch {href!r} is not this page ({page_key(here)!r}) in {other}"
    return None


@dataclass
class Failure:
    """One thing wrong: where, for whom, what."""

    url: str
    what: str

    def line(self, role: str, lang: str) -> str:
        return f"{self.url} [{role}, {lang}]: {self.what}"


@dataclass
class CrawlReport:
    """What one reader's crawl found."""

    role: str
    lang: str
    pages: list[str] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)
    unexercised_forms: list[str] = field(default_factory=list)
    cut_short: list[str] = field(default_factory=list)  # not opened: out of time
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, what: str) -> Iterator[None]:
        """Count the time spent inside towards ``what``."""
        began = time.monotonic()
        try:
            yield
        finally:
            self.timings[what] = self.timings.get(what, 0.0) + time.monotonic() - began

    def fail(self, url: str, what: str) -> None:
        self.failures.append(Failure(page_key(url) if url.startswith("http") else url, what))

    def describe(self) -> str:
        """The failures, each thing wrong once with the pages it was found on."""
        head = (f"{len(self.failures)} failures for {self.role} in {self.lang} "
                f"({len(self.pages)} pages, {len(self.forms)} forms sent, "
                f"{self.seconds:.0f} s: "
                + ", ".join(f"{k} {v:.0f} s" for k, v in self.timings.items()) + "):")
        where: dict[str, list[str]] = {}
        for failure in self.failures:
            where.setdefault(failure.what, [])
            if failure.url not in where[failure.what]:
                where[failure.what].append(failure.url)
        lines = [head]
        for what, urls in where.items():
            shown = ", ".join(urls[:4]) + (f" and {len(urls) - 4} more" if len(urls) > 4
                                           else "")
            lines.append(f"- [{self.role}, {self.lang}] {what}\n    on {shown}")
        return "\n".join(lines)


def _bad_value(spec: Mapping[str, Any]) -> str | None:
    """A value certainly refused in the field ``spec``, or None when none is certain."""
    kind = spec["type"]
    if kind in {"number", "date", "time", "datetime-local", "month"}:
        return "abc"
    if spec["required"]:
        return ""
    if spec["maxlength"]:
        return "x" * (int(spec["maxlength"]) + 1)
    return None


@dataclass
class Crawler:
    """One reader (a browser context) crawling from ``starts``."""

    context: Any
    origin: str
    lang: str
    data: DataWords
    report: CrawlReport
    cap: int = 60
    per_shape: int = 2
    form_cap: int = 40
    deadline: float = float("inf")
    outside: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)  # (text, its source)
    documents: set[str] = field(default_factory=set)  # the pages' own addresses

    def __post_init__(self) -> None:
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.page.on("request", self._request)
        self.page.on("console", self._console)
        self.page.on("response", self._response)
        self.page.on("pageerror",
                     lambda error: self.console.append((f"script error: {error}", "")))

    def _request(self, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in {"data", "blob", "about"}:
            return
        if parts.hostname != "127.0.0.1":
            self.outside.append(request.url)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.console.append((message.text,
                                 message.location.get("url", "").split("#")[0]))

    def _response(self, response: Any) -> None:
        if response.request.resource_type == "document":
            self.documents.add(response.url.split("#")[0])

    def _drain(self, url: str) -> None:
        """Report the outside requests and console errors since the last call."""
        for address in dict.fromkeys(self.outside):
            self.report.fail(url, f"request to another host: {address}")
        for text, source in dict.fromkeys(self.console):
            # A page's own 4xx answer is logged as a failed load: the checks judge it.
            if text.startswith("Failed to load resource") and source in self.documents:
                continue
            where = page_key(source) if source.startswith(self.origin) else source
            said = text if text.startswith("script error") else f"console error: {text}" + (
                f" ({where})" if where else "")
            self.report.fail(url, said[:300])
        self.outside.clear()
        self.console.clear()

    def open(self, url: str) -> tuple[Any, str | None]:
        """Go to ``url``; the response, or None with why not (a download is no page)."""
        try:
            with self.report.timed("opening"):
                return self.page.goto(url, wait_until="load"), None
        except Exception as exc:  # Playwright's Error: a download, a timeout, a crash
            text = str(exc).splitlines()[0]
            if "Download is starting" in text:
                return None, "download"
            return None, text

    def check_page(self, url: str, response: Any, *, via: str | None, axe: bool = True
                   ) -> bool:
        """The checks of one page reached by ``via`` ("link", "search form"; None: its
        4xx is judged by the caller); whether it is an HTML page."""
        here = self.page.url
        status = response.status if response is not None else 0
        if status >= 500:
            self.report.fail(here, f"answered {status}")
        elif via and status >= 400:
            code = self.page.evaluate(
                "() => document.querySelector('[data-testid=error-page]')?.dataset.code ?? null")
            # A search refused as it stands may draw itself again with its problems (422);
            # the error page instead loses it.
            if via != "search form" or code is not None:
                self.report.fail(url, f"a {via} leads to a {status} page {code or ''}".rstrip())
        content_type = (response.headers.get("content-type", "") if response else "")
        if not content_type.startswith("text/html"):
            self.report.fail(here, f"not an HTML page: {content_type or 'no content type'}")
            self._drain(here)
            return False
        lang = self.page.evaluate("() => document.documentElement.lang")
        if lang != self.lang:
            self.report.fail(here, f"<html lang={lang!r}>, the reader asked for {self.lang}")
        path = urlsplit(here).path
        with self.report.timed("axe"):
            violations = axe_violations(self.page) if axe else []
        for violation in violations:
            targets = ", ".join(" ".join(map(str, n["target"])) for n in violation["nodes"][:3])
            self.report.fail(here, f"axe {violation['id']} ({violation['impact']}): "
                                   f"{violation['help']} — {targets}")
        if path not in FOREIGN_TEXT_PAGES:
            with self.report.timed("words"):
                texts = self.page.evaluate(VISIBLE_TEXTS_JS, TEXT_SKIP)
                wrongs = language_problems(texts, self.lang, self.data, path)
            for wrong in wrongs:
                self.report.fail(here, wrong)
            switch = self.page.evaluate(
                "() => document.querySelector('[data-testid=language-switch]')"
                "?.getAttribute('href') ?? null")
            problem = switch_problem(switch, here, self.lang)
            if problem:
                self.report.fail(here, problem)
        self._drain(here)
        return True

    def links(self) -> list[str]:
        # Not the language switch (checked, not followed: it would change the reader's
        # language), nor any other link into the other language.
        hrefs: list[str] = self.page.evaluate(
            "() => Array.from(document.querySelectorAll("
            "'a[href]:not([download]):not([hreflang]):not([data-testid=language-switch])'),"
            " (a) => a.href.split('#')[0])")
        return [h for h in dict.fromkeys(hrefs) if followable(h, self.origin)
                and dict(parse_qsl(urlsplit(h).query)).get("lang", self.lang) == self.lang]

    def searches(self) -> list[str]:
        """The pages the GET forms (searches, filters) lead to as they are filled in."""
        urls: list[str] = self.page.evaluate("""() => Array.from(document.forms)
          .filter((f) => (f.getAttribute("method") || "get").toLowerCase() === "get")
          .map((f) => {
            const target = new URL(f.getAttribute("action") || "", document.baseURI);
            target.search = new URLSearchParams(new FormData(f)).toString();
            return target.href.split("#")[0];
          })""")
        return [u for u in dict.fromkeys(urls) if followable(u, self.origin)
                and dict(parse_qsl(urlsplit(u).query)).get("lang", self.lang) == self.lang]

    def forms(self) -> list[dict[str, Any]]:
        forms: list[dict[str, Any]] = self.page.evaluate(FORMS_JS)
        for form in forms:
            # which of the forms posting to the same address it is
            form["position"] = sum(1 for f in forms[:form["index"]]
                                   if f["action"] == form["action"])
        return [f for f in forms if f["method"] == "post"
                and followable(f["action"], self.origin)
                and not urlsplit(f["action"]).path.startswith("/logout")]

    def send_bad_form(self, url: str, form: dict[str, Any]) -> None:
        """Send ``form`` (on the page at ``url``, open now) with one certainly bad value."""
        fields = [f for f in form["fields"] if f["visible"] and not f["readonly"]
                  and f["type"] in TEXTUAL_TYPES]
        bad_field, bad = None, None
        for spec in fields:
            bad = _bad_value(spec)
            if bad is not None:
                bad_field = spec
                break
        action = page_key(form["action"])
        if bad_field is None:
            self.report.unexercised_forms.append(f"{action} on {page_key(url)}")
            return
        fill: list[tuple[tuple[str, int], str]] = []
        for spec in fields:
            if spec is bad_field:
                fill.append(((spec["name"], spec["nth"]), bad or ""))
            elif spec["type"] in {"text", "search", "textarea", "number", "tel"} \
                    and not spec["value"]:
                fill.append(((spec["name"], spec["nth"]), KEPT_FILLER))
        filled = dict(fill)
        kept = {(spec["name"], spec["nth"]): filled.get((spec["name"], spec["nth"]),
                                                        spec["value"])
                for spec in fields
                if spec["type"] in KEEPABLE_TYPES and spec is not bad_field}
        label = f"form {action} (bad {bad_field['name']}={bad[:8] if bad else bad!r})"
        self.report.forms.append(f"{action} on {page_key(url)}")
        try:
            with self.report.timed("sending forms"), \
                    self.page.expect_navigation(wait_until="load", timeout=15_000) as sent:
                self.page.evaluate(SUBMIT_JS, [form["index"], fill,
                                               [bad_field["name"], bad_field["nth"]]])
            response = sent.value
        except Exception as exc:
            self.report.fail(url, f"{label}: no answer page ({str(exc).splitlines()[0]})")
            self._drain(url)
            return
        here = self.page.url
        status = response.status if response is not None else 0
        if urlsplit(here).query and "msg=" in urlsplit(here).query:
            self.report.fail(url, f"{label}: accepted (redirected to {page_key(here)})")
            self._drain(url)
            return
        if not self.check_page(here, response, via=None):
            self.report.fail(url, f"{label}: answered {status} without a page")
            return
        problem = self.page.evaluate("""() => {
          const shown = Array.from(document.querySelectorAll(
            "[role=alert], [data-testid=field-error], [data-testid=error-page]"))
            .filter((el) => el.checkVisibility());
          return shown.map((el) => el.innerText.trim()).join(" | ");
        }""")
        if not problem:
            self.report.fail(url, f"{label}: answered {status} showing no problem")
        else:
            wrong = language_problems([problem], self.lang, self.data, urlsplit(url).path)
            if self.lang == "zh-CN" and not HAN_RUN.search(problem):
                wrong.append(f"no Chinese in {problem[:80]!r}")
            for text in wrong:
                self.report.fail(url, f"{label}: its problem is not in {self.lang}: {text}")
        error_page = self.page.locator("[data-testid=error-page]").count() > 0
        if error_page:
            self.report.fail(url, f"{label}: answered with the error page ({status}), "
                                  "not the form with what was typed")
            return
        for (name, nth), value in kept.items():
            drawn = self.page.evaluate(DRAWN_VALUE_JS, [form["action"], form["position"],
                                                        name, nth])
            field_name = name if nth == 0 else f"{name} (number {nth + 1})"
            if drawn is None:
                self.report.fail(url, f"{label}: field {field_name} is gone from the answer")
            elif drawn != value:
                self.report.fail(url, f"{label}: field {field_name} shows {drawn[:40]!r}, "
                                      f"typed {value[:40]!r}")

    def run(self, starts: list[str]) -> CrawlReport:
        began = time.monotonic()
        queue: deque[tuple[str, str | None]] = deque((self.origin + s, None) for s in starts)
        seen: set[str] = set()
        shapes: dict[str, int] = {}
        sent_forms: set[tuple[str, tuple[str, ...]]] = set()
        while queue and len(self.report.pages) < self.cap:
            if time.monotonic() > self.deadline:  # a machine far too busy: say so, stop
                self.report.cut_short = [page_key(u) for u, _ in queue]
                break
            url, via = queue.popleft()
            key, shape = page_key(url), page_shape(url)
            if key in seen or shapes.get(shape, 0) >= self.per_shape:
                continue
            seen.add(key)
            shapes[shape] = shapes.get(shape, 0) + 1
            response, why = self.open(url)
            if why == "download":
                continue
            self.report.pages.append(key)
            if response is None:
                self.report.fail(url, f"did not open: {why}")
                self._drain(url)
                continue
            # axe on the first page of each kind: the second is the same template.
            if not self.check_page(url, response, via=via, axe=shapes[shape] == 1) \
                    or not 200 <= response.status < 400:
                continue
            # A redirect (to sign in, say) lands on a page that counts as seen too.
            seen.add(page_key(self.page.url))
            for link in self.links():
                if page_key(link) not in seen:
                    queue.append((link, "link"))
            for search in self.searches():
                if page_key(search) not in seen:
                    queue.append((search, "search form"))
            here, fresh = self.page.url, True
            for form in self.forms():
                signature = (page_shape(form["action"]),
                             tuple(sorted(f["name"] for f in form["fields"])))
                if signature in sent_forms or len(sent_forms) >= self.form_cap:
                    continue
                sent_forms.add(signature)
                if not fresh:  # the page again, as it was, for its next form
                    self.open(here)
                    self._drain(here)
                self.send_bad_form(here, form)
                fresh = False
        self.report.seconds = time.monotonic() - began
        return self.report


# The database's own words: names of places and people, and what users typed.
DATA_COLUMNS: dict[str, tuple[str, ...]] = {
    "division": ("name",),
    # Not opening hours: stored in OpenStreetMap's syntax ("Mo-Fr 08:00-17:00"), they are
    # a code the pages must put in words.
    "facility": ("name", "address", "operator_name", "phone"),
    "resident": ("name_masked",),
    "app_user": ("username", "display_name"),
    "audit_log": ("username",),
    "booking_resource": ("name",),
    "booking": ("purpose", "decision_note"),
    "booking_series": ("purpose",),
    "care_application": ("beneficiary_name_masked",),
    "volunteer": ("display_name", "skills"),
    "volunteer_activity": ("organiser_name", "title", "description"),
    "review": ("comment", "moderation_note"),
    "service_request": ("description", "address", "status_notes", "rating_comment"),
    "service_request_event": ("note",),
    "plan_scenario": ("name", "description"),
    "plan_scenario_change": ("name",),
    "indicator_run": ("note",),
    "account_session": ("user_agent", "source_address"),
    "division_change": ("note",),
    "reporting_round": ("name",),
    "api_key": ("name",),
}


# Encrypted columns, read through the models (which decrypt them): (module, class, attrs).
ENCRYPTED_COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("shequ.services.care.models", "CareApplication", ("beneficiary_name",)),
    ("shequ.services.requests.models", "ServiceRequest",
     ("description_enc", "contact_name_enc", "status_notes_enc", "rating_comment_enc")),
    ("shequ.services.requests.models", "ServiceRequestEvent", ("note_enc",)),
    ("shequ.services.reviews.models", "Review", ("comment_enc",)),
)


def database_words(ctx: Any) -> DataWords:
    """The words of :data:`DATA_COLUMNS` and :data:`ENCRYPTED_COLUMNS` held in the
    database of the context ``ctx``."""
    import importlib

    from sqlalchemy import inspect, select, text

    inspector = inspect(ctx.engine)
    tables = {name: {c["name"] for c in inspector.get_columns(name)}
              for name in inspector.get_table_names()}
    texts: list[str] = []
    with ctx.sessions() as session:
        for table, columns in DATA_COLUMNS.items():
            for column in columns:
                if column in tables.get(table, set()):
                    texts.extend(str(v) for v in session.scalars(text(
                        f'SELECT DISTINCT "{column}" FROM "{table}" '
                        f'WHERE "{column}" IS NOT NULL')))
        for module, name, attributes in ENCRYPTED_COLUMNS:
            model = getattr(importlib.import_module(module), name)
            for attribute in attributes:
                texts.extend(str(v) for v in session.scalars(select(getattr(model, attribute)))
                             if v)
    return DataWords(texts)


def sign_in(context: Any, origin: str, username: str, password: str, lang: str) -> None:
    """Sign ``username`` in through the sign-in page, in ``lang`` (remembered by cookie)."""
    page = context.new_page()
    page.goto(f"{origin}/login?lang={lang}")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("[data-testid=login-form] button[type=submit]")
    assert "/login" not in urlsplit(page.url).path, f"{username} could not sign in"
    page.close()


def crawl(browser: Any, origin: str, *, username: str | None, password: str, lang: str,
          data: DataWords, staff: bool, cap: int = 60, seconds: float = 150) -> CrawlReport:
    """Crawl as ``username`` (None: anonymous) in ``lang``; the report of what failed."""
    context = browser.new_context(locale=lang, viewport={"width": 1280, "height": 900})
    # axe-core in every page from the start (cheaper than evaluating it into each page).
    context.add_init_script(path=str(AXE_JS))
    try:
        if username:
            sign_in(context, origin, username, password, lang)
        else:
            opener = context.new_page()
            opener.goto(f"{origin}/?lang={lang}")  # the language, kept by its cookie
            opener.close()
        report = CrawlReport(role=username or "anonymous", lang=lang)
        # The sessions page shows the browser's own description, as it was sent.
        probe = context.new_page()
        data = data.plus([probe.evaluate("navigator.userAgent"), "abc", KEPT_FILLER])
        probe.close()
        crawler = Crawler(context, origin, lang, data, report, cap=cap,
                          deadline=time.monotonic() + seconds)
        return crawler.run(["/", "/work"] if staff else ["/"])
    finally:
        context.close()
