"""The indicator catalog: definitions, targets per jurisdiction, read from TOML data files.

Packaged files live in ``shequ/indicators/catalog/indicators_*.toml``.  A deployment
replaces a file by putting one of the same name in ``SHEQU_CATALOG_DIR`` and adds its own
(a province, a city) as further ``indicators_*.toml`` files there.  Every definition is
parsed and type-checked when the catalog loads, so a bad file fails at start-up with the
file, the indicator and the column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from shequ.catalog import Catalog, load_catalog, read_toml
from shequ.errors import CatalogError, ExpressionError
from shequ.indicators.expr import (
    DIMENSIONS,
    PERSON_MEASURES,
    Definition,
    Expr,
    Vocabulary,
    parse_definition,
    parse_expression,
)
from shequ.registry.codes import LEVEL_DIGITS, level_of

PACKAGED_DIR = Path(__file__).with_name("catalog")
NATION_CODE = "000000000000"
Direction = Literal[">=", "<=", "="]
DIRECTIONS: tuple[Direction, ...] = (">=", "<=", "=")
ATTRIBUTES = ("binding", "expected")


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator: its definition, its national (or scope) target and labels."""

    code: str
    name_zh: str
    name_en: str
    group: str
    unit: str
    direction: Direction
    definition: Definition
    numerator_text: str
    denominator_text: str | None
    scope: str = NATION_CODE
    baseline: float | None = None
    baseline_year: int | None = None
    target: float | None = None
    target_year: int = 2025
    attribute: str = "expected"
    confidence: str = "U"
    numerator_unit_zh: str = ""
    numerator_unit_en: str = ""
    gap_zh: str | None = None
    gap_en: str | None = None
    affected: str = "residents"
    source: str = ""

    def name(self, lang: str) -> str:
        """The name in ``lang`` (zh-CN first, anything else English)."""
        return self.name_zh if lang.startswith("zh") else self.name_en

    def numerator_unit(self, lang: str) -> str:
        """What the numerator counts, for "needs N more …" texts."""
        return self.numerator_unit_zh if lang.startswith("zh") else self.numerator_unit_en

    def gap(self, lang: str) -> str | None:
        """What a unit in the denominator but not the numerator lacks (None if not stated)."""
        return self.gap_zh if lang.startswith("zh") else self.gap_en

    def applies_to(self, code: str) -> bool:
        """True when ``code`` lies inside the indicator's scope (the nation by default)."""
        return jurisdiction_covers(self.scope, code)


@dataclass(frozen=True, slots=True)
class TargetRule:
    """A target set by a jurisdiction; it holds for every unit under that jurisdiction."""

    indicator: str
    jurisdiction: str
    target: float
    target_year: int = 2025
    attribute: str | None = None
    source: str = ""

    @property
    def depth(self) -> int:
        """How deep the setting jurisdiction is (0 nation … 5 community); deeper wins."""
        return 0 if self.jurisdiction == NATION_CODE else level_of(self.jurisdiction)


@dataclass(frozen=True, slots=True)
class StatusRules:
    """How a value and its trend become met / on track / at risk / behind.

    ``on_track``: the linear trend reaches the target by the target year.  ``at_risk``:
    it closes at least ``at_risk_share`` of the remaining gap.  ``equal_tolerance``:
    how close a "=" indicator must be to count as met.
    """

    at_risk_share: float = 0.5
    equal_tolerance: float = 1e-9


@dataclass(frozen=True, slots=True)
class IndicatorCatalog:
    """All indicators and target rules, in file order, with the files they came from."""

    indicators: dict[str, Indicator]
    targets: tuple[TargetRule, ...]
    inputs: dict[str, str]
    status_rules: StatusRules = field(default_factory=StatusRules)
    files: tuple[Path, ...] = ()
    life_circle_standards: bool = False

    def indicator(self, code: str) -> Indicator:
        """The indicator ``code``; CatalogError lists the known codes."""
        try:
            return self.indicators[code]
        except KeyError:
            raise CatalogError(f"unknown indicator {code!r}; known indicators: "
                               f"{', '.join(self.indicators)}") from None

    def rules_for(self, code: str) -> list[TargetRule]:
        """Every target rule of indicator ``code``: its own target first, then overrides."""
        indicator = self.indicator(code)
        rules = []
        if indicator.target is not None:
            rules.append(TargetRule(code, indicator.scope, indicator.target,
                                    indicator.target_year, indicator.attribute,
                                    indicator.source))
        rules += [rule for rule in self.targets if rule.indicator == code]
        return rules

    def subset(self, codes: Iterable[str]) -> IndicatorCatalog:
        """The same catalog restricted to ``codes`` (in the given order)."""
        chosen = {code: self.indicator(code) for code in codes}
        return IndicatorCatalog(chosen, tuple(t for t in self.targets if t.indicator in chosen),
                                self.inputs, self.status_rules, self.files,
                                self.life_circle_standards)


def jurisdiction_covers(jurisdiction: str, code: str) -> bool:
    """True when ``code`` is the jurisdiction itself or lies under it (a code prefix)."""
    if jurisdiction == NATION_CODE:
        return True
    return code.startswith(jurisdiction[: LEVEL_DIGITS[level_of(jurisdiction)]])


def _jurisdiction(value: object, where: str) -> str:
    text = str(value).strip()
    if text in ("", "0", "000000000000", "nation", "national"):
        return NATION_CODE
    if not text.isdigit() or len(text) not in (2, 4, 6, 9, 12):
        raise CatalogError(f"{where}: jurisdiction {text!r} is not a division code; use a "
                           "12-digit code or its 2/4/6/9-digit prefix (\"nation\" for all)")
    return text.ljust(12, "0")


def _float(entry: Mapping[str, Any], key: str, where: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CatalogError(f"{where}: {key} = {value!r} must be a number")
    return float(value)


def _indicator(entry: Mapping[str, Any], vocabulary: Vocabulary, where: str) -> Indicator:
    try:
        code = str(entry["code"])
        where = f"{where} ({code})"
        name_zh, name_en = str(entry["name_zh"]), str(entry["name_en"])
        numerator = str(entry["numerator"])
        unit = str(entry["unit"])
    except KeyError as exc:
        raise CatalogError(f"{where}: missing key {exc.args[0]!r}") from None
    direction = str(entry.get("direction", ">="))
    if direction not in DIRECTIONS:
        raise CatalogError(f"{where}: direction {direction!r} must be one of >=, <=, =")
    attribute = str(entry.get("attribute", "expected"))
    if attribute not in ATTRIBUTES:
        raise CatalogError(f"{where}: attribute {attribute!r} must be binding or expected")
    denominator = entry.get("denominator")
    factor = _float(entry, "factor", where)
    try:
        definition = parse_definition(
            numerator, None if denominator is None else str(denominator),
            factor=1.0 if factor is None else factor, unit=unit, vocabulary=vocabulary,
            where=where)
    except ExpressionError as exc:
        raise CatalogError(str(exc)) from None
    affected = str(entry.get("affected", "residents"))
    if affected not in PERSON_MEASURES:
        raise CatalogError(f"{where}: affected = {affected!r} must be a person measure: "
                           f"{', '.join(PERSON_MEASURES)}")
    baseline_year = entry.get("baseline_year")
    return Indicator(
        code=code, name_zh=name_zh, name_en=name_en, group=str(entry.get("group", "local")),
        unit=unit, direction=direction,
        definition=definition, numerator_text=numerator,
        denominator_text=None if denominator is None else str(denominator),
        scope=_jurisdiction(entry.get("scope", NATION_CODE), where),
        baseline=_float(entry, "baseline", where),
        baseline_year=None if baseline_year is None else int(baseline_year),
        target=_float(entry, "target", where),
        target_year=int(entry.get("target_year", 2025)),
        attribute=attribute, confidence=str(entry.get("confidence", "U")),
        numerator_unit_zh=str(entry.get("numerator_unit_zh", "")),
        numerator_unit_en=str(entry.get("numerator_unit_en", "")),
        gap_zh=entry.get("gap_zh"), gap_en=entry.get("gap_en"), affected=affected,
        source=str(entry.get("source", "")),
    )


def _target(entry: Mapping[str, Any], where: str) -> TargetRule:
    try:
        indicator = str(entry["indicator"])
        jurisdiction = _jurisdiction(entry["jurisdiction"], where)
    except KeyError as exc:
        raise CatalogError(f"{where}: missing key {exc.args[0]!r}") from None
    target = _float(entry, "target", where)
    if target is None:
        raise CatalogError(f"{where}: missing key 'target'")
    attribute = entry.get("attribute")
    if attribute is not None and attribute not in ATTRIBUTES:
        raise CatalogError(f"{where}: attribute {attribute!r} must be binding or expected")
    return TargetRule(indicator, jurisdiction, target, int(entry.get("target_year", 2025)),
                      attribute, str(entry.get("source", "")))


def catalog_files(catalog_dir: Path | None = None) -> list[Path]:
    """The indicator files in force: packaged ones, replaced or extended by the deployment's."""
    chosen = {path.name: path for path in sorted(PACKAGED_DIR.glob("indicators_*.toml"))}
    if catalog_dir is not None:
        for path in sorted(Path(catalog_dir).glob("indicators_*.toml")):
            chosen[path.name] = path
    return [chosen[name] for name in sorted(chosen)]


def parse_catalog(documents: Iterable[tuple[str, Mapping[str, Any]]], *,
                  facility_types: Iterable[str]) -> IndicatorCatalog:
    """Build a catalog from parsed TOML documents ``(source name, data)``.

    Inputs are gathered first (any file may declare one), then indicators and targets;
    a target naming an unknown indicator, a duplicate code or a bad expression raises
    CatalogError naming the file.
    """
    docs = list(documents)
    inputs: dict[str, str] = {}
    status = StatusRules()
    standards = False
    for source, data in docs:
        if "life_circles" in data:
            # any file may switch it on (the packaged one leaves it off)
            standards = standards or bool(dict(data["life_circles"]).get("generate", False))
        for name, dimension in dict(data.get("inputs", {})).items():
            if dimension not in DIMENSIONS:
                raise CatalogError(f"{source}: input {name!r} has dimension {dimension!r}; "
                                   f"use one of {', '.join(DIMENSIONS)}")
            inputs[str(name)] = str(dimension)
        if "status" in data:
            rules = dict(data["status"])
            status = StatusRules(float(rules.get("at_risk_share", status.at_risk_share)),
                                 float(rules.get("equal_tolerance", status.equal_tolerance)))
    vocabulary = Vocabulary(frozenset(facility_types), inputs)
    indicators: dict[str, Indicator] = {}
    targets: list[TargetRule] = []
    for source, data in docs:
        for index, entry in enumerate(data.get("indicator", []), start=1):
            indicator = _indicator(entry, vocabulary, f"{source}, indicator #{index}")
            if indicator.code in indicators:
                raise CatalogError(f"{source}, indicator #{index}: code {indicator.code!r} "
                                   "is defined twice; rename one or replace the whole file")
            indicators[indicator.code] = indicator
        for index, entry in enumerate(data.get("target", []), start=1):
            targets.append(_target(entry, f"{source}, target #{index}"))
    for rule in targets:
        if rule.indicator not in indicators:
            raise CatalogError(f"a target for {rule.jurisdiction} names unknown indicator "
                               f"{rule.indicator!r}; known: {', '.join(indicators)}")
    return IndicatorCatalog(indicators, tuple(targets), inputs, status,
                            life_circle_standards=standards)


def life_circle_indicators(catalog: Catalog, vocabulary: Vocabulary) -> list[Indicator]:
    """One indicator per life-circle tier and required facility type (life_circles.toml).

    ``LC_<tier>_<nn>`` = share of the tier's area's residents (urban tiers: urban units,
    rural tiers: rural units) within the tier's walking distance of the type, from the
    accessibility engine's ``community_access`` rows.  No target: the standards say
    what must be reachable, not what share of residents must reach it.
    """
    made = []
    for tier in catalog.tiers.values():
        area = "urban" if tier.area == "urban" else "rural"
        distance = int(tier.distance_m)
        for number, type_code in enumerate(tier.required, start=1):
            ftype = catalog.facility_type(type_code)
            code = f"LC_{tier.code}_{number:02d}"
            numerator = f"residents_within({type_code}, {distance})[{area}]"
            denominator = f"residents[{area}]"
            where = f"{tier.source} ({code})"
            made.append(Indicator(
                code=code, group="life_circle_standard",
                name_zh=f"{tier.name_zh}（{distance}米）内可步行到达{ftype.name_zh}的居民比例",
                name_en=f"Residents within the {tier.name_en} ({distance} m) of a "
                        f"{ftype.name_en.lower()}",
                unit="%", direction=">=",
                definition=parse_definition(numerator, denominator, factor=100, unit="%",
                                            vocabulary=vocabulary, where=where),
                numerator_text=numerator, denominator_text=denominator,
                numerator_unit_zh="名居民", numerator_unit_en="residents",
                source=tier.source))
    return made


@cache
def load_indicator_catalog(catalog_dir: Path | None = None) -> IndicatorCatalog:
    """Load and check every indicator file in force (cached per catalog folder)."""
    files = catalog_files(catalog_dir)
    facility_catalog = load_catalog(catalog_dir)
    types = facility_catalog.facility_types
    catalog = parse_catalog(((str(path), read_toml(path)) for path in files),
                            facility_types=types)
    indicators = dict(catalog.indicators)
    if catalog.life_circle_standards:
        vocabulary = Vocabulary(frozenset(types), catalog.inputs)
        for indicator in life_circle_indicators(facility_catalog, vocabulary):
            indicators.setdefault(indicator.code, indicator)
    return IndicatorCatalog(indicators, catalog.targets, catalog.inputs,
                            catalog.status_rules, tuple(files), catalog.life_circle_standards)


def parse_measure(text: str, catalog: IndicatorCatalog, *, where: str,
                  facility_types: Iterable[str] | None = None) -> Expr:
    """Parse a stand-alone measure expression (assessment penalties, short boards)."""
    types = facility_types if facility_types is not None else load_catalog().facility_types
    return parse_expression(text, Vocabulary(frozenset(types), catalog.inputs), where=where)


__all__ = [
    "NATION_CODE", "Indicator", "IndicatorCatalog", "StatusRules", "TargetRule",
    "catalog_files", "jurisdiction_covers", "life_circle_indicators", "load_indicator_catalog",
    "parse_catalog", "parse_measure",
]
