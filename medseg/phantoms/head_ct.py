"""Synthetic head CT with two inner ears, rendered exactly at every voxel's world position.

The anatomy lives in a *head frame* (mm, axes as LPS for an upright head: +x patient left,
+y posterior, +z superior; origin midway between the two ear centres). It is a painter's
list of implicit shapes (:class:`Layer`), each a signed-distance function and a CT number;
later layers overwrite earlier ones with a soft edge (partial volume).

A scan is a grid (size, spacing, origin, direction) plus a head pose (rotation ``R`` and
translation ``t``: ``world = R @ head + t``). Each voxel index is mapped to world LPS
through the grid and to the head frame through the inverse pose, so the geometry of every
scan is exact and left/right follows from the image direction, never from array order.

Ear centre (the ground-truth landmark) = centre of the cochlea–vestibule complex: the
point midway between the vestibule centre and the basal turn of the cochlea, which lies
in the labyrinth fluid inside the dense otic capsule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

#: Settings of the head CT generator (``config["cohort"]["demo"]["ears"]`` minus counts).
HEAD_CT_DEFAULTS: dict[str, Any] = {
    "head_scale": [0.85, 1.15],
    "ear_distance_mm": [90.0, 110.0],
    "max_rotation_deg": 15.0,
    "fov_mix": {"both": 0.4, "one": 0.3, "none": 0.3},
    "direction_mix": {"identity": 0.5, "flipped": 0.25, "oblique": 0.25},
    "inplane_spacing_mm": [0.3, 1.0],
    "slice_spacing_mm": [0.5, 3.0],
    "noise_sd_hu": [10.0, 40.0],
    "hu_offset": 20.0,
    "metal_probability": 0.3,
    "max_voxels": 6_000_000,
    "presence_margin_mm": 5.0,
}

SIDES = ("left", "right")
_AIR = -1000.0


# --------------------------------------------------------------------------- shapes
def _unit(v: Any) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


@dataclass(frozen=True)
class Ellipsoid:
    """Ellipsoid ``centre``, semi-axes ``radii`` along the columns of ``axes`` (mm)."""

    centre: np.ndarray
    radii: np.ndarray
    axes: np.ndarray = field(default_factory=lambda: np.eye(3))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        half = np.sqrt(((self.axes * self.radii) ** 2).sum(axis=1))
        return self.centre - half, self.centre + half

    def sdf(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Approximate signed distance (mm, negative inside; exact on the surface)."""
        coords = (x, y, z)
        aligned = bool(np.allclose(self.axes, np.eye(3)))
        num = np.zeros(np.broadcast_shapes(x.shape, y.shape, z.shape), dtype=np.float32)
        den = np.zeros_like(num)
        for col in range(3):
            inv_r = np.float32(1.0 / self.radii[col])
            if aligned:
                q = (coords[col] - np.float32(self.centre[col])) * inv_r
            else:
                a = self.axes[:, col].astype(np.float32)
                c = np.float32(self.centre @ self.axes[:, col])
                q = x * a[0] + y * a[1]
                q += z * a[2]
                q -= c
                q *= inv_r
            np.square(q, out=q)
            num += q
            q *= inv_r * inv_r
            den += q
        den += np.float32(1e-9 / self.radii.min() ** 2)
        np.divide(num + np.float32(1e-9), den, out=den)
        np.sqrt(den, out=den)  # local distance scale h
        np.sqrt(num, out=num)
        num -= np.float32(1.0)
        num *= den
        return num


@dataclass(frozen=True)
class Capsule:
    """Tube from ``a`` to ``b`` whose radius tapers linearly from ``ra`` to ``rb``."""

    a: np.ndarray
    b: np.ndarray
    ra: float
    rb: float

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        r = max(self.ra, self.rb)
        return np.minimum(self.a, self.b) - r, np.maximum(self.a, self.b) + r

    def sdf(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        ab = [float(v) for v in self.b - self.a]
        ax, ay, az = (float(v) for v in self.a)
        inv_ll = 1.0 / (ab[0] ** 2 + ab[1] ** 2 + ab[2] ** 2)
        px, py, pz = x - ax, y - ay, z - az
        t = np.clip((px * ab[0] + py * ab[1] + pz * ab[2]) * inv_ll, 0.0, 1.0)
        dist = np.sqrt((px - t * ab[0]) ** 2 + (py - t * ab[1]) ** 2 + (pz - t * ab[2]) ** 2)
        return dist - (float(self.ra) + t * float(self.rb - self.ra))


@dataclass(frozen=True)
class Torus:
    """Ring of major radius ``major`` about ``normal`` through ``centre``, tube ``minor``."""

    centre: np.ndarray
    normal: np.ndarray
    major: float
    minor: float

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        r = self.major + self.minor
        return self.centre - r, self.centre + r

    def sdf(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        n = [float(v) for v in self.normal]
        dx, dy, dz = (c - float(v) for c, v in zip((x, y, z), self.centre))
        w = dx * n[0] + dy * n[1] + dz * n[2]
        rho = np.sqrt(np.maximum(dx * dx + dy * dy + dz * dz - w * w, 0.0))
        return np.sqrt((rho - float(self.major)) ** 2 + w * w) - float(self.minor)


@dataclass(frozen=True)
class Balls:
    """Union of spheres (``centres`` (n, 3), ``radii`` (n,)); also sampled tubes."""

    centres: np.ndarray
    radii: np.ndarray

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        r = self.radii[:, None]
        return (self.centres - r).min(axis=0), (self.centres + r).max(axis=0)

    def sdf(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        out = np.full(x.shape, np.inf, dtype=x.dtype)
        for (cx, cy, cz), r in zip(self.centres.tolist(), self.radii.tolist()):
            d = np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) - r
            np.minimum(out, d, out=out)
        return out


@dataclass(frozen=True)
class Layer:
    """One painted structure: a shape, its CT number and a name (for tests and debugging).

    ``shell`` > 0 turns a head-ellipsoid layer into "``shell`` mm inside the skin";
    ``floor`` (mm) keeps only the part above the skull base height plus ``floor``.
    """

    name: str
    shape: Any
    hu: float
    floor: float | None = None


@dataclass(frozen=True)
class HeadAnatomy:
    """One subject's head: scale, ear centres (head frame, mm) and the painted layers."""

    scale: float
    ear_centres: dict[str, np.ndarray]
    skin: Ellipsoid
    shells: tuple[tuple[str, float, float, float | None], ...]  # name, depth mm, HU, floor
    layers: tuple[Layer, ...]
    metal_centres: np.ndarray  # (n, 3) head frame
    soft_parts: tuple[Ellipsoid, ...] = ()  # neck and lower face, under the head's skin

    @property
    def ear_distance(self) -> float:
        """Distance between the two ear centres (mm)."""
        return float(np.linalg.norm(self.ear_centres["left"] - self.ear_centres["right"]))


def skull_base_height(y: np.ndarray, scale: float) -> np.ndarray:
    """Height (head-frame z, mm) of the cranial floor at antero-posterior position ``y``.

    Anterior fossa high, middle fossa above the ears, posterior fossa low behind them.
    """
    s = scale
    return s * (12.0 + 13.0 / (1.0 + np.exp((y / s + 40.0) / 5.0)) - 42.0 / (1.0 + np.exp(-(y / s - 18.0) / 5.0)))


# --------------------------------------------------------------------------- anatomy
def _rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    ax, ay, az = np.deg2rad(rng.uniform(-max_deg, max_deg, 3))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _ear_layers(rng: np.random.Generator, centre: np.ndarray, side: str) -> list[Layer]:
    """Petrous bone, otic capsule, labyrinth, IAC, middle ear, EAC and mastoid of one ear.

    Geometry is built for a left ear and mirrored in x for the right one, so the cochlear
    spiral has the opposite handedness on the two sides, as in a real head.
    """
    mirror = np.diag([1.0 if side == "left" else -1.0, 1.0, 1.0])
    q = _rotation(rng, 8.0)
    size = rng.normal(1.0, 0.05)

    def pt(offset: Any) -> np.ndarray:
        return centre + mirror @ (q @ np.asarray(offset, dtype=float))

    def vec(v: Any) -> np.ndarray:
        return _unit(mirror @ (q @ np.asarray(v, dtype=float)))

    d = _unit([-0.45, -0.85, -0.2])  # vestibule -> cochlea, antero-medial (left-ear frame)
    a = np.array([0.75, -0.45, -0.45])
    a = _unit(a - (a @ d) * d)  # cochlear (modiolar) axis
    e1 = -d
    e2 = np.cross(a, e1)
    vest = -1.5 * d
    modiolus = 3.0 * d

    layers: list[Layer] = []
    layers.append(Layer("petrous", Capsule(pt([12, 10, -4]), pt([-33, -26, -6]), 13.0, 6.0), rng.normal(1650, 80)))
    mastoid = Ellipsoid(pt([9, 17, -14]), np.array([9.0, 11.0, 13.0]))
    layers.append(Layer("mastoid", mastoid, rng.normal(1000, 80)))
    n_cells = int(rng.integers(15, 35))
    u = rng.normal(size=(n_cells, 3))
    u = u / np.linalg.norm(u, axis=1, keepdims=True) * rng.uniform(0, 0.85, (n_cells, 1)) ** (1 / 3)
    cells = mastoid.centre + u * mastoid.radii
    layers.append(Layer("mastoid_air", Balls(cells, rng.uniform(1.0, 3.2, n_cells)), -900.0))
    layers.append(Layer("otic_capsule", Capsule(pt(-6.5 * d), pt(4.5 * d), 7.5, 7.5), rng.normal(2000, 80)))
    # Semicircular canals: lateral (horizontal), posterior and superior, touching the vestibule.
    ridge = _unit([-0.8, -0.6, 0.0])
    canal_normals = [np.array([0.0, 0.0, 1.0]), _unit([0.6, -0.8, 0.0]), ridge]
    canal_dirs = [_unit([0.55, 0.85, 0.0]), _unit([-0.1, 0.6, -0.3]), _unit([0.0, 0.1, 1.0])]
    for name, n, v in zip(("lateral", "posterior", "superior"), canal_normals, canal_dirs):
        v = _unit(v - (v @ n) * n)
        major = 3.0 * size
        layers.append(Layer(f"canal_{name}", Torus(pt(vest + (major + 1.5) * v), vec(n), major, 0.5), 15.0))
    # Cochlea: a tapering tube on a 2.6-turn spiral, basal turn opening into the vestibule.
    theta = np.linspace(0.0, 2.6 * 2 * np.pi, 140)
    turns = theta / (2 * np.pi)
    rho = 3.7 * size * (1.0 - 0.27 * turns)
    spiral = modiolus + rho[:, None] * (np.cos(theta)[:, None] * e1 + np.sin(theta)[:, None] * e2)
    spiral = spiral + (1.6 * size * turns)[:, None] * a
    tube = np.array([pt(p) for p in spiral])
    layers.append(Layer("cochlea", Balls(tube, 1.05 * size - 0.16 * turns), rng.uniform(0, 30)))
    side_axis = np.cross(d, [0.0, 0.0, 1.0])
    vest_axes = np.column_stack([vec(d), vec(side_axis), vec(np.cross(d, side_axis))])
    layers.append(Layer("vestibule", Ellipsoid(pt(vest), np.array([3.0, 2.3, 2.3]) * size, vest_axes), rng.uniform(0, 30)))
    layers.append(Layer("iac", Capsule(pt([-3.5, -1.0, 1.5]), pt([-15, -4.5, 2.5]), 2.2, 2.4), 10.0))
    layers.append(Layer("middle_ear", Ellipsoid(pt([6.8, -1.0, 0.0]), np.array([2.0, 5.0, 6.0])), _AIR))
    layers.append(Layer("eac", Capsule(pt([9.0, 0.0, -2.0]), pt([40.0, -2.0, -5.0]), 3.5, 4.0), _AIR))
    return layers


def sample_head_anatomy(rng: np.random.Generator, settings: dict[str, Any] | None = None) -> HeadAnatomy:
    """Draw one subject's head.

    Args:
        rng: the subject's random generator.
        settings: generator settings (keys of :data:`HEAD_CT_DEFAULTS`; missing keys default).

    Returns:
        The subject's anatomy in the head frame.
    """
    cfg = {**HEAD_CT_DEFAULTS, **(settings or {})}
    s = float(rng.uniform(*cfg["head_scale"]))
    lo, hi = cfg["ear_distance_mm"]
    dist = float(np.clip(100.0 + 40.0 * (s - 1.0) + rng.normal(0, 3.0), lo, hi))
    ears = {
        "left": np.array([dist / 2, 0.0, 0.0]) + rng.normal(0, 1.2, 3),
        "right": np.array([-dist / 2, 0.0, 0.0]) + rng.normal(0, 1.2, 3),
    }
    mid = (ears["left"] + ears["right"]) / 2
    for side in SIDES:  # keep the head-frame origin at the midpoint
        ears[side] = ears[side] - mid
    skin = Ellipsoid(np.array([0.0, -8.0, 20.0]) * s, np.array([76.0, 95.0, 105.0]) * s)
    shells = (
        ("fat", 1.5, -90.0, None),
        ("muscle", 4.5, 38.0, None),
        ("outer_table", 6.5, rng.normal(2100, 80), -14.0),
        ("diploe", 8.5, rng.normal(800, 100), -12.0),
        ("inner_table", 11.0, rng.normal(2100, 80), -10.0),
        ("skull_base", 11.0, rng.normal(1300, 80), -9.0),
        ("csf", 12.5, 8.0, 0.0),
        ("grey_matter", 14.0, 38.0, 1.5),
        ("white_matter", 19.0, 27.0, 6.0),
    )
    layers: list[Layer] = []

    def add(name: str, shape: Any, hu: float) -> None:
        layers.append(Layer(name, shape, float(hu)))

    def ell(centre: Any, radii: Any) -> Ellipsoid:  # canonical head size, scaled
        return Ellipsoid(np.asarray(centre, dtype=float) * s, np.asarray(radii, dtype=float) * s)

    def tube(a: Any, b: Any, ra: float, rb: float) -> Capsule:
        return Capsule(np.asarray(a, dtype=float) * s, np.asarray(b, dtype=float) * s, ra * s, rb * s)

    def bone(mean: float) -> float:
        return float(rng.normal(mean, 80))

    add("ventricle_l", ell([7, 2, 45], [4, 20, 7]), 6)
    add("ventricle_r", ell([-7, 2, 45], [4, 20, 7]), 6)
    # Face and skull base: maxilla with sinuses, nasal cavity, nasopharynx, eyes, clivus.
    add("maxilla", ell([0, -55, -18], [36, 28, 26]), 450)
    for sx in (-1, 1):
        add("maxillary_sinus", ell([25 * sx, -57, -15], [11, 13, 15]), _AIR)
        add("eye", ell([32 * sx, -78, 28], [12, 12, 12]), 12)
    add("nasal_cavity", ell([0, -62, -5], [7, 26, 16]), _AIR)
    add("nasopharynx", ell([0, -25, -38], [12, 9, 12]), _AIR)
    add("clivus", tube([0, -14, 0], [0, 6, -38], 7.5, 5.0), bone(1450))
    for side in SIDES:
        layers.extend(_ear_layers(rng, ears[side], side))
    for side, sx in (("left", 1), ("right", -1)):
        c = ears[side]
        add("zygoma", Capsule(c + np.array([6.0 * sx, -16.0, -10.0]), np.array([45.0 * sx, -62.0, -14.0]) * s, 5.0, 6.0), bone(1500))
        condyle = c + np.array([4.0 * sx, -13.0, -5.0])  # just in front of the ear canal
        add("ramus", Capsule(condyle, np.array([44.0 * sx, -12.0, -72.0]) * s, 5.0, 6.5 * s), bone(1350))
    # Dental arches: mandible body, then upper and lower teeth.
    phi = np.deg2rad(np.linspace(200, 340, 9))
    arch = np.column_stack([24 * np.cos(phi), -55 + 26 * np.sin(phi), np.full_like(phi, -66.0)]) * s
    body = np.vstack([np.linspace(p, q, 6) for p, q in zip(arch[:-1], arch[1:])])
    add("mandible", Balls(body, np.full(len(body), 7.0 * s)), bone(1350))
    for sx, end in ((-1, arch[0]), (1, arch[-1])):
        add("mandible_angle", Capsule(end, np.array([44.0 * sx, -12.0, -72.0]) * s, 6.5 * s, 6.5 * s), bone(1350))
    phi_t = np.deg2rad(np.linspace(205, 335, 14))
    teeth = np.vstack(
        [np.column_stack([24 * np.cos(phi_t), -55 + 26 * np.sin(phi_t), np.full_like(phi_t, z)]) * s for z in (-43.0, -56.0)]
    )
    teeth = teeth[rng.random(len(teeth)) > 0.1]  # a few missing teeth
    for c in teeth:
        add("tooth", Ellipsoid(c, np.array([3.0, 3.4, 5.5]) * s), rng.normal(2700, 150))
    metal = np.zeros((0, 3))
    if rng.random() < cfg["metal_probability"]:
        metal = teeth[rng.choice(len(teeth), size=int(rng.integers(1, 4)), replace=False)]
        for c in metal:
            add("metal", Ellipsoid(c, np.array([2.4, 2.4, 2.4]) * s), rng.uniform(3000, 4000))
    # Cervical spine: spinal canal, vertebral bodies (C2-C7), laminae, spinous processes.
    add("spinal_canal", tube([0, 22, -40], [0, 26, -175], 7.0, 7.0), 25)
    for k in range(7):
        z = -48.0 - 17.0 * k
        if k > 0:
            add("vertebral_body", ell([0, 4 + k, z], [11, 9, 7]), rng.normal(1050, 60))
        add("lamina", Torus(np.array([0.0, 22.0 + k, z]) * s, np.array([0.0, 0.0, 1.0]), 10.0 * s, 2.8 * s), rng.normal(1300, 60))
        add("spinous", tube([0, 32 + k, z], [0, 48 + k, z - 6], 3.0, 2.5), rng.normal(1300, 60))
    # Calcifications / bone islands anywhere in the head.
    for _ in range(int(rng.integers(0, 4))):
        c = skin.centre + rng.uniform(-0.6, 0.6, 3) * skin.radii
        add("bone_island", Ellipsoid(c, rng.uniform(1.5, 4.5, 3)), rng.uniform(1500, 2300))
    soft_parts = (ell([0, 12, -150], [52, 50, 120]), ell([0, -45, -55], [50, 42, 38]))  # neck, lower face
    return HeadAnatomy(s, ears, skin, shells, tuple(layers), metal, soft_parts)


# --------------------------------------------------------------------------- scans
@dataclass(frozen=True)
class ScanGeometry:
    """Image grid and head pose of one scan.

    ``world = origin + direction @ (spacing * index)`` and ``world = R @ head + t``;
    ``size`` and ``spacing`` are in (i, j, k) order as in SimpleITK.
    """

    size: tuple[int, int, int]
    spacing: np.ndarray
    origin: np.ndarray
    direction: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    fov_kind: str
    direction_kind: str

    def head_to_world(self, p: np.ndarray) -> np.ndarray:
        """Map head-frame points (..., 3) to world LPS mm."""
        return p @ self.rotation.T + self.translation

    def world_to_index(self, w: np.ndarray) -> np.ndarray:
        """Continuous (i, j, k) index of world points (..., 3)."""
        return np.linalg.solve(self.direction, (np.asarray(w) - self.origin).T).T / self.spacing

    def index_to_head(self) -> tuple[np.ndarray, np.ndarray]:
        """``(A, b)`` with ``head = A @ index + b``."""
        a = self.rotation.T @ self.direction @ np.diag(self.spacing)
        return a, self.rotation.T @ (self.origin - self.translation)


def _choose(rng: np.random.Generator, mix: dict[str, float]) -> str:
    keys = sorted(mix)
    p = np.array([mix[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _direction(rng: np.random.Generator, kind: str) -> np.ndarray:
    if kind == "identity":
        return np.eye(3)
    if kind == "flipped":
        return np.diag([-1.0, -1.0, 1.0])
    axis = _unit(rng.normal(size=3))
    ang = np.deg2rad(rng.uniform(8.0, 25.0)) * rng.choice([-1, 1])
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(ang) * k + (1 - np.cos(ang)) * k @ k


def sample_scan_geometry(
    rng: np.random.Generator, anatomy: HeadAnatomy, settings: dict[str, Any] | None = None, fov_kind: str | None = None
) -> ScanGeometry:
    """Draw a pose, field of view, spacing and direction for one scan of ``anatomy``.

    FOV kinds: ``both`` (both temporal bones), ``left``/``right`` (a lateralised temporal
    bone scan at fine spacing), ``vertex`` (brain above the ears) and ``jaw`` (jaw and neck
    below the ears). Spacing is drawn from the allowed ranges; if the grid exceeds
    ``max_voxels`` the in-plane spacing is raised, then the slice spacing (both within
    their ranges), and only then the field of view is shrunk: its slab thickness first
    (down to 30 mm), then its in-plane extent.

    Args:
        rng: the scan's random generator.
        anatomy: the subject.
        settings: generator settings (see :data:`HEAD_CT_DEFAULTS`).
        fov_kind: force a kind instead of drawing one from ``fov_mix`` (whose keys are
            ``both``, ``one`` (left or right) and ``none`` (vertex or jaw)).

    Returns:
        The scan geometry.
    """
    cfg = {**HEAD_CT_DEFAULTS, **(settings or {})}
    kind = fov_kind or _choose(rng, cfg["fov_mix"])
    if kind == "one":
        kind = SIDES[int(rng.integers(2))]
    elif kind == "none":
        kind = ("vertex", "jaw")[int(rng.integers(2))]
    ip_lo, ip_hi = cfg["inplane_spacing_mm"]
    sl_lo, sl_hi = cfg["slice_spacing_mm"]
    ears = anatomy.ear_centres
    s = anatomy.scale
    if kind == "both":
        fov = np.array([rng.uniform(150, 200), rng.uniform(150, 210), rng.uniform(50, 110)])
        centre = np.array([0.0, rng.uniform(-10, 10), rng.uniform(-1, 1)])  # z: scaled below
        ip, sl = rng.uniform(max(ip_lo, 0.4), ip_hi), rng.uniform(sl_lo, sl_hi)
    elif kind in SIDES:
        fov = np.array([rng.uniform(55, 85), rng.uniform(55, 85), rng.uniform(40, 70)])
        centre = ears[kind] + rng.normal(0, 6.0, 3)
        ip, sl = rng.uniform(ip_lo, min(ip_hi, 0.6)), rng.uniform(sl_lo, min(sl_hi, 1.25))
    elif kind == "vertex":
        fov = np.array([rng.uniform(160, 200), rng.uniform(170, 210), rng.uniform(40, 90)])
        centre = np.array([0.0, -8.0 * s, fov[2] / 2 + rng.uniform(10, 40)])
        ip, sl = rng.uniform(max(ip_lo, 0.5), ip_hi), rng.uniform(max(sl_lo, 1.0), sl_hi)
    elif kind == "jaw":
        fov = np.array([rng.uniform(130, 180), rng.uniform(130, 180), rng.uniform(50, 100)])
        centre = np.array([0.0, -25.0 * s, -fov[2] / 2 - rng.uniform(10, 40)])
        ip, sl = rng.uniform(max(ip_lo, 0.5), ip_hi), rng.uniform(max(sl_lo, 1.0), sl_hi)
    else:
        raise ValueError(f"unknown field-of-view kind {kind!r}")
    spacing = np.array([ip, ip, sl])
    cap = float(cfg["max_voxels"])
    n = np.ceil(fov / spacing)
    if n.prod() > cap:
        spacing[:2] = np.minimum(ip_hi, spacing[:2] * np.sqrt(n.prod() / cap))
        n = np.ceil(fov / spacing)
    if n.prod() > cap:
        spacing[2] = min(sl_hi, spacing[2] * n.prod() / cap)
        n = np.ceil(fov / spacing)
    if n.prod() > cap:  # shrink the slab first (down to 30 mm), then the in-plane FOV
        fov[2] = max(fov[2] * cap / n.prod(), min(fov[2], 30.0))
        n = np.ceil(fov / spacing)
    if n.prod() > cap:
        fov[:2] = fov[:2] * np.sqrt(cap / n.prod())
        n = np.floor(fov / spacing)
    size = tuple(int(v) for v in np.maximum(n, 8))
    if kind == "both":  # slab centre within 12 mm of the ears; a rotated pose may still cut one off
        centre[2] *= max(0.0, min(12.0, fov[2] / 2 - 12.0))
    rotation = _rotation(rng, float(cfg["max_rotation_deg"]))
    translation = np.array([rng.uniform(-20, 20), rng.uniform(-40, 40), rng.uniform(-250, 150)])
    direction_kind = _choose(rng, cfg["direction_mix"])
    direction = _direction(rng, direction_kind)
    centre_world = rotation @ centre + translation
    extent = direction @ (spacing * (np.array(size) - 1))
    origin = centre_world - extent / 2
    return ScanGeometry(size, spacing, origin, direction, rotation, translation, kind, direction_kind)


# --------------------------------------------------------------------------- rendering
class _Canvas:
    """A volume (k, j, i) being painted, with the head-frame coordinates of its voxels."""

    def __init__(self, geometry: ScanGeometry, edge_mm: float) -> None:
        ni, nj, nk = geometry.size
        self.shape = (nk, nj, ni)
        self.vol = np.full(self.shape, _AIR, dtype=np.float32)
        a, b = geometry.index_to_head()
        self.a_inv, self.b = np.linalg.inv(a), b
        idx = [np.arange(n, dtype=np.float32) for n in (ni, nj, nk)]
        grids = (idx[0][None, None, :], idx[1][None, :, None], idx[2][:, None, None])
        self.xyz = [
            (grids[0] * np.float32(a[r, 0]) + grids[1] * np.float32(a[r, 1]) + (grids[2] * np.float32(a[r, 2]) + np.float32(b[r])))
            for r in range(3)
        ]
        self.edge = np.float32(edge_mm)
        self._base: np.ndarray | None = None

    def region(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice] | None:
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        ijk = (corners - self.b) @ self.a_inv.T
        first = np.maximum(np.floor(ijk.min(axis=0)) - 1, 0).astype(int)
        last = np.minimum(np.ceil(ijk.max(axis=0)) + 2, np.array(self.shape[::-1])).astype(int)
        if np.any(last <= first):
            return None
        return (slice(first[2], last[2]), slice(first[1], last[1]), slice(first[0], last[0]))

    def paint(self, sl: tuple[slice, ...], d: np.ndarray, hu: float) -> None:
        """Blend ``hu`` into ``vol[sl]`` with coverage from distance ``d`` (overwritten)."""
        alpha = np.multiply(d, np.float32(-1.0) / self.edge, out=d)
        alpha += np.float32(0.5)
        np.clip(alpha, 0.0, 1.0, out=alpha)
        view = self.vol[sl]
        step = np.subtract(np.float32(hu), view)
        step *= alpha
        view += step


def render_head_ct(
    anatomy: HeadAnatomy,
    geometry: ScanGeometry,
    rng: np.random.Generator | None = None,
    *,
    noise_sd: float = 0.0,
    hu_offset: float = 0.0,
    blur_mm: float = 0.4,
) -> np.ndarray:
    """Render the scan as a float32 array (k, j, i) of CT numbers.

    Args:
        anatomy: the subject.
        geometry: grid and pose.
        rng: generator for noise and metal streaks (``None``: noise-free, no streaks).
        noise_sd: standard deviation of white Gaussian noise (HU).
        hu_offset: calibration offset added everywhere (HU).
        blur_mm: Gaussian blur (mm, in-plane) for the point-spread; along the slices the
            blur is at least 0.4 slice spacings (slice profile).

    Returns:
        The volume in HU, ``array[k, j, i]``.
    """
    canvas = _Canvas(geometry, edge_mm=0.5 * float(geometry.spacing.min()))
    x, y, z = canvas.xyz
    skin_d = anatomy.skin.sdf(x, y, z)
    base = skull_base_height(y, anatomy.scale).astype(np.float32)
    everywhere = (slice(None),) * 3
    body_d = skin_d.copy()  # skin of head, neck and lower face together
    for part in anatomy.soft_parts:
        sl = canvas.region(*part.bounds())
        if sl is not None:
            np.minimum(body_d[sl], part.sdf(x[sl], y[sl], z[sl]), out=body_d[sl])
    canvas.paint(everywhere, body_d.copy(), 40.0)
    z_above = z - base  # height above the cranial floor
    for name, depth, hu, floor in anatomy.shells:
        d = (body_d if name in ("fat", "muscle") else skin_d) + np.float32(depth)
        if floor is not None:
            np.maximum(d, np.float32(floor) - z_above, out=d)
        if name == "skull_base":  # a slab: only the part under the cranial floor
            np.maximum(d, z_above, out=d)
        canvas.paint(everywhere, d, hu)
    del skin_d, body_d, base, z_above
    for layer in anatomy.layers:
        sl = canvas.region(*layer.shape.bounds())
        if sl is None:
            continue
        canvas.paint(sl, layer.shape.sdf(x[sl], y[sl], z[sl]), layer.hu)
    vol = canvas.vol
    del canvas
    if rng is not None and len(anatomy.metal_centres):
        _metal_streaks(vol, anatomy, geometry, rng)
    sigma = [0.4, blur_mm / geometry.spacing[1], blur_mm / geometry.spacing[0]]
    vol = ndimage.gaussian_filter(vol, sigma=sigma, truncate=3.0)
    if rng is not None and noise_sd > 0:
        vol += rng.standard_normal(vol.shape, dtype=np.float32) * np.float32(noise_sd)
    if hu_offset:
        vol += np.float32(hu_offset)
    return vol


def _metal_streaks(vol: np.ndarray, anatomy: HeadAnatomy, geometry: ScanGeometry, rng: np.random.Generator) -> None:
    """Add bright/dark streaks radiating from metal in the acquisition (i, j) planes."""
    nk, nj, ni = vol.shape
    sp = geometry.spacing
    for c in anatomy.metal_centres:
        ijk = geometry.world_to_index(geometry.head_to_world(c))
        reach = int(np.ceil(25.0 / sp[2]))
        k0, k1 = max(int(ijk[2]) - reach, 0), min(int(ijk[2]) + reach + 1, nk)
        if k1 <= k0:
            continue
        lobes = int(rng.integers(5, 12))
        phase = rng.uniform(0, 2 * np.pi)
        amp = rng.uniform(250, 700)
        dj = (np.arange(nj) - ijk[1])[:, None] * sp[1]
        di = (np.arange(ni) - ijk[0])[None, :] * sp[0]
        r = np.sqrt(di * di + dj * dj)
        wave = np.cos(lobes * np.arctan2(dj, di) + phase)
        pattern = (amp * np.sign(wave) * np.abs(wave) ** 6 / (1.0 + r / 25.0) * (r > 3.0)).astype(np.float32)
        dz = (np.arange(k0, k1) - ijk[2]) * sp[2]
        vol[k0:k1] += np.exp(-np.abs(dz) / 8.0).astype(np.float32)[:, None, None] * pattern


def to_image(volume: np.ndarray, geometry: ScanGeometry) -> sitk.Image:
    """Round to int16 HU (clipped to [-1024, 8000]) with the scan geometry attached."""
    arr = np.clip(np.rint(volume), -1024, 8000).astype(np.int16)
    image = sitk.GetImageFromArray(arr, isVector=False)
    image.SetSpacing([float(v) for v in geometry.spacing])
    image.SetOrigin([float(v) for v in geometry.origin])
    image.SetDirection([float(v) for v in geometry.direction.ravel()])
    return image


def ear_ground_truth(anatomy: HeadAnatomy, geometry: ScanGeometry, margin_mm: float = 5.0) -> dict[str, dict[str, Any]]:
    """Each ear's world position (LPS mm) and whether it is present in the scan.

    Present = the centre lies inside the grid at least ``margin_mm`` from its border (the
    box spanned by the voxel centres), measured along each image axis.
    """
    out: dict[str, dict[str, Any]] = {}
    last = np.array(geometry.size) - 1
    for side in SIDES:
        world = geometry.head_to_world(anatomy.ear_centres[side])
        ijk = geometry.world_to_index(world)
        border = float(np.min(np.minimum(ijk, last - ijk) * geometry.spacing))
        out[side] = {
            "present": bool(border >= margin_mm),
            "position": [float(v) for v in world],
            "index": [float(v) for v in ijk],
            "distance_to_border_mm": border,
        }
    return out


#: The ears each field-of-view kind holds; a drawn pose that does not match is drawn again.
_EARS_OF_KIND = {"both": {"left", "right"}, "left": {"left"}, "right": {"right"}, "vertex": set(), "jaw": set()}
#: Draws of a pose before a scan keeps one whose field of view misses its kind (the ground
#: truth is computed from the geometry either way, so it stays right).
MAX_POSE_REDRAWS = 50


def ears_in_view(anatomy: HeadAnatomy, geometry: ScanGeometry, margin_mm: float) -> set[str]:
    """The sides whose ear :func:`ear_ground_truth` counts as present in this geometry."""
    return {side for side, truth in ear_ground_truth(anatomy, geometry, margin_mm).items() if truth["present"]}


def draw_scan_geometry(
    rng: np.random.Generator, anatomy: HeadAnatomy, settings: dict[str, Any] | None = None, fov_kind: str | None = None
) -> ScanGeometry:
    """:func:`sample_scan_geometry`, drawn again (same kind) while its field of view does not
    hold the ears its kind names, up to :data:`MAX_POSE_REDRAWS` times."""
    cfg = {**HEAD_CT_DEFAULTS, **(settings or {})}
    geometry = sample_scan_geometry(rng, anatomy, cfg, fov_kind)
    for _ in range(MAX_POSE_REDRAWS):
        if ears_in_view(anatomy, geometry, cfg["presence_margin_mm"]) == _EARS_OF_KIND[geometry.fov_kind]:
            break
        geometry = sample_scan_geometry(rng, anatomy, cfg, geometry.fov_kind)
    return geometry


@dataclass
class HeadScan:
    """One rendered scan: the image (int16 HU), the ground truth and what was drawn."""

    image: sitk.Image
    ears: dict[str, dict[str, Any]]
    info: dict[str, Any]


def generate_head_scan(
    rng: np.random.Generator,
    anatomy: HeadAnatomy,
    settings: dict[str, Any] | None = None,
    fov_kind: str | None = None,
) -> HeadScan:
    """Draw a geometry and acquisition for ``anatomy`` and render it.

    A pose whose field of view does not hold the ears its kind promises (a ``both`` scan
    rotated so that one ear leaves a thin slab) is drawn again, so the kind recorded in the
    ground truth and the series description says what the scan shows.

    Args:
        rng: the scan's random generator.
        anatomy: the subject.
        settings: generator settings (see :data:`HEAD_CT_DEFAULTS`).
        fov_kind: force ``both``, ``left``, ``right``, ``vertex``, ``jaw`` or ``one``.

    Returns:
        The scan with its ground truth.
    """
    cfg = {**HEAD_CT_DEFAULTS, **(settings or {})}
    geometry = draw_scan_geometry(rng, anatomy, cfg, fov_kind)
    noise = float(rng.uniform(*cfg["noise_sd_hu"]))
    offset = float(rng.uniform(-cfg["hu_offset"], cfg["hu_offset"]))
    blur = float(rng.uniform(0.3, 0.6))
    vol = render_head_ct(anatomy, geometry, rng, noise_sd=noise, hu_offset=offset, blur_mm=blur)
    info = {
        "fov_kind": geometry.fov_kind,
        "direction_kind": geometry.direction_kind,
        "size": list(geometry.size),
        "spacing": geometry.spacing.tolist(),
        "rotation": geometry.rotation.tolist(),
        "translation": geometry.translation.tolist(),
        "noise_sd_hu": noise,
        "hu_offset": offset,
        "blur_mm": blur,
        "metal": bool(len(anatomy.metal_centres)),
        "head_scale": anatomy.scale,
        "ear_distance_mm": anatomy.ear_distance,
    }
    return HeadScan(to_image(vol, geometry), ear_ground_truth(anatomy, geometry, cfg["presence_margin_mm"]), info)
