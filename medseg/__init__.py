"""medseg: inner-ear localisation in head CT and LV myocardium segmentation in cine MR."""

__version__ = "0.1.0"
