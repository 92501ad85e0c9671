"""The analysis job: projections, clustering, metrics and the report, from the vectors in Qdrant."""
