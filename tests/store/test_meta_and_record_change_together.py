"""meta.json and the integrity record change together: a reader in another process never sees
one without the other, and a hand edit is still named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from embedscope.contract import CollectionMeta
from embedscope.errors import DamagedCollectionError
from embedscope.store.edge import EdgeStore

NAME = "pair__fake"
META = CollectionMeta(model="fake", dimension=4, dataset="pair", labels=["a", "b"])

#: Changes the metadata again and again, holding the collection as a job does.
WRITER = """
import sys
from embedscope.store.edge import EdgeStore
store = EdgeStore(sys.argv[1])
store.get_meta(sys.argv[2])
print("ready", flush=True)
for i in range(int(sys.argv[3])):
    store.update_meta(sys.argv[2], labels=[f"a{i}", "b"], analysis={"run_id": str(i)})
store.close()
"""


def test_a_reader_racing_a_writer_of_the_metadata_never_sees_it_damaged(tmp_path: Path) -> None:
    with EdgeStore(tmp_path) as store:
        store.ensure_collection(NAME, META)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), NAME, "400"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    reader = EdgeStore(tmp_path)  # another process's view: reads without taking the lock
    reads, seen = 0, set()
    try:
        while writer.poll() is None:
            meta = reader.stored_meta(NAME)
            assert meta is not None
            seen.add(meta.labels[0])
            assert reader.list_collections() == [NAME]
            reads += 1
    finally:
        writer.kill()
        writer.wait(30)
    _, err = writer.communicate()
    assert writer.returncode == 0, err
    assert reads > 20 and len(seen) > 2  # the reads did overlap the writes
    assert reader.stored_meta(NAME).labels[0] == "a399"  # type: ignore[union-attr]
    reader.close()


def test_a_hand_edited_meta_json_is_still_named_after_a_metadata_change(tmp_path: Path) -> None:
    with EdgeStore(tmp_path) as store:
        store.ensure_collection(NAME, META)
        store.update_meta(NAME, labels=["x", "y"])
    record = json.loads((tmp_path / NAME / "integrity.json").read_text())
    assert "next_meta_sha256" not in record  # a finished change leaves the record as before
    meta = tmp_path / NAME / "meta.json"
    meta.write_text(meta.read_text().replace('"x"', '"z"'))
    with EdgeStore(tmp_path) as again, pytest.raises(DamagedCollectionError,
                                                     match="meta.json was changed"):
        again.get_meta(NAME)


def test_a_record_with_fields_of_a_later_version_still_opens(tmp_path: Path) -> None:
    with EdgeStore(tmp_path) as store:
        store.ensure_collection(NAME, META)
    path = tmp_path / NAME / "integrity.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "later_field": 1}))
    with EdgeStore(tmp_path) as again:
        assert again.get_meta(NAME).labels == ["a", "b"] and again.count(NAME) == 0
