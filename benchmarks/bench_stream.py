"""Streaming a dataset bigger than memory: peak RSS and time to the first batch against its size.

Writes (once, then reuses) a parquet dataset of generated JPEG photos in the Hugging Face layout
(several files, 100-row row groups as 🤗 datasets writes them), then runs
``embedscope ingest --model pixels --image-size 32`` over all of it and over a small prefix in
child processes, and prints for each: rows, bytes on disk, seconds to the first stored batch,
seconds to a searchable collection, images/s and peak RSS (the child's ``ru_maxrss``), with the
peaks of its own (anonymous) memory and of mapped files (the collection's segments, which
Qdrant Edge maps: page cache the kernel can reclaim) sampled apart. Memory
that does not depend on the dataset's size shows as the same peak for both. Figures only.

    python benchmarks/bench_stream.py                        # 150k photos 512×384, about 8 GB
    python benchmarks/bench_stream.py --rows 20000 --files 4 # a quicker look
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, resource, sys, time
from embedscope.cli import main
code = main(sys.argv[1:])
print("RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def photos(count: int, width: int, height: int, target_kb: int) -> list[bytes]:
    """``count`` distinct photo-like JPEGs (smooth shapes plus grain) of about ``target_kb`` KB."""
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        base = rng.integers(0, 255, size=(height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(base).resize((width, height), Image.Resampling.BICUBIC), np.int16)
        img = np.clip(img + rng.normal(0, 14, img.shape), 0, 255).astype(np.uint8)
        quality, data = 92, b""
        while quality > 40:
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, "JPEG", quality=quality)
            data = buf.getvalue()
            if len(data) <= target_kb * 1024:
                break
            quality -= 4
        out.append(data)
    return out


def build(root: Path, rows: int, files: int, width: int, height: int, target_kb: int) -> Path:
    """The dataset under ``root`` (reused when its manifest matches)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest = {"rows": rows, "files": files, "width": width, "height": height, "kb": target_kb}
    if (root / "manifest.json").is_file() and json.loads((root / "manifest.json").read_text()) == manifest:
        return root
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("*.parquet"):
        old.unlink()
    pool = photos(256, width, height, target_kb)
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    features = {"image": {"_type": "Image"}, "label": {"_type": "ClassLabel", "names": [f"c{k}" for k in range(10)]}}
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    schema = pa.schema([("image", image_type), ("label", pa.int64())], metadata=meta)
    per_file = -(-rows // files)
    started = time.perf_counter()
    for f in range(files):
        path = root / f"train-{f:05d}-of-{files:05d}.parquet"
        with pq.ParquetWriter(path, schema) as writer:
            for start in range(f * per_file, min(rows, (f + 1) * per_file), 1000):
                idx = range(start, min(rows, (f + 1) * per_file, start + 1000))
                images = [{"bytes": pool[i % len(pool)] + i.to_bytes(8, "little"), "path": f"{i}.jpg"} for i in idx]
                table = pa.table({"image": pa.array(images, image_type),
                                  "label": pa.array([i % 10 for i in idx], pa.int64())}, schema=schema)
                writer.write_table(table, row_group_size=100)
        print(f"  wrote {path.name} ({path.stat().st_size / 1e9:.2f} GB, {time.perf_counter() - started:.0f} s)",
              file=sys.stderr)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def ingest(dataset: Path, data_dir: Path, limit: int | None, index: str, image_size: int = 32) -> dict[str, float]:
    """One ingest in a child process: its summary figures and peak RSS."""
    args = ["ingest", "--dataset", str(dataset), "--model", "pixels", "--image-size", str(image_size),
            "--json", "--no-progress", "--index", index]
    if limit:
        args += ["--limit", str(limit)]
    env = {**os.environ, "EMBEDSCOPE_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.NamedTemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, *args], env=env, stdout=out, stderr=err, text=True)
        # resident memory split into the process's own and mapped files, before and during the
        # index build (which starts once the collection is complete and searchable)
        peak = {f"{k}{phase}": 0 for k in ("RssAnon", "RssFile", "VmRSS") for phase in ("", "_index")}
        while proc.poll() is None:
            phase = "_index" if "building index" in Path(err.name).read_text(errors="replace") else ""
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    key = line.split(":")[0] + phase
                    if key in peak:
                        peak[key] = max(peak[key], int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.25)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"ingest failed ({proc.returncode}):\n{stderr[-3000:]}")
    rss = int(next(line.split()[1] for line in stderr.splitlines() if line.startswith("RSS_KB")))
    summary = json.loads(stdout[stdout.index("{"):])
    return {"rows": summary["ingested"], "first": summary["first_batch_seconds"], "searchable": summary["seconds"],
            "wall": wall, "rss_mb": rss / 1024, "ips": summary["images_per_second"],
            "anon_mb": peak["RssAnon"] / 1024, "file_mb": peak["RssFile"] / 1024, "rss_ingest_mb": peak["VmRSS"] / 1024,
            "rss_index_mb": peak["VmRSS_index"] / 1024, "file_index_mb": peak["RssFile_index"] / 1024}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=150_000)
    p.add_argument("--files", type=int, default=16)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--height", type=int, default=384)
    p.add_argument("--kb", type=int, default=60, help="target size of each JPEG")
    p.add_argument("--small", type=int, default=10_000, help="rows of the comparison run (a prefix)")
    p.add_argument("--index", default="after", choices=["after", "wait", "skip"])
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "embedscope-bench-stream")
    a = p.parse_args()
    root = build(a.dir / "photos_parquet", a.rows, a.files, a.width, a.height, a.kb)
    size = sum(f.stat().st_size for f in root.glob("*.parquet"))
    print(f"dataset: {a.rows} JPEGs {a.width}×{a.height} in {a.files} parquet files, {size / 1e9:.2f} GB")
    results = []
    for label, limit in ((f"first {a.small}", a.small), ("all", None)):
        data_dir = Path(tempfile.mkdtemp(prefix="bench-stream-", dir=a.dir))
        r = ingest(root, data_dir, limit, a.index)
        results.append((label, r))
        print(f"{label:>12}: {r['rows']:>7} rows  first batch {r['first']:5.1f} s  searchable {r['searchable']:6.1f} s "
              f"(wall {r['wall']:6.1f} s)  {r['ips']:6.0f} img/s  peak RSS {r['rss_mb']:6.0f} MB "
              f"(to searchable: {r['rss_ingest_mb']:.0f} MB, own memory {r['anon_mb']:.0f} MB, mapped files "
              f"{r['file_mb']:.0f} MB; index build: {r['rss_index_mb']:.0f} MB, mapped files "
              f"{r['file_index_mb']:.0f} MB)", flush=True)
        subprocess.run(["rm", "-rf", str(data_dir)], check=False)
    (small, big) = (results[0][1], results[1][1])
    print(f"data ×{big['rows'] / max(1, small['rows']):.1f} → peak RSS ×{big['rss_mb'] / small['rss_mb']:.2f} "
          f"({big['rss_mb'] - small['rss_mb']:+.0f} MB); dataset {size / 1e9:.2f} GB, "
          f"peak RSS {big['rss_mb'] / 1024:.2f} GB")
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
