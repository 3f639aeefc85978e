"""Imports every module that defines tables, so that metadata and migrations see them all.

Each domain package adds its models module here (registry first; analyses and services
after it, following the direction data flows).
"""

from shequ.registry import models as registry_models

__all__ = ["registry_models"]
