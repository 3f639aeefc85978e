"""Service requests: Open311 GeoReport v2 kinds and a real workflow behind open/closed."""

from shequ.services.requests.definitions import (
    RequestCatalog,
    ServiceDefinition,
    load_request_catalog,
)
from shequ.services.requests.models import RequestStatus, ServiceRequest, ServiceRequestEvent

__all__ = [
    "RequestCatalog",
    "RequestStatus",
    "ServiceDefinition",
    "ServiceRequest",
    "ServiceRequestEvent",
    "load_request_catalog",
]
