"""Jobs of this code location."""

JOBS: list = []
