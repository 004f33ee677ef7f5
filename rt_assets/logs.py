"""Console logging for the rt commands and worker processes (no heavy imports)."""

import logging

# Libraries that log their internals at INFO; progress lines would drown in them.
NOISY = ("numba", "pytensor", "arviz", "matplotlib", "h5py", "alembic")


def configure_logging() -> None:
    """INFO with timestamps on the console; the noisy libraries at WARNING."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
