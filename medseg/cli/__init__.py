"""The ``medseg`` command line: one sub-command per pipeline stage."""
