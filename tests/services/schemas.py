"""Offline validators for the official HSDS 3.0 schemas in ``shared/reference/hsds-3.0``.

The schemas refer to each other by bare file names and the OpenAPI file by remote URLs;
a ``referencing.Registry`` maps both to the local files.  CI checks the repository out
next to ``shared/``, so the folder is found relative to the repository root.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HSDS_DIR = (REPO_ROOT / ".." / "shared" / "reference" / "hsds-3.0" / "schema").resolve()
REMOTE = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/"


def require_hsds() -> Path:
    """The schema folder, or skip with the reason."""
    if not HSDS_DIR.is_dir():
        pytest.skip(f"HSDS 3.0 schemas not found at {HSDS_DIR} (shared/ is checked out "
                    "next to the repository in CI)")
    return HSDS_DIR


@cache
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = []
    for path in sorted(require_hsds().glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        for uri in (path.name, REMOTE + path.name, REMOTE + "compiled/" + path.name):
            resources.append((uri, resource))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Any:
    """A Draft 2020-12 validator of ``name`` (e.g. ``service.json``)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": name}, registry=_registry(),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def page_validator() -> Any:
    """A validator of the OpenAPI document's ``Page`` component."""
    from jsonschema import Draft202012Validator

    openapi = json.loads((require_hsds() / "openapi.json").read_text(encoding="utf-8"))
    return Draft202012Validator(openapi["components"]["schemas"]["Page"])


def errors(name: str, instance: Any) -> list[str]:
    """Every schema violation of ``instance`` against ``name``, as readable lines."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator(name).iter_errors(instance)]
