"""Inner-ear detection and localisation in head CT (volume-to-volume regression, FP suppression, shape prior)."""

from medseg.ears.config import EarsConfig, from_config

__all__ = ["EarsConfig", "from_config"]
