"""The ingestion worker: dataset sources, the embedding model, the batched, resumable pipeline."""
