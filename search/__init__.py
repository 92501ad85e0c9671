"""Qdrant access shared by ingest, analysis, ui and outside services: the collection contract and two backends."""

from embedscope.search.contract import CollectionMeta, collection_name, file_point_id, row_point_id
from embedscope.search.errors import EmbedscopeError
from embedscope.search.store import CollectionSummary, Hit, Record, Store, Where, open_store

__all__ = [
    "CollectionMeta", "CollectionSummary", "EmbedscopeError", "Hit", "Record", "Store", "Where",
    "collection_name", "file_point_id", "open_store", "row_point_id",
]
