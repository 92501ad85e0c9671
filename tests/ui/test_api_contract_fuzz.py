"""The API keeps the contract its OpenAPI schema states: schemathesis, with every check, against a
real `embedscope serve` (uvicorn on 127.0.0.1) over a collection of the shared sample."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.test_browser import free_port

COLLECTION = "fashion"
#: The fuzzer's time budget (seconds): the whole test stays near a minute on 2 cores.
FUZZ_SECONDS = 40
#: A fixed seed: CI explores the same requests each run (drop --seed to explore others).
SEED = 26

#: The schema cannot say which images decode, which points exist or which spaces embed text:
#: such requests are schema-valid and answer 422, which the API documents for that.
CONFIG = """
[[operations]]
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422",
                                                     "429", "5xx"]

[dictionaries.collections]
values = ["{collection}"]

[parameters]
"body.collection" = {{ dictionary = "collections", probability = 0.7 }}
"""


@pytest.fixture(scope="module")
def server(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`embedscope serve` on a random loopback port over a pixels collection of the shared sample
    (no model to download); its base URL."""
    from embedscope.ingest.config import IngestSettings
    from embedscope.ingest.pipeline import run_ingest
    from embedscope.store.edge import EdgeStore

    data = tmp_path_factory.mktemp("fuzz") / "data"
    with EdgeStore(data / "qdrant") as store:
        run_ingest(IngestSettings(dataset=str(sample_dir), model="pixels", limit=50, progress=False,
                                  num_workers=0, collection=COLLECTION), store=store)
    env = {**os.environ, "EMBEDSCOPE_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    env.pop("EMBEDSCOPE_QDRANT_URL", None)
    port = free_port()
    log = (data / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "embedscope", "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--device", "cpu"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/api/v1/collections", proc, data / "serve.log")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def _wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"embedscope serve exited ({proc.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if json.load(answer)["collections"]:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"embedscope serve did not answer {url} in {timeout} s:\n{log.read_text()}")


def test_schemathesis_with_every_check_finds_the_api_true_to_its_schema(
        server: str, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(collection=COLLECTION))
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from schemathesis.cli import schemathesis; "
         "sys.exit(schemathesis())", "--config-file", str(config), "run",
         f"{server}/api/v1/openapi.json", "--checks", "all", "--max-time", str(FUZZ_SECONDS),
         "--seed", str(SEED), "--generation-database", "none", "--no-color"],
        cwd=tmp_path, capture_output=True, text=True, timeout=FUZZ_SECONDS + 120)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-12000:]
    assert "Selected: 4/4" in out and "Tested: 4" in out, out[-4000:]  # every route was fuzzed
