"""The serving process's private temp folders: random names, mode 0700, removed at exit.

Selection exports, report copies and published maps hold the collection's data (thumbnails,
labels, tags); a folder left in the temp directory after the process ends would keep a copy of
it there for every start of the page.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

__all__ = ["private_dir"]


def private_dir(prefix: str) -> Path:
    """A new folder under the temp directory (``mkdtemp``: a random name, mode 0700), removed
    with everything in it when this process exits."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
