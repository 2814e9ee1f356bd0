"""One pass over a NIfTI file's bytes: how many it holds, and how many stored voxels are NaN or Inf.

SimpleITK reads a truncated NIfTI without complaint, and its NIfTI reader hands NaN voxels
over as 0. Both facts must therefore come from the file itself. They come from the same
pass, which inflates a ``.nii.gz`` once, in large blocks, beside ITK's own read.
"""

from __future__ import annotations

import itertools
import math
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medseg.errors import ImageReadError

__all__ = ["NIFTI2_HEADER_SIZE", "NiftiScan", "nifti_blocks", "is_nifti2", "float_voxel_layout", "count_nonfinite", "scan_nifti"]

#: zlib window bits that accept a gzip header.
_GZIP_WINDOW = 16 + zlib.MAX_WBITS

#: NIfTI ``datatype`` codes of floating-point voxels, as numpy kinds.
_FLOAT_KINDS = {16: "f4", 64: "f8"}

#: ``sizeof_hdr`` of a NIfTI-2 header (NIfTI-1: 348).
NIFTI2_HEADER_SIZE = 540

#: sizeof_hdr -> (datatype offset and format, dim offset and format, vox_offset offset and format)
_HEADER_FIELDS = {
    348: ((70, "h"), (40, "8h"), (108, "f")),  # NIfTI-1
    NIFTI2_HEADER_SIZE: ((12, "h"), (16, "8q"), (168, "q")),  # NIfTI-2
}


@dataclass(frozen=True)
class NiftiScan:
    """What one pass over a NIfTI file found.

    Attributes:
        stored_bytes: bytes the file holds (inflated for ``.nii.gz``).
        non_finite: NaN/Inf voxels among the stored data (0 for integer voxels).
    """

    stored_bytes: int
    non_finite: int


def _is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def nifti_blocks(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """The bytes of a NIfTI file in large blocks, inflated for ``.nii.gz``.

    Raises:
        ImageReadError: the gzip stream is incomplete or corrupt.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        if not _is_gzip(path):
            while data := handle.read(1 << 24):
                yield data
            return
        # zlib on large blocks, not gzip.open: the gzip reader takes the GIL back for every
        # small block, and beside a busy thread (the torch import) that made it 100x slower
        inflater = zlib.decompressobj(_GZIP_WINDOW)
        try:
            while data := handle.read(1 << 22):
                while data:
                    if inflater.eof:  # another gzip member follows, possibly after zero padding
                        data = data.lstrip(b"\0")
                        if not data:
                            break
                        inflater = zlib.decompressobj(_GZIP_WINDOW)
                    yield inflater.decompress(data, 1 << 24)
                    data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
        except (OSError, zlib.error):
            inflater = None
    if inflater is None or not inflater.eof:
        raise ImageReadError(f"{path}: truncated or corrupt NIfTI (the gzip stream is incomplete)")


def is_nifti2(path: str | os.PathLike[str]) -> bool:
    """Whether a NIfTI file has a NIfTI-2 header (either byte order)."""
    first = next(iter(nifti_blocks(path)), b"")[:4]
    return any(int.from_bytes(first, order) == NIFTI2_HEADER_SIZE for order in ("little", "big"))


def float_voxel_layout(header: bytes) -> tuple[np.dtype, int, int] | None:
    """``(dtype, data offset, voxel count)`` from the first bytes of a NIfTI-1 or NIfTI-2
    header whose voxels are floats; ``None`` for integer voxels or an unknown header."""
    for order, byteorder in (("<", "little"), (">", "big")):
        fields = _HEADER_FIELDS.get(int.from_bytes(header[:4], byteorder))
        if fields is None:
            continue
        (type_at, type_fmt), (dim_at, dim_fmt), (offset_at, offset_fmt) = fields
        needed = max(at + struct.calcsize(fmt) for at, fmt in fields)
        if len(header) < needed:
            return None
        kind = _FLOAT_KINDS.get(struct.unpack_from(order + type_fmt, header, type_at)[0])
        if kind is None:
            return None
        dims = struct.unpack_from(order + dim_fmt, header, dim_at)
        if not 1 <= dims[0] <= 7:
            return None
        header_end = int.from_bytes(header[:4], byteorder) + 4
        offset = max(int(struct.unpack_from(order + offset_fmt, header, offset_at)[0]), header_end)
        return np.dtype(order + kind), offset, math.prod(max(int(d), 0) for d in dims[1 : dims[0] + 1])
    return None


def count_nonfinite(blocks: Iterable[bytes], dtype: np.dtype, offset: int, voxels: int) -> int:
    """NaN/Inf among ``voxels`` values of ``dtype`` stored from byte ``offset`` of a byte stream."""
    count, position, carry = 0, 0, b""
    end = offset + voxels * dtype.itemsize
    for block in blocks:
        start, stop = max(offset - position, 0), min(end - position, len(block))
        position += len(block)
        if stop > start:
            data = carry + block[start:stop]
            usable = len(data) - len(data) % dtype.itemsize
            values = np.frombuffer(data, dtype=dtype, count=usable // dtype.itemsize)
            count += int(values.size - np.count_nonzero(np.isfinite(values)))
            carry = data[usable:]
    return count


def scan_nifti(path: str | os.PathLike[str]) -> NiftiScan:
    """Inflate a NIfTI file once: the bytes it holds and its non-finite voxels.

    Raises:
        ImageReadError: the gzip stream is incomplete or corrupt.
    """
    path = Path(path)
    blocks = nifti_blocks(path)
    first: list[bytes] = []
    header = b""
    for block in blocks:  # the header: the first 544 bytes at most (NIfTI-2)
        first.append(block)
        header += block[: 544 - len(header)]
        if len(header) >= 544:
            break
    stored = [sum(len(block) for block in first)]

    def rest() -> Iterator[bytes]:
        for block in blocks:
            stored[0] += len(block)
            yield block

    layout = float_voxel_layout(header)
    if layout is None and not _is_gzip(path):
        blocks.close()
        return NiftiScan(path.stat().st_size, 0)
    everything = itertools.chain(first, rest())
    if layout is None:
        for _ in everything:
            pass
        return NiftiScan(stored[0], 0)
    non_finite = count_nonfinite(everything, *layout)  # reads the stream to its end
    return NiftiScan(stored[0], non_finite)
