"""Synthetic short-axis cine MR of the left ventricle, with infarcts and labels per frame.

Each subject is a heart (:class:`Heart`) described in polar coordinates about the LV
centre of every slice: the endocardial radius ``r_endo(θ, t)`` and epicardial radius
``r_epi(θ, t)``. The cavity radius shrinks by ``contraction`` (a fraction of its radius)
from end-diastole (phase 0) to end-systole; the wall keeps its area at every angle
(``r_epi² - r_endo²`` constant over the cycle), so it thickens as the cavity empties.
Infarcted sectors have a thinner wall, little or no motion (hence little thickening)
and an altered wall intensity (brighter or darker), so that one frame alone can be
ambiguous while the cycle is not.

Labels: 0 background, 1 LV myocardium, 2 LV cavity (papillary muscles included in the
cavity), 255 not annotated (frames left out by sparse labelling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from medseg.io.cine import SECONDS_PER_MS

#: Settings of the cine generator (``config["cohort"]["demo"]["lv"]`` minus counts).
CINE_MR_DEFAULTS: dict[str, Any] = {
    "slices": [4, 6],
    "phases": [20, 30],
    "matrix": 128,
    "pixel_mm": [1.2, 1.8],
    "slice_spacing_mm": [8.0, 10.0],
    "contraction": [0.25, 0.40],
    "wall_mm": [8.0, 11.5],
    "infarct_probability": 0.6,
    "infarct_width_deg": [60.0, 120.0],
    "noise": [0.02, 0.06],
    "bias": 0.35,
}

UNANNOTATED = 255


@dataclass(frozen=True)
class Infarct:
    """One infarcted sector: centre angle and width (degrees, heart frame), slice range."""

    centre_deg: float
    width_deg: float
    slices: tuple[int, int]  # first, last (inclusive)
    thinning: float  # ED wall thickness factor in the sector
    motion: float  # fraction of normal contraction left in the sector
    intensity: float  # wall signal relative to blood (1.0)


@dataclass(frozen=True)
class Heart:
    """One subject's heart and acquisition (everything that is the same for every frame)."""

    n_slices: int
    n_phases: int
    es_phase: int
    matrix: int
    pixel_mm: float
    slice_spacing_mm: float
    contraction: float
    r_endo: np.ndarray  # (slices,) ED cavity radius, mm
    wall: np.ndarray  # (slices,) ED wall thickness, mm
    shape_coef: np.ndarray  # (slices, 3, 2) Fourier cos/sin coefficients for k = 2, 3, 4
    centres: np.ndarray  # (slices, 2) LV centre (mm, from the image centre)
    rotation_deg: float  # heart frame angle in the image (RV direction)
    infarcts: tuple[Infarct, ...]
    myo_signal: float
    rr_ms: float
    direction: np.ndarray  # 3x3: row, column, slice-normal (base -> apex) in LPS
    origin: np.ndarray  # LPS mm of pixel (0, 0) of slice 0
    papillary_deg: tuple[float, float]


def sample_heart(rng: np.random.Generator, settings: dict[str, Any] | None = None) -> Heart:
    """Draw one subject's heart, cycle, infarcts and slice geometry.

    Args:
        rng: the subject's random generator.
        settings: keys of :data:`CINE_MR_DEFAULTS` (missing keys default); ``slices`` and
            ``phases`` may be an int or an inclusive ``[low, high]`` range.

    Returns:
        The heart.
    """
    cfg = {**CINE_MR_DEFAULTS, **(settings or {})}

    def count(v: Any) -> int:
        return int(v) if np.isscalar(v) else int(rng.integers(v[0], v[1] + 1))

    n_slices, n_phases = count(cfg["slices"]), count(cfg["phases"])
    es_phase = int(round(rng.uniform(0.33, 0.42) * n_phases))
    px = float(rng.uniform(*cfg["pixel_mm"]))
    ss = float(rng.uniform(*cfg["slice_spacing_mm"]))
    u = np.linspace(0.05, 0.8, n_slices) if n_slices > 1 else np.array([0.4])
    r0 = rng.uniform(21.0, 27.0)
    r_endo = r0 * np.sqrt(1.0 - (0.9 * u) ** 2)
    wall = rng.uniform(*cfg["wall_mm"]) * (1.0 - 0.35 * u)
    wall = np.maximum(wall, 6.0)
    coef = rng.normal(0, 0.035, (1, 3, 2)) + rng.normal(0, 0.012, (n_slices, 3, 2))
    fov = cfg["matrix"] * px
    drift = rng.normal(0, 3.0, 2)
    centre = rng.uniform(-0.12, 0.12, 2) * fov
    centres = centre + np.outer(u - u.mean(), drift) / 0.75
    infarcts: list[Infarct] = []
    if rng.random() < cfg["infarct_probability"]:
        n_inf = 1 if rng.random() < 0.6 else 2
        angle = rng.uniform(0, 360)
        for i in range(n_inf):
            width = float(rng.uniform(*cfg["infarct_width_deg"]))
            first = int(rng.integers(0, max(n_slices - 1, 1)))
            last = int(rng.integers(first, n_slices))
            bright = rng.random() < 0.5
            infarcts.append(
                Infarct(
                    centre_deg=float((angle + i * rng.uniform(140, 220)) % 360),
                    width_deg=width,
                    slices=(first, max(last, first + 1) if n_slices > 1 else first),
                    thinning=float(rng.uniform(0.4, 0.65)),
                    motion=float(rng.uniform(0.0, 0.3)),
                    intensity=float(rng.uniform(0.55, 0.8) if bright else rng.uniform(0.08, 0.16)),
                )
            )
    # Short-axis orientation: slice normal along the LV long axis (base -> apex, which
    # points left, anterior and inferior), in-plane axes rotated about it at random.
    normal = np.array([0.6, -0.5, -0.6]) + rng.normal(0, 0.08, 3)
    normal /= np.linalg.norm(normal)
    ref = np.array([0.0, 0.0, 1.0])
    row = np.cross(ref, normal)
    row /= np.linalg.norm(row)
    col = np.cross(normal, row)
    spin = rng.uniform(-0.4, 0.4)
    row, col = np.cos(spin) * row + np.sin(spin) * col, -np.sin(spin) * row + np.cos(spin) * col
    direction = np.column_stack([row, col, normal])
    centre_world = np.array([rng.uniform(-10, 30), rng.uniform(-40, 0), rng.uniform(-60, 20)])
    origin = centre_world - direction @ np.array([fov / 2, fov / 2, 0.0]) - normal * ss * (n_slices - 1) / 2
    return Heart(
        n_slices=n_slices,
        n_phases=n_phases,
        es_phase=es_phase,
        matrix=int(cfg["matrix"]),
        pixel_mm=px,
        slice_spacing_mm=ss,
        contraction=float(rng.uniform(*cfg["contraction"])),
        r_endo=r_endo,
        wall=wall,
        shape_coef=coef,
        centres=centres,
        rotation_deg=float(rng.uniform(0, 360)),
        infarcts=tuple(infarcts),
        myo_signal=float(rng.uniform(0.22, 0.32)),
        rr_ms=float(rng.uniform(800, 1100)),
        direction=direction,
        origin=origin,
        papillary_deg=(float(rng.uniform(100, 160)), float(rng.uniform(200, 260))),
    )


def contraction_curve(heart: Heart) -> np.ndarray:
    """Fraction of full contraction per phase: 0 at end-diastole (phase 0), 1 at ES."""
    t = np.arange(heart.n_phases) / heart.n_phases
    t_es = heart.es_phase / heart.n_phases
    g = np.where(
        t <= t_es,
        0.5 * (1.0 - np.cos(np.pi * t / t_es)),
        0.5 * (1.0 + np.cos(np.pi * np.clip((t - t_es) / (0.9 - t_es), 0.0, 1.0))),
    )
    return g


def _sector(inf: Infarct, theta_deg: np.ndarray) -> np.ndarray:
    off = np.abs((theta_deg - inf.centre_deg + 180.0) % 360.0 - 180.0)
    return np.clip((inf.width_deg / 2 - off) / 8.0 + 0.5, 0.0, 1.0)


def active_infarcts(heart: Heart, slice_index: int) -> list[Infarct]:
    """The infarcts that reach slice ``slice_index``."""
    return [inf for inf in heart.infarcts if inf.slices[0] <= slice_index <= inf.slices[1]]


def infarct_weight(heart: Heart, slice_index: int, theta_deg: np.ndarray) -> np.ndarray:
    """Membership (0..1, smooth 8° edges) of heart-frame angles in this slice's infarcts."""
    w = np.zeros_like(theta_deg, dtype=float)
    for inf in active_infarcts(heart, slice_index):
        w = np.maximum(w, _sector(inf, theta_deg))
    return w


def wall_radii(heart: Heart, slice_index: int, theta_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Endocardial and epicardial radii (mm), shape ``(phases,) + theta.shape``."""
    th = np.deg2rad(theta_deg)
    shape = np.ones_like(th)
    for i, k in enumerate((2, 3, 4)):
        a, b = heart.shape_coef[slice_index, i]
        shape = shape + a * np.cos(k * th) + b * np.sin(k * th)
    motion = np.ones_like(th)
    thin = np.ones_like(th)
    for inf in active_infarcts(heart, slice_index):
        sector = _sector(inf, theta_deg)
        motion = np.minimum(motion, 1.0 - sector * (1.0 - inf.motion))
        thin = np.minimum(thin, 1.0 - sector * (1.0 - inf.thinning))
    endo_ed = heart.r_endo[slice_index] * shape
    epi_ed = endo_ed + heart.wall[slice_index] * thin * (1.0 + 0.5 * (shape - 1.0))
    g = contraction_curve(heart).reshape((-1,) + (1,) * th.ndim)
    endo = endo_ed * (1.0 - heart.contraction * motion * g)
    epi = np.sqrt(endo**2 + (epi_ed**2 - endo_ed**2))
    return endo, epi


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return f / (f.std() + 1e-9)


def _soft(d: np.ndarray, px: float) -> np.ndarray:
    return np.clip(0.5 - d / px, 0.0, 1.0)


def _background(rng: np.random.Generator, heart: Heart, s: int, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Chest: body outline with fat, muscle, lungs, liver (apical slices), aorta."""
    n = heart.matrix
    fov = n * heart.pixel_mm
    img = np.zeros((n, n))
    body_r = np.array([0.46, 0.36]) * fov
    q = np.sqrt((xx / body_r[0]) ** 2 + (yy / body_r[1]) ** 2)
    img += _soft((q - 1.0) * body_r.min(), heart.pixel_mm) * 0.75  # subcutaneous fat
    img += _soft((q - 0.93) * body_r.min(), heart.pixel_mm) * (0.33 - 0.75)  # muscle / tissue
    tex = 1.0 + 0.08 * _smooth_field(rng, (n, n), 3.0)
    for sx in (-1, 1):
        c = np.array([0.22 * sx * fov, 0.05 * fov])
        r = np.array([0.15, 0.22]) * fov * rng.uniform(0.85, 1.1)
        d = (np.sqrt(((xx - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2) - 1.0) * r.min()
        img = img + _soft(d, heart.pixel_mm) * (0.04 - img)
    if s >= heart.n_slices // 2:
        c = np.array([-0.18 * fov, 0.18 * fov])
        d = np.sqrt((xx - c[0]) ** 2 + (yy - c[1]) ** 2) - 0.22 * fov
        img = img + _soft(d, heart.pixel_mm) * (0.42 - img)
    c = np.array([0.08 * fov, 0.2 * fov])
    img = img + _soft(np.sqrt((xx - c[0]) ** 2 + (yy - c[1]) ** 2) - 11.0, heart.pixel_mm) * (0.9 - img)
    return img * tex


def render_cine(heart: Heart, rng: np.random.Generator, noise: float = 0.04, bias: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Render every frame and its labels.

    Args:
        heart: the subject.
        rng: generator for textures, bias field and noise.
        noise: Rician noise sigma relative to the blood signal.
        bias: amplitude of the smooth multiplicative coil field (``exp(bias·field)``).

    Returns:
        ``(image, labels)``, each ``(phases, slices, rows, cols)``; image float32 (blood
        ≈ 1000 before bias), labels uint8 (0, 1, 2).
    """
    n, px = heart.matrix, heart.pixel_mm
    coords = (np.arange(n) - (n - 1) / 2) * px
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    image = np.zeros((heart.n_phases, heart.n_slices, n, n), dtype=np.float32)
    labels = np.zeros(image.shape, dtype=np.uint8)
    g = contraction_curve(heart)
    rot = np.deg2rad(heart.rotation_deg)
    for s in range(heart.n_slices):
        bg = _background(rng, heart, s, xx, yy)
        dx, dy = xx - heart.centres[s, 0], yy - heart.centres[s, 1]
        rho = np.hypot(dx, dy)
        theta = (np.rad2deg(np.arctan2(dy, dx) - rot)) % 360.0
        endo, epi = wall_radii(heart, s, theta)
        wall_sig = np.full_like(theta, heart.myo_signal)
        for inf in active_infarcts(heart, s):
            w = _sector(inf, theta)
            wall_sig = wall_sig * (1.0 - w) + inf.intensity * w
        wall_tex = 1.0 + 0.06 * _smooth_field(rng, (n, n), 2.0)
        # RV: crescent on the side at heart-frame angle 0, shrinking by 20 % at ES.
        rv_dir = np.array([np.cos(rot), np.sin(rot)])
        rv_scale = max(0.0, 1.0 - 0.9 * s / max(heart.n_slices, 2))
        field = bias * _smooth_field(rng, (n, n), n / 4)
        gain = np.exp(field - field.mean())
        pap = [np.deg2rad(a) + rot for a in heart.papillary_deg]
        for p in range(heart.n_phases):
            frame = bg.copy()
            r_e, r_o = endo[p], epi[p]
            if rv_scale > 0:
                rv_r = (heart.r_endo[s] + heart.wall[s]) * rv_scale * (1.0 - 0.2 * g[p])
                c = heart.centres[s] + rv_dir * (heart.r_endo[s] + heart.wall[s]) * 0.9
                along = (xx - c[0]) * rv_dir[0] + (yy - c[1]) * rv_dir[1]
                across = -(xx - c[0]) * rv_dir[1] + (yy - c[1]) * rv_dir[0]
                rv_q = np.sqrt((along / (0.75 * rv_r + 1e-6)) ** 2 + (across / (1.5 * rv_r + 1e-6)) ** 2)
                frame += _soft((rv_q - 1.0) * 0.75 * rv_r - 3.0, px) * (0.3 - frame)  # RV free wall
                frame += _soft((rv_q - 1.0) * 0.75 * rv_r, px) * (0.95 - frame)  # RV blood
                frame += _soft(rho - r_o - 2.0, px) * (0.3 - frame)  # septum side / epicardium
            frame += _soft(rho - r_o - 2.5, px) * _soft(-(rho - r_o - 0.5), px) * (0.8 - frame) * 0.6  # fat
            frame += _soft(rho - r_o, px) * (wall_sig * wall_tex - frame)
            frame += _soft(rho - r_e, px) * (1.0 - frame)
            for a in pap:  # papillary muscles (labelled cavity)
                pc = heart.centres[s] + (np.mean(r_e) - 4.0) * np.array([np.cos(a), np.sin(a)])
                frame += _soft(np.hypot(xx - pc[0], yy - pc[1]) - 2.6, px) * (heart.myo_signal - frame)
            image[p, s] = frame * gain
            labels[p, s] = np.where(rho < r_e, 2, np.where(rho < r_o, 1, 0))
    image = ndimage.gaussian_filter(image, sigma=(0, 0, 0.6, 0.6))
    real = image + rng.normal(0, noise, image.shape)
    imag = rng.normal(0, noise, image.shape)
    image = (np.sqrt(real**2 + imag**2) * 1000.0).astype(np.float32)
    return image, labels


def sparse_labels(labels: np.ndarray, phases: list[int]) -> np.ndarray:
    """Keep labels of ``phases`` only; every other frame becomes 255 (not annotated)."""
    out = np.full_like(labels, UNANNOTATED)
    out[phases] = labels[phases]
    return out


@dataclass
class CineStudy:
    """A rendered cine study: arrays ``(phases, slices, rows, cols)`` plus geometry."""

    image: np.ndarray
    labels: np.ndarray
    heart: Heart

    @property
    def spacing(self) -> tuple[float, float, float]:
        """(column, row, slice) spacing in mm."""
        return (self.heart.pixel_mm, self.heart.pixel_mm, self.heart.slice_spacing_mm)

    @property
    def trigger_times_ms(self) -> np.ndarray:
        """Trigger time of each phase (ms after the R wave)."""
        return np.arange(self.heart.n_phases) * self.heart.rr_ms / self.heart.n_phases

    def info(self) -> dict[str, Any]:
        """Ground truth summary: phases, slices, ED/ES, contraction and infarcts."""
        h = self.heart
        cav = (self.labels == 2).sum(axis=(2, 3)) * h.pixel_mm**2
        return {
            "phases": h.n_phases,
            "slices": h.n_slices,
            "ed_phase": 0,
            "es_phase": h.es_phase,
            "matrix": h.matrix,
            "pixel_mm": h.pixel_mm,
            "slice_spacing_mm": h.slice_spacing_mm,
            "rr_ms": h.rr_ms,
            "contraction": h.contraction,
            "cavity_area_mm2": {"ed": cav[0].tolist(), "es": cav[h.es_phase].tolist()},
            "infarcts": [
                {
                    "centre_deg_heart_frame": inf.centre_deg,
                    "width_deg": inf.width_deg,
                    "slices": list(inf.slices),
                    "thinning": inf.thinning,
                    "motion": inf.motion,
                    "signal": "bright" if inf.intensity > 0.4 else "dark",
                }
                for inf in h.infarcts
            ],
            "rv_angle_deg": h.rotation_deg,
        }

    def to_image(self, array: np.ndarray | None = None) -> sitk.Image:
        """A 4D SimpleITK image (x, y, slice, phase) of ``array`` (default: the image).

        Float arrays are rounded to int16; labels stay uint8. The phase axis is time in
        seconds, as NIfTI counts it.
        """
        arr = self.image if array is None else array
        if arr.dtype != np.uint8:
            arr = np.clip(np.rint(arr), 0, 32767).astype(np.int16)
        image = sitk.GetImageFromArray(arr, isVector=False)
        image.SetSpacing([*map(float, self.spacing), float(self.heart.rr_ms / self.heart.n_phases) * SECONDS_PER_MS])
        image.SetOrigin([*map(float, self.heart.origin), 0.0])
        d4 = np.eye(4)
        d4[:3, :3] = self.heart.direction
        image.SetDirection([float(v) for v in d4.ravel()])
        return image


def generate_cine(rng: np.random.Generator, settings: dict[str, Any] | None = None) -> CineStudy:
    """Draw a heart and render its cine study with noise and bias from ``settings``."""
    cfg = {**CINE_MR_DEFAULTS, **(settings or {})}
    heart = sample_heart(rng, cfg)
    noise = float(rng.uniform(*cfg["noise"]))
    image, labels = render_cine(heart, rng, noise=noise, bias=float(cfg["bias"]))
    return CineStudy(image, labels, heart)
