"""WebDataset tar shards, read sample by sample with the bad ones reported, never fatal.

A shard is a tar of members named ``<key>.<ext>`` (img2dataset writes ``jpg``/``png`` with
``cls``/``json``/``txt``). Members of one sample are consecutive; the key is the member path up
to the first dot of its file name. 🤗 datasets' own ``webdataset`` builder stops the whole run
on a sample it cannot parse (a non-numeric ``.cls``, a truncated tar) and drops samples whose
image extension differs from the first five samples', so shards are read here: images stay
encoded for the robust decoder, a sample without an image or with an unreadable label is a
reject with its reason, and a truncated or damaged shard ends in one reject naming where it
broke, after every sample it held before.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff", "ppm", "pgm", "pbm")
LABEL_EXTENSIONS = ("cls", "cls2", "label")
_KEY = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")


@dataclass
class Sample:
    """One sample of a shard: its key, the encoded image (or why there is none) and its label."""

    key: str
    image: bytes | None
    label: int | None
    error: str | None = None


def split_name(name: str) -> tuple[str, str] | None:
    """``("dir/0001", "jpg")`` for member ``dir/0001.jpg``; None for names that are not sample members."""
    match = _KEY.match(name)
    return (match.group(1), match.group(2).lower()) if match else None


def _label(raw: bytes) -> int:
    return int(raw.decode("utf-8", "strict").strip())


def _sample(key: str, members: dict[str, bytes]) -> Sample:
    image_ext = next((e for e in IMAGE_EXTENSIONS if e in members), None)
    label, error = None, None
    label_ext = next((e for e in LABEL_EXTENSIONS if e in members), None)
    if label_ext is not None:
        try:
            label = _label(members[label_ext])
        except (UnicodeDecodeError, ValueError):
            error = f"unreadable .{label_ext} member {members[label_ext][:20]!r} (expected an integer class id)"
    if image_ext is None and error is None:
        error = f"no image member (one of .{', .'.join(IMAGE_EXTENSIONS[:5])} …); it has {sorted(members)}"
    return Sample(key, members[image_ext] if image_ext and error is None else None, label, error)


def _open(url: str) -> IO[bytes]:
    import fsspec

    return fsspec.open(url, "rb").open()  # type: ignore[no-any-return]


def samples(url: str, labels_only: bool = False) -> Iterator[Sample]:
    """The samples of shard ``url`` (a local path or an fsspec URL such as ``hf://…``), in order.

    With ``labels_only`` the image members are skipped unread (a header scan on local files).
    A shard that breaks off yields a last sample with key ``<url>#<n>`` and the reason.
    """
    count, key = 0, None
    members: dict[str, bytes] = {}
    try:
        with _open(url) as fh, tarfile.open(fileobj=fh, mode="r:*" if fh.seekable() else "r|*") as tar:
            for info in tar:
                parts = split_name(info.name) if info.isfile() else None
                if parts is None:
                    continue
                if parts[0] != key:
                    if key is not None:
                        count += 1
                        yield _sample(key, members)
                    key, members = parts[0], {}
                wanted = not labels_only or parts[1] in LABEL_EXTENSIONS
                data = tar.extractfile(info) if wanted else None
                members[parts[1]] = data.read() if data is not None else b""
        if key is not None:
            count += 1
            yield _sample(key, members)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        where = f"in sample {key}" if key is not None else "at its start"
        yield Sample(f"{url}#{count}", None, None,
                     f"the tar shard {url} is damaged or truncated {where} ({exc}); the samples before were read")
