"""What a round may ask for and who signs it off: ``reporting.toml`` read into types.

The data sets name their items and where each goes in the registry: a population column,
a workforce line (role and certification) or an indicator input.  The data set
``indicator_inputs`` takes its items from the indicator catalog, so every input an
indicator reads (N3's floor areas, a province's own measures) can be reported.  A
``facility`` data set asks its items once per facility of the unit (floor area, open or
closed, places/beds/seats), each where the facility's type keeps that figure.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from shequ.errors import CatalogError
from shequ.indicators.definitions import IndicatorCatalog
from shequ.registry.models import Certification, Population, WorkforceRole

PACKAGED_CONFIG = Path(__file__).with_name("reporting.toml")
OVERRIDE_NAME = "reporting.toml"


class Target(StrEnum):
    """Where an item's figure is written."""

    POPULATION = "population"
    WORKFORCE = "workforce"
    INPUT = "input"
    FACILITY = "facility"


# A facility data set's items: the registry column each writes.  ``open`` is 1 (serving
# residents) or 0 (closed); it writes the facility's status.
FACILITY_COLUMNS = ("floor_area_m2", "open", "capacity")
FACILITY_SEPARATOR = "@"


class ApplyOn(StrEnum):
    """When a form's figures reach the registry."""

    SUBMITTED = "submitted"
    APPROVED = "approved"


@dataclass(frozen=True, slots=True)
class DataItem:
    """One figure a form asks for and its place in the registry."""

    key: str
    dataset: str
    target: Target
    # population column, indicator input measure, or workforce role
    column: str
    certification: str | None = None
    # a facility data set's item on one facility (its key ``<item>@<facility id>``)
    facility_id: int | None = None
    facility_name: str | None = None

    @property
    def whole(self) -> bool:
        """Whether the figure is a count (people, households, places, 0/1) rather than a
        measure (an input, a floor area)."""
        return self.target is not Target.INPUT and self.column != "floor_area_m2"

    @property
    def template(self) -> str:
        """The data set's item key (a facility item's key without its facility)."""
        return self.key.split(FACILITY_SEPARATOR, 1)[0]

    def on_facility(self, facility_id: int, name: str) -> DataItem:
        """This facility item asked of one facility."""
        return DataItem(f"{self.key}{FACILITY_SEPARATOR}{facility_id}", self.dataset,
                        self.target, self.column, None, facility_id, name)


@dataclass(frozen=True, slots=True)
class Dataset:
    """A group of items asked for together."""

    code: str
    target: Target
    items: tuple[DataItem, ...]


@dataclass(frozen=True, slots=True)
class ReportingConfig:
    """The deployment's reporting rules."""

    signoff_levels: tuple[int, ...]
    apply_on: ApplyOn
    assessment_approved_only: bool
    datasets: dict[str, Dataset]

    def items_of(self, codes: list[str] | tuple[str, ...]) -> list[DataItem]:
        """The items of the data sets ``codes``, in order (unknown codes raise)."""
        unknown = [c for c in codes if c not in self.datasets]
        if unknown:
            raise CatalogError(f"unknown data set(s) {', '.join(unknown)}; known: "
                               f"{', '.join(self.datasets)}", code="reporting.unknown_dataset",
                               params={"value": ", ".join(unknown),
                                       "known": ", ".join(self.datasets)})
        return [item for code in codes for item in self.datasets[code].items]

    @property
    def items(self) -> dict[str, DataItem]:
        """Every item by key."""
        return {i.key: i for d in self.datasets.values() for i in d.items}

    def next_level(self, approved_level: int | None) -> int | None:
        """The level whose sign-off comes next (None when the last has signed)."""
        if approved_level is None:
            return self.signoff_levels[0] if self.signoff_levels else None
        position = self.signoff_levels.index(approved_level)
        later = self.signoff_levels[position + 1:]
        return later[0] if later else None

    def previous_level(self, level: int) -> int | None:
        """The sign-off level before ``level`` (None for the first)."""
        position = self.signoff_levels.index(level)
        return self.signoff_levels[position - 1] if position else None

    @property
    def last_level(self) -> int | None:
        """The level whose sign-off completes a form."""
        return self.signoff_levels[-1] if self.signoff_levels else None


_POPULATION_COLUMNS = frozenset(c.name for c in Population.__table__.columns) - {
    "id", "division_code", "period", "synthetic", "source"}


def _fail(path: Path, what: str) -> CatalogError:
    return CatalogError(f"{path}: {what}", code="reporting.config_invalid",
                        params={"path": str(path), "reason": what})


def _facility_items(path: Path, code: str, entry: dict[str, Any]) -> list[DataItem]:
    items = []
    for name in entry.get("items", FACILITY_COLUMNS):
        if name not in FACILITY_COLUMNS:
            raise _fail(path, f"data set {code!r}: {name!r} is no facility figure; "
                        f"use {', '.join(FACILITY_COLUMNS)}")
        items.append(DataItem(f"facility_{name}", code, Target.FACILITY, str(name)))
    return items


def _dataset(path: Path, entry: dict[str, Any], indicators: IndicatorCatalog) -> Dataset:
    code = str(entry.get("code", ""))
    try:
        target = Target(str(entry.get("target", "")))
    except ValueError:
        raise _fail(path, f"data set {code!r} has target {entry.get('target')!r}; use "
                    f"{', '.join(t.value for t in Target)}") from None
    items: list[DataItem] = []
    if target is Target.POPULATION:
        for name in entry.get("items", []):
            if name not in _POPULATION_COLUMNS:
                raise _fail(path, f"data set {code!r}: {name!r} is no population column")
            items.append(DataItem(str(name), code, target, str(name)))
    elif target is Target.WORKFORCE:
        for line in entry.get("item", []):
            try:
                role = WorkforceRole(str(line["role"])).value
                certification = Certification(str(line.get("certification", "none"))).value
                items.append(DataItem(str(line["key"]), code, target, role, certification))
            except (KeyError, ValueError) as exc:
                raise _fail(path, f"data set {code!r}: a workforce item is malformed "
                            f"({exc}); give key, role and certification") from None
    elif target is Target.FACILITY:
        items += _facility_items(path, code, entry)
    else:
        names = entry.get("items") or sorted(indicators.inputs)
        for name in names:
            if name not in indicators.inputs:
                raise _fail(path, f"data set {code!r}: {name!r} is no input of the "
                            "indicator catalog")
            items.append(DataItem(str(name), code, target, str(name)))
    return Dataset(code, target, tuple(items))


def load_reporting_config(indicators: IndicatorCatalog, catalog_dir: Path | None = None
                          ) -> ReportingConfig:
    """The deployment's ``catalog_dir/reporting.toml`` or the packaged one; CatalogError
    names the file and what is wrong in it."""
    path = PACKAGED_CONFIG
    if catalog_dir is not None and (catalog_dir / OVERRIDE_NAME).is_file():
        path = catalog_dir / OVERRIDE_NAME
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise _fail(path, f"cannot be read ({exc})") from exc
    levels = tuple(int(v) for v in data.get("signoff_levels", [4, 3]))
    if any(v not in (1, 2, 3, 4) for v in levels) or list(levels) != sorted(levels,
                                                                            reverse=True):
        raise _fail(path, f"signoff_levels {list(levels)} must be levels 4 … 1, lowest "
                    "first, each once")
    if len(set(levels)) != len(levels):
        raise _fail(path, "signoff_levels names a level twice")
    try:
        apply_on = ApplyOn(str(data.get("apply_on", "approved")))
    except ValueError:
        raise _fail(path, "apply_on must be 'approved' or 'submitted'") from None
    datasets: dict[str, Dataset] = {}
    for entry in data.get("dataset", []):
        dataset = _dataset(path, dict(entry), indicators)
        if dataset.code in datasets or not dataset.code:
            raise _fail(path, f"data set {dataset.code!r} is unnamed or named twice")
        datasets[dataset.code] = dataset
    keys = [i.key for d in datasets.values() for i in d.items]
    if len(set(keys)) != len(keys):
        raise _fail(path, "an item key is used by two data sets")
    return ReportingConfig(levels, apply_on, bool(data.get("assessment_approved_only", True)),
                           datasets)


__all__ = ["FACILITY_COLUMNS", "FACILITY_SEPARATOR", "ApplyOn", "DataItem", "Dataset",
           "ReportingConfig", "Target", "load_reporting_config"]
