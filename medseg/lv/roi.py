"""Region of interest around the heart, found from the image alone (never from labels).

The beating heart is what changes over the cardiac cycle: the first temporal harmonic of
every pixel (amplitude of the component at the heart rate) is large around the ventricles
and small in static tissue. The peak of its heavily smoothed (about 30 mm), centre-weighted
map gives the crop centre. On the Sunnybrook studies it lands 16-41 mm from the LV centre
(it sits between LV and RV), so the crop must be wide (about 190 mm). Each
slice is then resampled to a fixed pixel spacing and cropped to a fixed size, keeping the
mapping back to the input grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage


@dataclass(frozen=True)
class Roi:
    """A square crop of a cine grid.

    Attributes:
        centre: (row, col) of the crop centre in input pixel coordinates.
        input_spacing: (row, col) input pixel spacing, mm.
        input_shape: (rows, cols) of the input frames.
        spacing: crop pixel spacing, mm.
        size: crop side in pixels.
    """

    centre: tuple[float, float]
    input_spacing: tuple[float, float]
    input_shape: tuple[int, int]
    spacing: float
    size: int

    def _crop_grid(self) -> torch.Tensor:
        offsets = (np.arange(self.size) - (self.size - 1) / 2.0) * self.spacing
        rows = self.centre[0] + offsets / self.input_spacing[0]
        cols = self.centre[1] + offsets / self.input_spacing[1]
        ny = 2.0 * rows / max(self.input_shape[0] - 1, 1) - 1.0
        nx = 2.0 * cols / max(self.input_shape[1] - 1, 1) - 1.0
        gy, gx = np.meshgrid(ny, nx, indexing="ij")
        return torch.from_numpy(np.stack([gx, gy], axis=-1)[None].astype(np.float32))

    def _input_offsets(self) -> tuple[np.ndarray, np.ndarray]:
        """Every input row and column as an offset from the crop centre, in crop pixels."""
        rows = (np.arange(self.input_shape[0]) - self.centre[0]) * self.input_spacing[0] / self.spacing
        cols = (np.arange(self.input_shape[1]) - self.centre[1]) * self.input_spacing[1] / self.spacing
        return rows, cols

    def _input_grid(self) -> torch.Tensor:
        rows, cols = self._input_offsets()
        half = (self.size - 1) / 2.0
        ny, nx = (rows + half) / half - 1.0, (cols + half) / half - 1.0
        gy, gx = np.meshgrid(ny, nx, indexing="ij")
        return torch.from_numpy(np.stack([gx, gy], axis=-1)[None].astype(np.float32))

    def crop(self, frames: np.ndarray, nearest: bool = False) -> np.ndarray:
        """Resample (..., rows, cols) frames into (..., size, size) crops.

        Args:
            frames: images (bilinear) or labels (``nearest=True``; outside -> 255).
            nearest: nearest-neighbour sampling for labels.
        """
        frames = np.asarray(frames)
        lead = frames.shape[:-2]
        flat = torch.from_numpy(frames.reshape(1, -1, *frames.shape[-2:]).astype(np.float32))
        if nearest:
            flat = flat + 1.0
        grid = self._crop_grid()
        out = F.grid_sample(flat, grid, mode="nearest" if nearest else "bilinear", padding_mode="zeros", align_corners=True)
        out = out[0].numpy()
        if nearest:
            out = np.where(out == 0, 255, out - 1).astype(np.uint8)
        return out.reshape(*lead, self.size, self.size)

    def input_box(self) -> tuple[slice, slice]:
        """Rows and columns of the input grid that reach the crop (with a pixel to spare).

        Bilinear sampling with zero padding gives exactly zero outside this box, so the
        crop's values need mapping back only inside it.
        """

        def span(offsets: np.ndarray) -> slice:
            inside = np.flatnonzero((offsets > -2.0) & (offsets < self.size + 1.0))
            return slice(int(inside[0]), int(inside[-1]) + 1) if inside.size else slice(0, 0)

        half = (self.size - 1) / 2.0
        rows, cols = self._input_offsets()
        return span(rows + half), span(cols + half)

    def _uncrop_inside(self, probabilities: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, tuple[slice, slice]]:
        """Probabilities mapped back inside :meth:`input_box`, and the box."""
        probs = torch.as_tensor(probabilities, dtype=torch.float32)
        box = self.input_box()
        grid = self._input_grid()[:, box[0], box[1]].expand(probs.shape[0], -1, -1, -1)
        inside = F.grid_sample(probs, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        inside[:, 0] += (1.0 - inside.sum(dim=1)).clamp_min(0.0)
        return inside, box

    def uncrop_probabilities(self, probabilities: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Map (N, K, size, size) class probabilities back to the (N, K, rows, cols) input grid.

        Outside the crop everything is background (class 0).
        """
        inside, (rows, cols) = self._uncrop_inside(probabilities)
        out = inside.new_zeros(inside.shape[:2] + self.input_shape)
        out[:, 0] = 1.0
        out[:, :, rows, cols] = inside
        return out

    def uncrop_labels(self, probabilities: np.ndarray | torch.Tensor) -> np.ndarray:
        """The most probable class of every input pixel, from (N, K, size, size) probabilities.

        Equal to ``uncrop_probabilities(probabilities).argmax(dim=1)`` (the first class on
        ties), as (N, rows, cols) uint8; only the crop's box is resampled.
        """
        inside, (rows, cols) = self._uncrop_inside(probabilities)
        labels = np.zeros((inside.shape[0],) + self.input_shape, dtype=np.uint8)
        # max(dim=1) rather than argmax(dim=1): same first-maximum index, ~10x faster on CPU
        labels[:, rows, cols] = inside.max(dim=1).indices.numpy()
        return labels


def motion_map(frames: np.ndarray) -> np.ndarray:
    """Amplitude of the first temporal harmonic, averaged over slices.

    Args:
        frames: (slices, phases, rows, cols) cine frames.

    Returns:
        (rows, cols) map in the frames' intensity units, largest where intensity cycles
        with the heart beat.
    """
    frames = np.asarray(frames, dtype=np.float32)
    phases = frames.shape[1]
    if phases <= 2:
        return np.abs(frames[:, 1] - frames[:, 0]).mean(axis=0)
    # |DFT bin 1| from two weighted sums over the phases (a full FFT is ~3x slower)
    angle = 2.0 * np.pi * np.arange(phases) / phases
    real = np.tensordot(np.cos(angle).astype(np.float32), frames, axes=([0], [1]))
    imag = np.tensordot(np.sin(angle).astype(np.float32), frames, axes=([0], [1]))
    return np.hypot(real, imag).mean(axis=0)


def locate_heart(frames: np.ndarray, spacing: tuple[float, float], smooth_mm: float = 30.0) -> tuple[float, float]:
    """Centre of the beating heart in pixel coordinates.

    Args:
        frames: (slices, phases, rows, cols) cine frames.
        spacing: (row, col) pixel spacing, mm.
        smooth_mm: Gaussian smoothing of the motion map, mm.

    Returns:
        (row, col) of the centre.
    """
    spacing_arr = np.asarray(spacing, dtype=np.float64)
    motion = ndimage.gaussian_filter(motion_map(frames), sigma=smooth_mm / spacing_arr)
    rows, cols = motion.shape
    rr, cc = np.mgrid[:rows, :cols].astype(np.float64)
    sigma = 0.3 * np.array([rows, cols])
    prior = np.exp(-(((rr - rows / 2) / sigma[0]) ** 2 + ((cc - cols / 2) / sigma[1]) ** 2) / 2)
    weighted = motion * prior
    peak = np.unravel_index(np.argmax(weighted), weighted.shape)
    return float(peak[0]), float(peak[1])


def make_roi(
    frames: np.ndarray, spacing: tuple[float, float], crop_spacing: float, crop_size: int, smooth_mm: float = 30.0
) -> Roi:
    """Locate the heart and describe the crop around it.

    Args:
        frames: (slices, phases, rows, cols) cine frames.
        spacing: (row, col) input pixel spacing, mm.
        crop_spacing: crop pixel spacing, mm.
        crop_size: crop side in pixels.
        smooth_mm: smoothing of the motion map.
    """
    centre = locate_heart(frames, spacing, smooth_mm)
    return Roi(
        centre=centre,
        input_spacing=(float(spacing[0]), float(spacing[1])),
        input_shape=(int(frames.shape[-2]), int(frames.shape[-1])),
        spacing=float(crop_spacing),
        size=int(crop_size),
    )


def normalise_intensity(frames: np.ndarray) -> np.ndarray:
    """Scale a crop sequence to about [0, 1] by its 1st and 99th percentiles (float32)."""
    frames = np.asarray(frames, dtype=np.float32)
    low, high = np.percentile(frames, [1.0, 99.0])
    return np.clip((frames - low) / max(high - low, 1e-6), -0.5, 1.5).astype(np.float32)
