"""Study-level and per-case reports."""
