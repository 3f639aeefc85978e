"""Work functions of a test job kind (registered in the runner's KINDS by the tests)."""

from __future__ import annotations

import time
from typing import Any


def count_slowly(ctx: Any, parameters: dict[str, Any], progress: Any) -> dict[str, Any]:
    """Count to ``steps``, reporting each step, a little slowly (so it can be cancelled)."""
    steps = int(parameters["steps"])
    for step in range(steps):
        progress(step / steps, "solve")
        time.sleep(float(parameters.get("sleep", 0.05)))
    return {"counted": steps}


def fail(ctx: Any, parameters: dict[str, Any], progress: Any) -> dict[str, Any]:
    """Fail with a Shequ error (its code and params are kept with the job)."""
    from shequ.errors import NotFoundError

    raise NotFoundError("nothing here", code="jobs.no_job", params={"id": 7})
