# syntax=docker/dockerfile:1
# The embedscope services' image: ingest, analysis and ui (one image, three commands).
#
#   CPU (default):  docker build -t embedscope:cpu .
#   GPU (CUDA):     docker build -t embedscope:gpu \
#                     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 .
#
# docker-compose.yml builds both (the GPU one for the `gpu` profile's ingest-gpu service).

ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm

# Where torch comes from: the CPU wheel index keeps the image ~1 GB instead of ~6 GB of CUDA.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/cache/huggingface \
    GRADIO_ANALYTICS_ENABLED=False \
    EMBEDSCOPE_DATA_DIR=/data

RUN useradd --create-home --uid 1000 embedscope \
    && mkdir -p /app /data /cache/huggingface /datasets \
    && chown -R embedscope:embedscope /app /data /cache /datasets

WORKDIR /app

# 1. torch alone, from the chosen index (pip would otherwise fetch the CUDA build from PyPI).
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch${TORCH_VERSION:+==${TORCH_VERSION}}"

# 2. The other dependencies, from pyproject.toml only: this layer survives code changes.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb')); \
print('\n'.join(x for x in d['project']['dependencies'] if not x.startswith('torch')))" \
    > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# 3. The code.
COPY embedscope ./embedscope
COPY ingest ./ingest
COPY search ./search
COPY analysis ./analysis
COPY ui ./ui
# The folders install as embedscope.ingest, embedscope.search, … (no generic top-level module).
RUN pip install --no-deps . && embedscope --help > /dev/null \
    && cd / && python -c "import embedscope.ingest, embedscope.search, embedscope.analysis, embedscope.ui"

USER embedscope
VOLUME ["/data", "/cache/huggingface"]
EXPOSE 7860

# `docker run IMAGE ingest --dataset …`, `… analyze --collection …`, `… ui --host 0.0.0.0`;
# compose runs the services as `python -m embedscope.ingest` / `.analysis` / `.ui`.
ENTRYPOINT ["embedscope"]
CMD ["--help"]
