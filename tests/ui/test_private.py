"""The page's private temp folders leave nothing behind when the process ends."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path


def test_private_folders_are_closed_to_others_and_removed_at_exit(tmp_path: Path) -> None:
    script = (
        "import sys, tempfile; tempfile.tempdir = sys.argv[1]\n"
        "from embedscope.ui.private import private_dir\n"
        "d = private_dir('embedscope-export-'); (d / 'sel.parquet').write_bytes(b'rows')\n"
        "(d / 'sub').mkdir(); (d / 'sub' / 'x').write_text('y'); print(d)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                         text=True, check=True)
    folder = Path(out.stdout.strip())
    assert folder.parent == tmp_path and folder.name.startswith("embedscope-export-")
    assert not folder.exists(), "the folder outlived its process"
    assert list(tmp_path.iterdir()) == []


def test_a_private_folder_is_readable_by_its_owner_only(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    from embedscope.ui.private import private_dir

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    a, b = private_dir("embedscope-map-"), private_dir("embedscope-map-")
    assert a != b and a.is_dir() and b.is_dir()
    assert stat.S_IMODE(a.stat().st_mode) == 0o700
