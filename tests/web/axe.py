"""Accessibility checks in the browser tests with axe-core (Deque), served by Shequ itself.

``assert_no_serious_axe_violations(page)`` runs axe on the page as it stands and fails on
every violation whose impact is serious or critical, listing each rule's id, impact, the
elements it found and what to fix.  axe.min.js is the copy in
``src/shequ/web/static/vendor/axe-core`` (pinned in frontend/package-lock.json); it is
evaluated through the DevTools protocol, so neither the page's Content-Security-Policy nor
its origin matters and nothing is fetched.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import shequ.web

AXE_JS = Path(shequ.web.__file__).with_name("static") / "vendor" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")


@cache
def _axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page: Any, *, impacts: tuple[str, ...] = BLOCKING_IMPACTS,
                   selector: str | None = None) -> list[dict[str, Any]]:
    """axe's violations on ``page`` (or inside ``selector``) with one of ``impacts``."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    results: dict[str, Any] = page.evaluate(
        """async (selector) => axe.run(selector ? document.querySelector(selector) : document,
                                       {resultTypes: ["violations"]})""", selector)
    return [v for v in results["violations"] if v.get("impact") in impacts]


def describe(violations: list[dict[str, Any]]) -> str:
    """One line per violation and one per element it was found on."""
    lines: list[str] = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} "
                     f"<{violation['helpUrl']}>")
        lines.extend(f"    {' '.join(map(str, node['target']))}: "
                     f"{node.get('failureSummary', '').splitlines()[-1].strip()}"
                     for node in violation["nodes"])
    return "\n".join(lines)


def assert_no_serious_axe_violations(page: Any, *, selector: str | None = None) -> None:
    """Fail, listing them, if axe finds serious or critical violations on ``page``."""
    violations = axe_violations(page, selector=selector)
    assert not violations, (f"axe found {len(violations)} serious or critical accessibility "
                            f"violations on {page.url}:\n{describe(violations)}")
