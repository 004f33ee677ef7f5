"""Assets of this code location (filled in by the pipeline work)."""
