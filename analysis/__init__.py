"""The analysis job: projections, clustering, metrics and the report, from the vectors in Qdrant.

Importing the package registers the built-in projections, clusterers, metric stages and
per-point scores (see
embedscope.analysis.registry), so every way in (the CLI, the service, the UI, a caller that only
builds AnalysisSettings) sees the same names. These modules are light: umap, scikit-learn and
kmedoids load inside the functions that use them.
"""

# Imported for their registrations (the built-in projections, clusterers, metric stages, scores).
from embedscope.analysis import (  # noqa: F401
    clustering,
    leaks,
    metric_stages,
    projections,
    scores,
    text_figures,
)
