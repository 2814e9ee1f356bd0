"""Input checks: decide whether an image is fit for a task, with one plain reason per problem.

Every problem found is reported (not just the first), each with a stable code:

``unreadable``, ``missing_slices``, ``dimensionality``, ``spacing``, ``constant``,
``non_finite``, ``ct_not_hu``, ``mr_not_ct``, ``ct_not_mr``, ``fov_too_small``, ``too_large``,
``not_cine`` (readable, but no cine study that the LV method can segment).

Intensity statistics come from a strided sample of a no-copy array view, so large volumes are
not duplicated in memory.
"""

from __future__ import annotations

import gzip
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import SimpleITK as sitk

from medseg.errors import ImageReadError, InputRejected

Modality = Literal["ct", "mr", "cine"]
Status = Literal["accepted", "rejected"]

MODALITIES: tuple[str, ...] = ("ct", "mr", "cine")
CODES: tuple[str, ...] = (
    "unreadable",
    "missing_slices",
    "dimensionality",
    "spacing",
    "constant",
    "non_finite",
    "ct_not_hu",
    "mr_not_ct",
    "ct_not_mr",
    "fov_too_small",
    "too_large",
    "not_cine",
)
DEFAULT_MIN_FOV_MM: dict[str, float] = {"ct": 30.0, "mr": 40.0, "cine": 40.0}
DEFAULT_MAX_VOXELS = 512 * 512 * 1000
MIN_SPACING_MM = 0.05
MAX_SPACING_MM = 20.0
HU_OFFSET = 1024.0
SAMPLE_VOXELS = 2_000_000
PERCENTILES = (0.5, 1.0, 5.0, 50.0, 95.0, 99.0, 99.5)


@dataclass
class CheckResult:
    """Verdict of the input checks.

    Attributes:
        status: ``"accepted"`` when no problem was found, else ``"rejected"``.
        reasons: one plain sentence per problem, in the order of ``codes``.
        codes: one stable code per problem (see :data:`CODES`).
        measurements: what was measured (size, spacing, extent, percentiles, ...).
    """

    status: Status = "accepted"
    reasons: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    measurements: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """True when the input passed every check."""
        return self.status == "accepted"

    def add(self, code: str, reason: str) -> None:
        """Record one problem and mark the result rejected."""
        if code not in CODES:
            raise ValueError(f"unknown check code {code!r}")
        self.codes.append(code)
        self.reasons.append(reason)
        self.status = "rejected"

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``status``, ``codes``, ``reasons``, ``measurements``)."""
        data = asdict(self)
        return {
            "status": data["status"],
            "codes": data["codes"],
            "reasons": data["reasons"],
            "measurements": _plain(data["measurements"]),
        }


def check_image(
    image: sitk.Image,
    modality: Modality,
    *,
    min_fov_mm: float | None = None,
    max_voxels: int = DEFAULT_MAX_VOXELS,
    allow_offset: bool = False,
) -> CheckResult:
    """Check an image already in memory.

    Args:
        image: the image (2D, 3D or 4D; scalar pixels expected).
        modality: ``"ct"`` (3D, HU), ``"mr"`` (3D or 4D) or ``"cine"`` (2D+t or x, y, slice, phase).
        min_fov_mm: smallest physical extent accepted per checked axis (all three axes for CT,
            in-plane for MR and cine); defaults to :data:`DEFAULT_MIN_FOV_MM`.
        max_voxels: largest number of voxels accepted.
        allow_offset: accept a CT whose values are HU + 1024 (``measurements["hu_offset"]``
            then tells the caller to apply :func:`assume_offset`).

    Returns:
        The verdict with every problem found.
    """
    _check_modality(modality)
    result = CheckResult()
    if image.HasMetaDataKey("medseg:resampled"):
        result.measurements["resampled"] = image.GetMetaData("medseg:resampled")
    if image.HasMetaDataKey("medseg:gantry_tilt_deg"):
        result.measurements["gantry_tilt_deg"] = float(image.GetMetaData("medseg:gantry_tilt_deg"))
    _check_geometry(image, modality, result, min_fov_mm, max_voxels)
    _check_intensities(image, modality, result, allow_offset)
    return result


def check_path(
    path: str | os.PathLike[str],
    modality: Modality,
    series_uid: str | None = None,
    *,
    min_fov_mm: float | None = None,
    max_voxels: int = DEFAULT_MAX_VOXELS,
    allow_offset: bool = False,
) -> CheckResult:
    """Read an image file or DICOM folder and check it; reading problems become reasons.

    Args:
        path: NIfTI, NRRD, MHA or other ITK-readable file, or a DICOM series folder.
        modality: see :func:`check_image`.
        series_uid: the DICOM series to read when a folder holds several.
        min_fov_mm: see :func:`check_image`.
        max_voxels: see :func:`check_image`; a file whose header exceeds it is not loaded.
        allow_offset: see :func:`check_image`.

    Returns:
        The verdict; never raises for a bad image.
    """
    return load_checked(path, modality, series_uid, min_fov_mm=min_fov_mm, max_voxels=max_voxels, allow_offset=allow_offset)[1]


def read_checked(
    path: str | os.PathLike[str],
    modality: Modality,
    series_uid: str | None = None,
    *,
    min_fov_mm: float | None = None,
    max_voxels: int = DEFAULT_MAX_VOXELS,
    allow_offset: bool = False,
) -> sitk.Image:
    """Read an image and return it only if it passes the checks of ``modality``.

    Args:
        path: image file or DICOM series folder.
        modality: see :func:`check_image`.
        series_uid: the DICOM series to read when a folder holds several.
        min_fov_mm: see :func:`check_image`.
        max_voxels: see :func:`check_image`; a larger file is refused before it is loaded.
        allow_offset: accept a CT stored with a CT-number offset and return it in HU.

    Raises:
        InputRejected: the image is unreadable or fails a check; the message names the
            path and every reason.
    """
    image, result = load_checked(path, modality, series_uid, min_fov_mm=min_fov_mm, max_voxels=max_voxels, allow_offset=allow_offset)
    if image is None:
        reasons = [reason.removeprefix(f"{path}: ") for reason in result.reasons]
        raise InputRejected(f"{path}: not usable as {modality.upper()}: " + "; ".join(reasons), list(result.reasons))
    return image


def load_checked(
    path: str | os.PathLike[str],
    modality: Modality,
    series_uid: str | None = None,
    *,
    min_fov_mm: float | None = None,
    max_voxels: int = DEFAULT_MAX_VOXELS,
    allow_offset: bool = False,
) -> tuple[sitk.Image | None, CheckResult]:
    """Read and check an image: the header is checked before the voxels are loaded.

    Args:
        path: image file or DICOM series folder.
        modality: see :func:`check_image`.
        series_uid: the DICOM series to read when a folder holds several.
        min_fov_mm: see :func:`check_image`.
        max_voxels: see :func:`check_image`; a larger file is not loaded.
        allow_offset: accept a CT stored with a CT-number offset; it is returned in HU and
            the correction recorded in ``measurements["corrected"]``.

    Returns:
        ``(image, verdict)``; the image is ``None`` unless the verdict is ``accepted``.
    """
    from medseg.io.image import stored_nonfinite

    _check_modality(modality)
    path = Path(path)
    header = _read_header(path)
    if header is not None and math.prod(header["size"]) > max_voxels:
        result = CheckResult(measurements=dict(header))
        result.measurements["voxels"] = math.prod(header["size"])
        result.add("too_large", _too_large_reason(header["size"], max_voxels) + "; the image was not loaded")
        return None, result
    try:
        image = _read_for(path, modality, series_uid)
    except (ImageReadError, RuntimeError, OSError, ValueError) as error:
        result = CheckResult()
        message = _first_line(str(error).strip() or type(error).__name__)
        if "missing slices" in message.lower():
            result.add("missing_slices", message)
        else:
            result.add("unreadable", message if str(path) in message else f"cannot read {path}: {message}")
        return None, result
    result = check_image(image, modality, min_fov_mm=min_fov_mm, max_voxels=max_voxels, allow_offset=allow_offset)
    flag_stored_nonfinite(result, path, stored_nonfinite(image))
    if result.status != "accepted":
        return None, result
    offset = result.measurements.get("hu_offset")
    if allow_offset and offset:
        image = assume_offset(image, offset)
        result.measurements["corrected"] = f"subtracted a CT-number offset of {offset}"
    return image, result


def flag_stored_nonfinite(result: CheckResult, path: str | os.PathLike[str], known: int | None = None) -> None:
    """Add ``non_finite`` to a verdict when the file stores NaN/Inf voxels that the read hid.

    Args:
        result: the verdict.
        path: the file.
        known: the count the read already made (:func:`medseg.io.image.stored_nonfinite`);
            ``None`` scans the file.
    """
    hidden = known if known is not None else stored_nonfinite_voxels(path)
    if hidden and "non_finite" not in result.codes:
        result.add("non_finite", f"{hidden:,} voxels of {Path(path).name} are NaN or infinite (they would be read as 0)")
        result.measurements["non_finite_voxels"] = hidden


def stored_nonfinite_voxels(path: str | os.PathLike[str]) -> int:
    """NaN/Inf voxels stored in a NIfTI file (0 for any other file, or one that cannot be read).

    ITK's NIfTI reader turns NaN into 0, so they must be counted in the file itself
    (:func:`medseg.io.nifti_stream.scan_nifti`: one pass, large blocks).
    """
    from medseg.io.nifti_stream import scan_nifti

    path = Path(path)
    if not path.is_file() or not path.name.lower().endswith((".nii", ".nii.gz")):
        return 0
    try:
        return scan_nifti(path).non_finite
    except ImageReadError:  # the read itself reports a damaged file
        return 0


def read_image(path: str | os.PathLike[str], series_uid: str | None = None) -> sitk.Image:
    """Read through :func:`medseg.io.image.read_image`, or plain SimpleITK if it is absent."""
    try:
        from medseg.io.image import read_image as project_reader
    except ModuleNotFoundError as error:
        if error.name not in ("medseg.io.image",):
            raise
        return _simple_read(Path(path), series_uid)
    except ImportError:
        return _simple_read(Path(path), series_uid)
    return project_reader(path, series_uid=series_uid)


def _read_for(path: Path, modality: str, series_uid: str | None) -> sitk.Image:
    try:
        return read_image(path, series_uid=series_uid)
    except ImageReadError as error:
        if modality != "cine" or type(error).__name__ != "MultiPhaseSeriesError":
            raise
    try:
        from medseg.io.cine import cine_to_image, read_cine_dicom
    except ImportError:
        raise ImageReadError(f"{path}: a cine study, and no cine reader is available") from None
    return cine_to_image(read_cine_dicom(path, series_uid=series_uid))


def assume_offset(image: sitk.Image, offset: float = HU_OFFSET) -> sitk.Image:
    """Return a float32 copy of a CT stored as HU + ``offset`` converted to HU.

    Args:
        image: CT whose air is near 0 and soft tissue near 1024 (no rescale applied).
        offset: the value to subtract.

    Returns:
        A new image with the same geometry, in Hounsfield units.
    """
    converted = sitk.Cast(image, sitk.sitkFloat32) - float(offset)
    converted.CopyInformation(image)
    return converted


def ct_scale(sample: np.ndarray) -> tuple[str, dict[str, float]]:
    """Guess the intensity scale of a CT from (a sample of) its finite voxel values.

    Args:
        sample: 1D array of finite voxel values.

    Returns:
        ``(kind, evidence)`` where kind is ``"hu"``, ``"offset"`` (HU + 1024), ``"8bit"``,
        ``"normalised"``, ``"stretched"`` (CT-like scale spanning at least 1500 units with a
        soft-tissue mode and a bone plateau above it)
        or ``"mr_like"``; evidence holds the numbers behind the guess.
    """
    s = np.asarray(sample, dtype=np.float64).ravel()
    n = max(s.size, 1)
    lo, p1, hi = (float(v) for v in np.percentile(s, [0.5, 1.0, 99.5]))
    evidence = {
        "fraction_below_-500": float(np.count_nonzero(s <= -500) / n),
        "fraction_below_-200": float(np.count_nonzero(s < -200) / n),
        "fraction_874_1174": float(np.count_nonzero((s >= 874) & (s <= 1174)) / n),
        "fraction_-150_150": float(np.count_nonzero((s >= -150) & (s <= 150)) / n),
        "p0.5": lo,
        "p99.5": hi,
        "min": float(s.min()) if s.size else 0.0,
        "max": float(s.max()) if s.size else 0.0,
    }
    if evidence["fraction_below_-500"] >= 0.005:
        return "hu", evidence
    if evidence["fraction_below_-200"] < 0.001 and evidence["fraction_874_1174"] >= 0.05:
        window = s[(s >= 874) & (s <= 1174)]
        counts, edges = np.histogram(window, bins=30, range=(874, 1174))
        evidence["tissue_mode"] = float(edges[int(np.argmax(counts))] + 5)
        evidence["air_level"] = float(lo)
        return "offset", evidence
    if evidence["min"] >= 0 and evidence["max"] <= 255 and evidence["max"] > 1.5:
        return "8bit", evidence
    if evidence["min"] >= -1.5 and evidence["max"] <= 1.5:
        return "normalised", evidence
    if evidence["fraction_-150_150"] >= 0.2:
        counts, edges = np.histogram(s, bins=60, range=(-150, 150))
        evidence["soft_tissue_mode"] = float(edges[int(np.argmax(counts))] + 2.5)
        if p1 < -20 or (evidence["min"] < 0 and evidence["soft_tissue_mode"] - lo >= 15):
            return "hu", evidence
    mode_position, upper = _foreground_shape(s, p1, hi)
    evidence["foreground_mode"] = mode_position
    evidence["fraction_upper_plateau"] = upper
    bone_plateau = mode_position >= 0.2 and upper >= 0.03 and evidence["max"] - evidence["min"] >= 1500
    if lo >= -20 and not bone_plateau:
        return "mr_like", evidence
    return "stretched", evidence


def _foreground_shape(s: np.ndarray, p1: float, hi: float) -> tuple[float, float]:
    """Relative position of the foreground mode and the mass of the plateau above it."""
    if hi <= p1:
        return 0.0, 0.0
    foreground = s[s > p1 + 0.1 * (hi - p1)]
    if foreground.size < 100:
        return 0.0, 0.0
    top = float(np.percentile(foreground, 99.9))
    low = float(foreground.min())
    if top <= low:
        return 0.0, 0.0
    counts, edges = np.histogram(foreground, bins=64, range=(low, top))
    mode = float(edges[int(np.argmax(counts))])
    position = (mode - low) / (top - low)
    upper = float(np.count_nonzero(foreground > mode + 0.5 * (top - mode)) / foreground.size)
    return position, upper


def _check_modality(modality: str) -> None:
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, not {modality!r}")


def _check_geometry(
    image: sitk.Image, modality: str, result: CheckResult, min_fov_mm: float | None, max_voxels: int
) -> None:
    size = tuple(int(v) for v in image.GetSize())
    spacing = tuple(float(v) for v in image.GetSpacing())
    dim = image.GetDimension()
    components = image.GetNumberOfComponentsPerPixel()
    voxels = math.prod(size)
    m = result.measurements
    m.update(
        dimension=dim,
        size=list(size),
        spacing=[_finite_or_none(v) for v in spacing],
        pixel_type=image.GetPixelIDTypeAsString(),
        voxels=voxels,
    )
    if components != 1:
        m["components"] = components
        result.add(
            "dimensionality",
            f"image has {components} components per voxel (colour or vector image); "
            "a single-channel image is expected",
        )
    problem = _dimensionality_problem(modality, dim, size)
    if problem:
        result.add("dimensionality", problem)
    spatial = _spatial_axes(modality, dim)
    names = "xyzt"
    extents: list[float | None] = []
    for axis in range(spatial):
        value = spacing[axis]
        if not math.isfinite(value) or value <= 0:
            result.add("spacing", f"voxel spacing along {names[axis]} is {value} mm (must be a positive number)")
            extents.append(None)
            continue
        if value < MIN_SPACING_MM or value > MAX_SPACING_MM:
            result.add(
                "spacing",
                f"voxel spacing along {names[axis]} is {value:g} mm, outside the plausible range "
                f"{MIN_SPACING_MM:g}-{MAX_SPACING_MM:g} mm (wrong units or a broken header?)",
            )
        extents.append(size[axis] * value)
    plausible = [e is not None and MIN_SPACING_MM <= spacing[a] <= MAX_SPACING_MM for a, e in enumerate(extents)]
    m["extent_mm"] = [None if e is None else round(e, 3) for e in extents]
    fov = DEFAULT_MIN_FOV_MM[modality] if min_fov_mm is None else float(min_fov_mm)
    fov_axes = range(min(spatial, 3)) if modality == "ct" else range(min(spatial, 2))
    small = [
        f"{names[a]} {extents[a]:.1f} mm"
        for a in fov_axes
        if plausible[a] and extents[a] < fov and size[a] > 1
    ]
    if small:
        where = "" if modality == "ct" else " in-plane"
        result.add(
            "fov_too_small",
            f"field of view too small{where}: {', '.join(small)} (at least {fov:g} mm required)",
        )
    if voxels > max_voxels:
        result.add("too_large", _too_large_reason(size, max_voxels))


def _dimensionality_problem(modality: str, dim: int, size: tuple[int, ...]) -> str | None:
    shape = "×".join(str(v) for v in size)
    found = f"found a {dim}D image ({shape})"
    if dim == 2 or (dim == 3 and size[2] == 1 and modality != "cine"):
        what = {"ct": "a 3D CT volume", "mr": "a 3D or 4D MR volume", "cine": "a cine series (2D+t or x, y, slice, phase)"}
        return f"expected {what[modality]}, {found}: a single slice"
    if modality == "ct":
        return None if dim == 3 else f"expected a 3D CT volume, {found}"
    if modality == "mr":
        return None if dim in (3, 4) else f"expected a 3D or 4D MR volume, {found}"
    if dim == 3:
        return None if size[2] >= 2 else f"expected a cine series with at least 2 phases, {found} with 1 phase"
    if dim == 4:
        return None if size[3] >= 2 else f"expected a cine series with at least 2 phases, {found} with 1 phase"
    return f"expected a cine series (2D+t or x, y, slice, phase), {found}"


def _spatial_axes(modality: str, dim: int) -> int:
    if dim == 4:
        return 3
    if modality == "cine" and dim == 3:
        return 2
    return min(dim, 3)


def _too_large_reason(size: tuple[int, ...] | list[int], max_voxels: int) -> str:
    shape = "×".join(str(v) for v in size)
    return f"image has {math.prod(size):,} voxels ({shape}), above the limit of {max_voxels:,}"


def _check_intensities(image: sitk.Image, modality: str, result: CheckResult, allow_offset: bool) -> None:
    view = sitk.GetArrayViewFromImage(image)
    if view.size == 0:
        result.add("constant", "image has no voxels")
        return
    m = result.measurements
    is_float = np.issubdtype(view.dtype, np.floating)
    lo, hi, n_bad = _min_max_nonfinite(view, is_float)
    if n_bad:
        result.add("non_finite", f"{n_bad:,} of {view.size:,} voxels are NaN or infinite")
        m["non_finite_voxels"] = n_bad
    if lo is None:
        return
    m["min"], m["max"] = lo, hi
    if lo == hi:
        result.add("constant", f"all voxels have the same value ({_num(lo)}): the image is empty or blank")
        return
    sample = _sample(view)
    if is_float:
        sample = sample[np.isfinite(sample)]
    values = np.percentile(sample, PERCENTILES)
    m["percentiles"] = {f"p{p:g}": float(v) for p, v in zip(PERCENTILES, values)}
    m["sampled_voxels"] = int(sample.size)
    if modality == "ct":
        _check_ct_scale(sample, result, allow_offset)
    else:
        below = float(np.count_nonzero(sample <= -500) / sample.size)
        if below >= 0.01:
            result.add(
                "ct_not_mr",
                f"{below:.0%} of voxels are below -500 (1st percentile {m['percentiles']['p1']:.0f}): "
                "looks like a CT in Hounsfield units, not MR; check --modality or the input",
            )


def _check_ct_scale(sample: np.ndarray, result: CheckResult, allow_offset: bool) -> None:
    kind, ev = ct_scale(sample)
    result.measurements["ct_scale"] = kind
    if kind == "hu":
        return
    if kind == "offset":
        result.measurements["hu_offset"] = HU_OFFSET
        if allow_offset and ct_scale(sample - HU_OFFSET)[0] == "hu":
            return
        result.add(
            "ct_not_hu",
            f"intensities look like Hounsfield units + {HU_OFFSET:.0f} with no rescale applied "
            f"(air near {ev['air_level']:.0f}, soft tissue near {ev['tissue_mode']:.0f}, expected "
            f"-1000 and 40): subtract {HU_OFFSET:.0f} (fix the rescale intercept, or let medseg do it: "
            "medseg check --allow-offset, medseg ears detect/baseline detect/real-ct --ct-offset correct, checks: {ct_offset: correct} in a study config)",
        )
    elif kind == "8bit":
        result.add(
            "ct_not_hu",
            f"intensities lie in 0-255 (range {_num(ev['min'])} to {_num(ev['max'])}): an 8-bit rescaled or windowed "
            "export, not Hounsfield units; HU cannot be recovered, export the original CT instead",
        )
    elif kind == "normalised":
        result.add(
            "ct_not_hu",
            f"intensities lie in {ev['min']:.2f} to {ev['max']:.2f} (normalised), not Hounsfield units; "
            "HU cannot be recovered, export the original CT instead",
        )
    elif kind == "stretched":
        result.add(
            "ct_not_hu",
            f"intensities are not Hounsfield units: no air near -1000 and no soft tissue near 40 (range "
            f"{_num(ev['min'])} to {_num(ev['max'])}); looks like a contrast-stretched or template CT scale, "
            "use a CT in HU (or, if this is not a CT, check --modality)",
        )
    else:
        result.add(
            "mr_not_ct",
            f"modality is ct but intensities look like MR: no air near -1000, values non-negative "
            f"({_num(ev['min'])} to {_num(ev['max'])}) and no bone plateau; check --modality or the input",
        )


def _min_max_nonfinite(view: np.ndarray, is_float: bool) -> tuple[float | None, float | None, int]:
    if not is_float:
        return float(view.min()), float(view.max()), 0
    lo, hi, bad = math.inf, -math.inf, 0
    for slab in view.reshape(view.shape[0], -1):
        finite = np.isfinite(slab)
        count = int(np.count_nonzero(finite))
        bad += slab.size - count
        if count:
            values = slab if count == slab.size else slab[finite]
            lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
    if lo > hi:
        return None, None, bad
    return lo, hi, bad


def _sample(view: np.ndarray) -> np.ndarray:
    spatial = view.shape if view.ndim <= 4 else view.shape[:4]
    step = max(1, math.ceil((view.size / SAMPLE_VOXELS) ** (1.0 / len(spatial))))
    return np.asarray(view[(slice(None, None, step),) * len(spatial)], dtype=np.float64).ravel()


def _read_header(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    from medseg.io.image import itk_readable_name

    reader = sitk.ImageFileReader()
    try:
        with itk_readable_name(path) as readable:
            reader.SetFileName(readable)
            reader.ReadImageInformation()
    except RuntimeError:
        return None
    return {"size": list(reader.GetSize()), "spacing": list(reader.GetSpacing())}


def _simple_read(path: Path, series_uid: str | None) -> sitk.Image:
    if not path.exists():
        raise ImageReadError(f"no such file or folder: {path}")
    try:
        if path.is_dir():
            ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path))
            if not ids:
                raise ImageReadError(f"no DICOM series in {path}")
            uid = series_uid or ids[0]
            if uid not in ids:
                raise ImageReadError(f"series {uid} not found in {path}")
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path), uid))
            return reader.Execute()
        from medseg.io.image import itk_readable_name

        with itk_readable_name(path) as readable:
            image = sitk.ReadImage(readable)
    except RuntimeError as error:
        raise ImageReadError(_itk_message(str(error))) from None
    _check_complete(path, image)
    return image


def _check_complete(path: Path, image: sitk.Image) -> None:
    """Raise when a file holds fewer pixel bytes than its header promises (ITK reads it silently)."""
    expected = math.prod(image.GetSize()) * image.GetNumberOfComponentsPerPixel() * image.GetSizeOfPixelComponent()
    name = path.name.lower()
    if name.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as stream:
                found = sum(len(chunk) for chunk in iter(lambda: stream.read(1 << 20), b""))
        except (OSError, EOFError) as error:
            raise ImageReadError(f"truncated or corrupt compressed file ({error})") from None
    elif name.endswith((".nii", ".mha")) or (name.endswith(".nrrd") and _raw_nrrd(path)):
        found = path.stat().st_size
    else:
        return
    if found < expected:
        raise ImageReadError(f"file is truncated: {found:,} bytes of pixel data or less, {expected:,} expected")


def _raw_nrrd(path: Path) -> bool:
    with path.open("rb") as stream:
        head = stream.read(4096).lower()
    return b"encoding: raw" in head and b"data file" not in head


def _itk_message(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("ITK ERROR"):
            return line.split(": ", 2)[-1]
        if "error" in line.lower():
            return line.removeprefix("sitk::ERROR: ")
    return _first_line(text)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else text


def _num(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.3g}"


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
