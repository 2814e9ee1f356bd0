"""Reading and writing images: DICOM series folders, NIfTI, NRRD and MetaImage.

Geometry (spacing, origin, direction) is kept as it is; world coordinates are LPS mm.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medseg.errors import ImageReadError, MedsegError
from medseg.io.atomic import atomic_path
from medseg.io.nifti_stream import is_nifti2, scan_nifti

#: File suffix to (format name, SimpleITK ImageIO).
FORMATS: dict[str, tuple[str, str]] = {
    ".nii": ("NIfTI", "NiftiImageIO"),
    ".nii.gz": ("NIfTI", "NiftiImageIO"),
    ".nrrd": ("NRRD", "NrrdImageIO"),
    ".nhdr": ("NRRD", "NrrdImageIO"),
    ".mha": ("MetaImage", "MetaImageIO"),
    ".mhd": ("MetaImage", "MetaImageIO"),
}
_DETACHED = {".nhdr", ".mhd"}
#: Suffixes of single DICOM image files (a folder of them is read as a series).
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")

__all__ = ["DICOM_SUFFIXES", "FORMATS", "NON_FINITE_KEY", "ImageWriteError", "image_suffix", "read_image", "stored_nonfinite", "write_image"]


class ImageWriteError(MedsegError):
    """An image cannot be written to the requested path or format."""


def image_suffix(path: str | os.PathLike[str]) -> str:
    """The format suffix of ``path`` (``.nii.gz`` counts as one), lower case; '' if none."""
    name = Path(path).name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return Path(name).suffix


def _is_directory_target(path: str | os.PathLike[str]) -> bool:
    text = os.fspath(path)
    return text.endswith(("/", os.sep)) or Path(text).is_dir() or image_suffix(text) == ""


#: Metadata key of an image read from NIfTI: how many of its stored voxels were NaN or
#: infinite (ITK's reader hands them over as 0).
NON_FINITE_KEY = "medseg_non_finite_voxels"


def stored_nonfinite(image: sitk.Image) -> int | None:
    """NaN/Inf voxels the NIfTI file of an image held (read by :func:`read_image`), or
    ``None`` when the image did not come from a NIfTI file."""
    return int(image.GetMetaData(NON_FINITE_KEY)) if image.HasMetaDataKey(NON_FINITE_KEY) else None


def nifti_stored_dims(image: sitk.Image) -> tuple[int, ...] | None:
    """The axis sizes a NIfTI header stores (``dim[1..dim[0]]``), from ITK's parse of it.

    ITK drops trailing axes of size 1 from the image it returns; the header keeps them.
    ``None`` when the image carries no NIfTI header metadata.
    """
    if not image.HasMetaDataKey("dim[0]"):
        return None
    return tuple(int(image.GetMetaData(f"dim[{axis}]")) for axis in range(1, int(image.GetMetaData("dim[0]")) + 1))


def _check_nifti_length(image: sitk.Image, path: Path, length: int) -> None:
    """SimpleITK reads a truncated NIfTI without complaint: compare the data with its header.

    The header fields come from ITK's own parse, kept in the image's metadata.
    """
    dims = nifti_stored_dims(image)
    if dims is None or not all(image.HasMetaDataKey(key) for key in ("vox_offset", "bitpix")):
        return
    voxels = int(np.prod(dims, dtype=np.int64))
    expected = int(float(image.GetMetaData("vox_offset"))) + voxels * int(image.GetMetaData("bitpix")) // 8
    if length < expected:
        raise ImageReadError(
            f"{path}: truncated or corrupt NIfTI ({length} bytes of data where the header needs {expected})"
        )


def _check_detached_data(path: Path) -> None:
    """A .mhd/.nhdr header names its data file; say so plainly when that file is missing."""
    keys = ("elementdatafile", "data file", "datafile")
    with open(path, "rb") as handle:
        text = handle.read(65536).decode("latin-1")
    for line in text.splitlines():
        key, sep, value = line.partition("=" if "=" in line.split(":")[0] else ":")
        value = value.strip()
        if sep and key.strip().lower() in keys and value and value.upper() not in {"LOCAL", "LIST"}:
            if " " not in value and not (path.parent / value).exists():
                raise ImageReadError(f"{path}: its data file {value} is missing")
            return


def _read_file(path: Path) -> sitk.Image:
    suffix = image_suffix(path)
    if suffix not in FORMATS:
        known = ", ".join(FORMATS)
        raise ImageReadError(
            f"{path}: unknown image format {suffix or '(no suffix)'!r}; medseg reads {known} and DICOM folders"
        )
    name, image_io = FORMATS[suffix]
    if not os.access(path, os.R_OK):
        raise ImageReadError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file")
    if suffix in _DETACHED:
        _check_detached_data(path)
    if name != "NIfTI":
        return _sitk_read(path, image_io, name)
    with ThreadPoolExecutor(max_workers=1) as pool:  # the file is inflated beside ITK's own read
        scanned = pool.submit(scan_nifti, path)
        try:
            image = _sitk_read(path, image_io, name)
        except ImageReadError:
            scanned.result()  # an incomplete gzip stream is the clearer message
            if is_nifti2(path):
                raise ImageReadError(
                    f"{path}: a NIfTI-2 file, which this reader cannot open; save it as NIfTI-1 "
                    "(in nibabel: nib.save(nib.Nifti1Image(img.dataobj, img.affine), 'out.nii.gz'))"
                ) from None
            raise
        scan = scanned.result()
        _check_nifti_length(image, path, scan.stored_bytes)
    image.SetMetaData(NON_FINITE_KEY, str(scan.non_finite))
    return image


@contextlib.contextmanager
def itk_readable_name(path: str | os.PathLike[str]) -> Iterator[str]:
    """A name under which ITK reads ``path`` itself and no other file.

    Given ``X.nii.gz``, ITK's NIfTI reader opens ``X.nii`` instead when that file exists
    (as it does after a user unzipped a copy for another tool), and it refuses a
    mixed-case suffix such as ``.Nii``. Such a NIfTI path is read through a link with a
    plain lower-case name in a private folder.
    """
    path = Path(path)
    suffix = image_suffix(path)
    written = path.name[len(path.name) - len(suffix):] if suffix else ""
    unzipped = path.with_name(path.name[: -len(".gz")]) if suffix == ".nii.gz" else None
    if suffix not in (".nii", ".nii.gz") or (written == suffix and (unzipped is None or not unzipped.exists())):
        yield str(path)
        return
    with tempfile.TemporaryDirectory(prefix="medseg-read-") as folder:
        link = Path(folder) / f"image{suffix}"
        link.symlink_to(path.resolve())
        yield str(link)


def _sitk_read(path: Path, image_io: str, name: str) -> sitk.Image:
    try:
        with itk_readable_name(path) as readable:
            return sitk.ReadImage(readable, imageIO=image_io)
    except RuntimeError as error:
        detail = _sitk_reason(str(error))
        raise ImageReadError(f"{path}: truncated or corrupt {name} file{detail}") from None


def _sitk_reason(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    useful = [
        line
        for line in lines
        if not line.startswith(("Exception thrown", "/")) and "ITK ERROR" not in line and "sitk::ERROR" not in line
        and not line.endswith("Reason: Success")  # errno 0: no reason at all
    ]
    return f" ({useful[-1][:160]})" if useful else ""


def _read_dicom_file(path: Path, series_uid: str | None) -> sitk.Image:
    from medseg.io.dicom import read_series, scan_dicom_folder, select_series

    headers = scan_dicom_folder(path.parent)
    mine = [h for h in headers if h.path == path]
    if not mine:
        raise ImageReadError(f"{path}: not a DICOM image")
    uid = series_uid or mine[0].series_uid
    return read_series(path.parent, select_series(path.parent, headers, uid))


def read_image(path: str | os.PathLike[str], series_uid: str | None = None) -> sitk.Image:
    """Read an image file or a DICOM series folder.

    Args:
        path: a folder (DICOM series), a ``.dcm`` file (its whole series is read), or a
            ``.nii``/``.nii.gz``/``.nrrd``/``.nhdr``/``.mha``/``.mhd`` file.
        series_uid: SeriesInstanceUID to read when a folder holds several series.

    Returns:
        The image with its geometry as stored. DICOM series are float32 in physical units.

    Raises:
        ImageReadError: the path is missing, the folder is empty or holds no DICOM, the
            suffix is unknown, or the file is truncated or corrupt.
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file or folder")
    if path.is_dir():
        if not any(path.iterdir()):
            raise ImageReadError(f"{path}: the folder is empty")
        from medseg.io.dicom import read_dicom_series  # pydicom is loaded for DICOM input only

        return read_dicom_series(path, series_uid)
    if path.suffix.lower() in DICOM_SUFFIXES:
        return _read_dicom_file(path, series_uid)
    return _read_file(path)


def write_image(image: sitk.Image, path: str | os.PathLike[str], *, modality: str | None = None) -> Path:
    """Write ``image`` atomically, the format chosen by the suffix of ``path``.

    Args:
        image: image to write.
        path: ``.nii``, ``.nii.gz``, ``.nrrd``, ``.nhdr``, ``.mha`` or ``.mhd`` file, or a folder
            (no suffix or a trailing slash) for a DICOM series.
        modality: DICOM Modality for a series; by default the image's ``0008|0060`` metadata,
            else ``OT``.

    Returns:
        The written path.

    Raises:
        ImageWriteError: unknown suffix, an image DICOM cannot hold, or a failed write.
    """
    if _is_directory_target(path):
        return _write_dicom(image, Path(path), modality)
    path = Path(path)
    suffix = image_suffix(path)
    if suffix not in FORMATS:
        raise ImageWriteError(
            f"{path}: unknown image format {suffix!r}; medseg writes {', '.join(FORMATS)} or a DICOM folder"
        )
    compress = suffix in {".nrrd", ".nhdr", ".mha", ".mhd"}
    count = image.GetMetaData(NON_FINITE_KEY) if image.HasMetaDataKey(NON_FINITE_KEY) else None
    if count is not None:  # a note of this read, not a property of the image: NRRD would keep it
        image.EraseMetaData(NON_FINITE_KEY)
    try:
        if suffix in _DETACHED:
            _write_detached(image, path, suffix, compress)
        else:
            with atomic_path(path) as tmp:
                _write_lower_case(image, tmp, suffix, compress)
    except RuntimeError as error:
        raise ImageWriteError(f"{path}: cannot write {FORMATS[suffix][0]}{_sitk_reason(str(error))}") from None
    except OSError as error:
        raise ImageWriteError(f"{path}: cannot write: {error.strerror or error}") from None
    finally:
        if count is not None:
            image.SetMetaData(NON_FINITE_KEY, count)
    return path


def _itk_name(name: str, suffix: str) -> str:
    """``name`` with its format suffix in lower case: ITK picks a writer by a lower-case suffix."""
    return name[: len(name) - len(suffix)] + suffix


def _write_lower_case(image: sitk.Image, tmp: Path, suffix: str, compress: bool) -> None:
    """Write to ``tmp`` through a name whose suffix ITK recognises (``A.NII.GZ`` as ``A.nii.gz``)."""
    target = tmp.with_name(_itk_name(tmp.name, suffix))
    try:
        sitk.WriteImage(image, str(target), compress)
        if target != tmp:
            os.replace(target, tmp)
    finally:
        if target != tmp:
            target.unlink(missing_ok=True)


def _write_detached(image: sitk.Image, path: Path, suffix: str, compress: bool) -> None:
    """Header plus data file: write both in a temporary folder, move the data file first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        header = tmp / _itk_name(path.name, suffix)
        sitk.WriteImage(image, str(header), compress)
        for item in tmp.iterdir():
            if item != header:
                os.replace(item, path.parent / item.name)
        os.replace(header, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_dicom(image: sitk.Image, folder: Path, modality: str | None) -> Path:
    from medseg.io.dicom_write import write_dicom_series

    if image.GetDimension() not in (2, 3) or image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageWriteError(
            f"{folder}: a DICOM series holds a scalar 2D or 3D image, not a "
            f"{image.GetDimension()}D image with {image.GetNumberOfComponentsPerPixel()} component(s)"
        )
    if modality is None:
        modality = image.GetMetaData("0008|0060").strip() if image.HasMetaDataKey("0008|0060") else ""
    description = image.GetMetaData("0008|103e").strip() if image.HasMetaDataKey("0008|103e") else ""
    try:
        write_dicom_series(image, folder, modality=modality or "OT", series_description=description)
    except (ValueError, FileExistsError) as error:
        raise ImageWriteError(f"{folder}: {error}") from None
    return folder
