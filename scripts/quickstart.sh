#!/usr/bin/env bash
# One command from a fresh clone: set up, embed a dataset, analyse it, and say how to browse it.
# Usage: scripts/quickstart.sh [DATASET] [MODEL]
#   DATASET  hub name (default fashion_mnist), a parquet/arrow file or folder, a folder of images,
#            or WebDataset .tar shards: anything `embedscope ingest --dataset` takes
#   MODEL    default facebook/dinov2-small; 'pixels' for the raw-pixel baseline
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:-fashion_mnist}
MODEL=${2:-facebook/dinov2-small}
bash scripts/setup.sh
. .venv/bin/activate
embedscope ingest --dataset "$DATASET" --model "$MODEL"
COLLECTION=$(python -c "import sys; from embedscope.contract import collection_name; print(collection_name(sys.argv[1], sys.argv[2]))" "$DATASET" "$MODEL")
if embedscope analyze --help >/dev/null 2>&1; then
  embedscope analyze --collection "$COLLECTION"
fi
echo
echo "Done. Collections:"; embedscope collections
echo "Browse it:  . .venv/bin/activate && embedscope ui   (then open http://127.0.0.1:7860)"
