"""Declared, configurable waitlist priority for care places: the pure core.

The rules come from a TOML data file (``priority_rules.toml`` beside this module, or
``care_priority_rules.toml`` in the deployment's catalog folder).  An applicant's score

    points = Σ points(rule) over the rules that apply to the beneficiary

and the waitlist order is ``(-points, applied_at, application id)``: more points first,
then earlier applications, then the lower number (a total order, so two pages never
disagree about a position).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shequ.errors import CatalogError, Problem, ValidationError

PACKAGED_RULES = Path(__file__).with_name("priority_rules.toml")
OVERRIDE_NAME = "care_priority_rules.toml"
CARE_FACILITY_TYPES = ("elderly_day_care", "nursery")


@dataclass(frozen=True, slots=True)
class PriorityRule:
    """Points given to beneficiaries in ``group`` or aged ``min_age`` or more."""

    key: str
    label_zh: str
    label_en: str
    points: int
    group: str | None = None
    min_age: int | None = None
    facility_types: tuple[str, ...] = ()

    def applies(self, *, groups: frozenset[str], age_years: int, facility_type: str) -> bool:
        """Whether the rule gives its points to this beneficiary at this facility type."""
        if self.facility_types and facility_type not in self.facility_types:
            return False
        if self.group is not None and self.group in groups:
            return True
        return self.min_age is not None and age_years >= self.min_age

    def label(self, lang: str) -> str:
        """The rule's name in ``lang`` (zh-CN or en)."""
        return self.label_en if lang == "en" else self.label_zh


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Who a facility type takes: a minimum age in years, a maximum age in months."""

    min_age_years: int | None = None
    max_age_months: int | None = None


@dataclass(frozen=True, slots=True)
class PriorityRules:
    """The declared rules, the offer deadline and the eligibility by facility type."""

    source: str
    offer_days: int
    rules: tuple[PriorityRule, ...]
    eligibility: dict[str, Eligibility]
    source_zh: str = ""
    source_en: str = ""

    def source_label(self, lang: str) -> str:
        """Where the rules come from, in ``lang`` (zh-CN or en; ``source`` when the file
        gives no text in that language)."""
        return (self.source_en if lang == "en" else self.source_zh) or self.source

    def rule_label(self, key: str, lang: str) -> str:
        """The name of the rule ``key`` in ``lang`` (the key itself when unknown)."""
        return next((r.label(lang) for r in self.rules if r.key == key), key)

    @property
    def groups(self) -> tuple[str, ...]:
        """The priority groups an applicant may declare, in the file's order."""
        return tuple(r.group for r in self.rules if r.group)


def load_priority_rules(catalog_dir: Path | None = None) -> PriorityRules:
    """The deployment's rules (``catalog_dir/care_priority_rules.toml``) or the packaged ones.

    Raises CatalogError naming the file and the entry that is malformed.
    """
    path = PACKAGED_RULES
    if catalog_dir is not None and (catalog_dir / OVERRIDE_NAME).is_file():
        path = catalog_dir / OVERRIDE_NAME
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read the care priority rules: {exc}",
                           code="care.rules_unreadable", params={"path": str(path)}) from exc
    rules: list[PriorityRule] = []
    for index, entry in enumerate(data.get("rule", []), start=1):
        try:
            rule = PriorityRule(
                key=str(entry["key"]), label_zh=str(entry.get("label_zh", entry["key"])),
                label_en=str(entry.get("label_en", entry["key"])), points=int(entry["points"]),
                group=str(entry["group"]) if "group" in entry else None,
                min_age=int(entry["min_age"]) if "min_age" in entry else None,
                facility_types=tuple(str(t) for t in entry.get("facility_types", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(f"{path}: rule {index} is malformed ({exc}); each rule needs "
                               "key and points, and a group or a min_age",
                               code="care.rule_malformed",
                               params={"path": str(path), "n": index}) from exc
        if rule.group is None and rule.min_age is None:
            raise CatalogError(f"{path}: rule {index} ({rule.key}) has neither group nor "
                               "min_age, so it would apply to no one",
                               code="care.rule_for_no_one",
                               params={"path": str(path), "n": index})
        rules.append(rule)
    offer_days = data.get("offer_days", 7)
    if not isinstance(offer_days, int) or offer_days < 1:
        raise CatalogError(f"{path}: offer_days must be a whole number of days ≥ 1",
                           code="care.offer_days", params={"path": str(path)})
    eligibility = {
        str(kind): Eligibility(min_age_years=value.get("min_age_years"),
                               max_age_months=value.get("max_age_months"))
        for kind, value in data.get("eligibility", {}).items()}
    return PriorityRules(source=str(data.get("source", path.name)), offer_days=offer_days,
                         rules=tuple(rules), eligibility=eligibility,
                         source_zh=str(data.get("source_zh", "")),
                         source_en=str(data.get("source_en", "")))


def age_in_years(birth: dt.date, on: dt.date) -> int:
    """Completed years of age on ``on``."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def age_in_months(birth: dt.date, on: dt.date) -> int:
    """Completed months of age on ``on``."""
    return (on.year - birth.year) * 12 + on.month - birth.month - (on.day < birth.day)


def eligibility_problems(rules: PriorityRules, *, facility_type: str, birth: dt.date,
                         on: dt.date) -> list[Problem]:
    """Why a beneficiary born on ``birth`` cannot have a place of ``facility_type``."""
    where = "beneficiary_birth_date"
    if birth > on:
        return [Problem(where, f"{birth.isoformat()} is in the future", column=where,
                        code="care.born_in_future")]
    rule = rules.eligibility.get(facility_type, Eligibility())
    problems = []
    if rule.min_age_years is not None and age_in_years(birth, on) < rule.min_age_years:
        problems.append(Problem(where, f"a {facility_type} place is for people aged "
                                f"{rule.min_age_years} or over", column=where,
                                code="care.too_young", params={"years": rule.min_age_years}))
    if rule.max_age_months is not None and age_in_months(birth, on) >= rule.max_age_months:
        problems.append(Problem(where, f"a {facility_type} place is for children under "
                                f"{rule.max_age_months} months", column=where,
                                code="care.too_old", params={"months": rule.max_age_months}))
    return problems


@dataclass(frozen=True, slots=True)
class Candidate:
    """A waiting application as the ranking sees it."""

    application_id: int
    birth: dt.date
    groups: frozenset[str]
    applied_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate's place in the queue (1 = next to be offered) and why."""

    application_id: int
    position: int
    points: int
    reasons: tuple[str, ...]


def score(rules: PriorityRules, candidate: Candidate, *, facility_type: str, on: dt.date
          ) -> tuple[int, tuple[str, ...]]:
    """The candidate's points and the keys of the rules that gave them."""
    age = age_in_years(candidate.birth, on)
    hits = [r for r in rules.rules
            if r.applies(groups=candidate.groups, age_years=age, facility_type=facility_type)]
    return sum(r.points for r in hits), tuple(r.key for r in hits)


def rank(rules: PriorityRules, candidates: Sequence[Candidate], *, facility_type: str,
         on: dt.date) -> list[Ranked]:
    """The waitlist: by points (desc), application time, application id."""
    scored = [(c, *score(rules, c, facility_type=facility_type, on=on)) for c in candidates]
    scored.sort(key=lambda item: (-item[1], item[0].applied_at, item[0].application_id))
    return [Ranked(c.application_id, k, points, reasons)
            for k, (c, points, reasons) in enumerate(scored, start=1)]


def parse_groups(rules: PriorityRules, groups: Sequence[str]) -> frozenset[str]:
    """Declared groups checked against the rules' groups (ValidationError names an unknown)."""
    known = set(rules.groups)
    unknown = sorted(set(groups) - known)
    if unknown:
        raise ValidationError([Problem("priority_groups", f"unknown group {g!r}",
                                       hint="known: " + ", ".join(sorted(known)),
                                       column="priority_groups", code="care.unknown_group",
                                       params={"value": g})
                               for g in unknown])
    return frozenset(groups)
