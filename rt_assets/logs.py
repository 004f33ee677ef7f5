"""Console logging for the rt commands and worker processes (no heavy imports)."""

import logging
import warnings

# Libraries that log their internals at INFO; progress lines would drown in them.
NOISY = ("numba", "pytensor", "arviz", "matplotlib", "h5py", "alembic")


def configure_logging(level: int = logging.INFO) -> None:
    """``level`` with timestamps on the console; the noisy libraries at WARNING or above.

    The commands with their own progress display (``rt_assets.daily``, the demo) pass
    WARNING: the console then shows their progress and results, and Dagster's event
    stream stays in each run's logs (see ``dagster_console_level``).
    """
    logging.basicConfig(level=level, format="%(asctime)s %(name)s: %(message)s")
    quiet_model_compilation()
    for name in NOISY:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def dagster_console_level() -> str:
    """The log level of Dagster's console logger for runs started in this process.

    Follows the process's logging: at INFO (benchmarks, tests) step logs show on the
    console as before; in a quiet process none do: every event is still in the run's logs
    (the UI), and ``run_daily`` reports failures itself.
    """
    # Dagster's console logger defaults to DEBUG: step plumbing would drown everything.
    return "INFO" if logging.getLogger().getEffectiveLevel() <= logging.INFO else "CRITICAL"


class _SkippedRewriteFilter(logging.Filter):
    """Drop PyTensor's 4-record ERROR report of a failed ``local_subtensor_merge``.

    PyTensor (2.38, and 3.3 as ``local_subtensor_merge_slice``) tries that graph rewrite on
    an index of the Gaussian random walk's log-density of a long series (352 days and more),
    overflows an int8 constant and skips the rewrite: the graph stays
    correct, but each fit printed ~20 lines of traceback at ERROR. Other rewrite failures
    are left alone.
    """

    def __init__(self) -> None:
        super().__init__()
        self._dropping = 0

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("Rewrite failure due to: local_subtensor_merge"):
            self._dropping = 3  # then "node: ...", "TRACEBACK:", the traceback
            return False
        if self._dropping:
            self._dropping -= 1
            return False
        return True


_SKIPPED_REWRITE_FILTER = _SkippedRewriteFilter()


def quiet_model_compilation() -> None:
    """Silence two harmless reports of compiling the rt model; idempotent.

    Called where a process that fits the model starts (the rt assets module, the commands,
    the benchmarks), not by the pure model package on import.
    """
    # PyTensor's C backend warns that it found no BLAS; the model compiles with numba and
    # uses no BLAS operation, so the warning is noise in every step's log.
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")
    # addFilter ignores a filter already installed: one instance, installed once.
    logging.getLogger("pytensor.graph.rewriting.basic").addFilter(_SKIPPED_REWRITE_FILTER)
