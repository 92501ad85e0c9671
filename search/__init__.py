"""Qdrant access shared by ingest, analysis, ui and outside services: the collection contract and two backends."""

from search.contract import CollectionMeta, collection_name, file_point_id, row_point_id
from search.errors import EmbedscopeError
from search.remote import open_store
from search.store import CollectionSummary, Hit, Record, Store, Where

__all__ = [
    "CollectionMeta", "CollectionSummary", "EmbedscopeError", "Hit", "Record", "Store", "Where",
    "collection_name", "file_point_id", "open_store", "row_point_id",
]
