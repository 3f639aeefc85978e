"""Offline validators for the official HSDS 3.0 schemas, vendored in ``hsds-3.0/`` here.

The schemas refer to each other by bare file names and the OpenAPI file by remote URLs;
a ``referencing.Registry`` maps both to the local files, so nothing is fetched and every
clone of the repository runs the conformance tests (source and licence: its README).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

HSDS_DIR = Path(__file__).resolve().parent / "hsds-3.0"
REMOTE = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/"


@cache
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = []
    for path in sorted(HSDS_DIR.glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        for uri in (path.name, REMOTE + path.name, REMOTE + "compiled/" + path.name):
            resources.append((uri, resource))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Any:
    """A Draft 2020-12 validator of ``name`` (e.g. ``service.json``)."""
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    return Draft202012Validator({"$ref": name}, registry=_registry(),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def page_validator() -> Any:
    """A validator of the OpenAPI document's ``Page`` component."""
    from jsonschema import Draft202012Validator

    openapi = json.loads((HSDS_DIR / "openapi.json").read_text(encoding="utf-8"))
    return Draft202012Validator(openapi["components"]["schemas"]["Page"])


def errors(name: str, instance: Any) -> list[str]:
    """Every schema violation of ``instance`` against ``name``, as readable lines."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator(name).iter_errors(instance)]
