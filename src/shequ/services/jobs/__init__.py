"""Jobs: long work stored with its progress, run by the server's pool or a Dask cluster.

:mod:`~shequ.services.jobs.models` holds the table, :mod:`~shequ.services.jobs.runner`
runs them (:func:`~shequ.services.jobs.runner.execute` is the one code path) and
:mod:`~shequ.services.jobs.service` the use cases (submit, cancel, rerun, list).
"""

from shequ.services.jobs.models import ACTIVE_STATUSES, ENDED_STATUSES, Job, JobStatus

__all__ = ["ACTIVE_STATUSES", "ENDED_STATUSES", "Job", "JobStatus"]
