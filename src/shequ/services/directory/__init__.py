"""The service directory: registry facilities published as Open Referral HSDS 3.0."""

from shequ.services.directory.models import DirectoryEntry
from shequ.services.directory.search import Hit, ServiceFilter, search_services, services_near
from shequ.services.directory.sync import DirectoryState, ensure_in_step, sync_directory

__all__ = ["DirectoryEntry", "DirectoryState", "Hit", "ServiceFilter", "ensure_in_step",
           "search_services", "services_near", "sync_directory"]
