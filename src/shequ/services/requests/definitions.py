"""Service request definitions as data (``definitions.toml``): kinds, questions, deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shequ.catalog import read_toml
from shequ.errors import CatalogError, Problem, ValidationError

PACKAGED = Path(__file__).with_name("definitions.toml")
DATATYPES = frozenset({"string", "number", "datetime", "text", "singlevaluelist",
                       "multivaluelist"})


@dataclass(frozen=True, slots=True)
class AttributeValue:
    """One allowed answer of a list question."""

    key: str
    name_zh: str
    name_en: str

    def name(self, lang: str) -> str:
        """The answer's label in ``lang``."""
        return self.name_zh if lang.startswith("zh") else self.name_en


@dataclass(frozen=True, slots=True)
class Attribute:
    """A question a service asks (Open311 attribute)."""

    code: str
    datatype: str
    required: bool
    order: int
    description_zh: str
    description_en: str
    values: tuple[AttributeValue, ...] = ()

    def description(self, lang: str) -> str:
        """The question in ``lang``."""
        return self.description_zh if lang.startswith("zh") else self.description_en


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    """A kind of request: its names, responsible level, deadline and questions."""

    code: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    group_zh: str
    group_en: str
    keywords: tuple[str, ...]
    responsible_level: int
    deadline_hours: float
    public: bool
    duplicate_radius_m: float
    attributes: tuple[Attribute, ...]

    def name(self, lang: str) -> str:
        """The service's name in ``lang``."""
        return self.name_zh if lang.startswith("zh") else self.name_en

    def description(self, lang: str) -> str:
        """The description in ``lang``."""
        return self.description_zh if lang.startswith("zh") else self.description_en

    def group(self, lang: str) -> str:
        """The group in ``lang``."""
        return self.group_zh if lang.startswith("zh") else self.group_en

    def check_answers(self, answers: dict[str, str]) -> dict[str, str]:
        """The answers, checked against the questions (required, allowed values, numbers)."""
        problems: list[Problem] = []
        known = {a.code: a for a in self.attributes}
        for code, value in answers.items():
            if code not in known and value.strip():
                problems.append(Problem(f"attribute[{code}]", f"service {self.code} has no "
                                        "such question",
                                        hint=f"known: {', '.join(sorted(known)) or 'none'}",
                                        code="services.unknown_question"))
        for attribute in self.attributes:
            value = answers.get(attribute.code, "").strip()
            where = f"attribute[{attribute.code}]"
            if not value:
                if attribute.required:
                    problems.append(Problem(where, "is required", column=attribute.code,
                                            code="required"))
                continue
            if attribute.datatype == "singlevaluelist" and value not in {
                    v.key for v in attribute.values}:
                problems.append(Problem(where, f"{value!r} is not an allowed answer",
                                        hint=", ".join(v.key for v in attribute.values),
                                        column=attribute.code, code="not_a_choice"))
            if attribute.datatype == "multivaluelist":
                allowed = {v.key for v in attribute.values}
                problems.extend(Problem(where, f"{v!r} is not an allowed answer",
                                        column=attribute.code, code="not_a_choice")
                                for v in value.split(",") if v not in allowed)
            if attribute.datatype == "number":
                try:
                    float(value)
                except ValueError:
                    problems.append(Problem(where, f"{value!r} is not a number",
                                            column=attribute.code, code="not_a_number"))
        if problems:
            raise ValidationError(problems, summary=f"answers to {self.code} rejected")
        return {k: v.strip() for k, v in answers.items() if v.strip()}


@dataclass(frozen=True, slots=True)
class RequestCatalog:
    """All service definitions and the reopen window."""

    services: dict[str, ServiceDefinition]
    reopen_days: float

    def service(self, code: str) -> ServiceDefinition:
        """The definition with ``code``; ValidationError names the known codes."""
        try:
            return self.services[code]
        except KeyError:
            raise ValidationError([Problem("service_code", f"unknown service {code!r}",
                                           hint=", ".join(sorted(self.services)),
                                           column="service_code", code="not_a_choice")]
                                  ) from None


def _attribute(entry: dict[str, object], where: str) -> Attribute:
    datatype = str(entry.get("datatype", "string"))
    if datatype not in DATATYPES:
        raise CatalogError(f"{where}: datatype {datatype!r} is not one of "
                           f"{', '.join(sorted(DATATYPES))}")
    raw_values = entry.get("values", [])
    values = tuple(AttributeValue(str(v["key"]), str(v["name_zh"]), str(v["name_en"]))
                   for v in raw_values) if isinstance(raw_values, list) else ()
    return Attribute(code=str(entry["code"]), datatype=datatype,
                     required=bool(entry.get("required", False)),
                     order=int(str(entry.get("order", 1))),
                     description_zh=str(entry.get("description_zh", entry["code"])),
                     description_en=str(entry.get("description_en", entry["code"])),
                     values=values)


@cache
def load_request_catalog(catalog_dir: Path | None = None) -> RequestCatalog:
    """The definitions from the deployment's catalog folder, else the packaged file."""
    path = (catalog_dir / "service_requests.toml"
            if catalog_dir is not None and (catalog_dir / "service_requests.toml").is_file()
            else PACKAGED)
    data = read_toml(path)
    services: dict[str, ServiceDefinition] = {}
    for index, entry in enumerate(data.get("service", []), start=1):
        where = f"{path}, service #{index}"
        try:
            level = int(entry["responsible_level"])
            if level not in (1, 2, 3, 4, 5):
                raise CatalogError(f"{where}: responsible_level {level} is not 1–5")
            definition = ServiceDefinition(
                code=str(entry["code"]), name_zh=str(entry["name_zh"]),
                name_en=str(entry["name_en"]),
                description_zh=str(entry.get("description_zh", "")),
                description_en=str(entry.get("description_en", "")),
                group_zh=str(entry.get("group_zh", "")), group_en=str(entry.get("group_en", "")),
                keywords=tuple(entry.get("keywords", ())), responsible_level=level,
                deadline_hours=float(entry["deadline_hours"]),
                public=bool(entry.get("public", True)),
                duplicate_radius_m=float(entry.get("duplicate_radius_m", 0)),
                attributes=tuple(_attribute(a, f"{where}, attribute #{i}")
                                 for i, a in enumerate(entry.get("attribute", []), start=1)),
            )
        except KeyError as exc:
            raise CatalogError(f"{where}: missing key {exc.args[0]!r}") from None
        if definition.code in services:
            raise CatalogError(f"{where}: service {definition.code!r} is defined twice")
        services[definition.code] = definition
    return RequestCatalog(services, float(data.get("reopen_days", 7)))
