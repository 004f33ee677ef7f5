"""The windowed-scan renewal of benchmarks/renewal_control.py computes what the Op does."""

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import Mode

from benchmarks import renewal_control as rc
from rt_assets.model import generation_time
from rt_assets.model.kernels import renewal

N_DAYS = 30  # longer than the 19-day window, so the window fills up


def test_buffered_scan_matches_the_op_and_its_gradient():
    # window_buf only: window_taps's gradient graph takes about a minute to rewrite,
    # and the benchmark checks both against the Op (np.allclose) before it times them.
    r, seed, y_bar = pt.dvector("r"), pt.dvector("seed"), pt.dvector("y_bar")
    gt = generation_time()
    # Python thunks: no C or numba compilation; the benchmark compiles with both.
    python_only = Mode(linker="py", optimizer="fast_compile")

    def compiled(y):
        return pytensor.function(
            [r, seed, y_bar], [y, *pt.grad(pt.dot(y, y_bar), [r, seed])], mode=python_only
        )

    scan_fn = compiled(rc.buffered_renewal(r, seed, gt, N_DAYS))
    op_fn = compiled(renewal(r, seed, pt.constant(gt)))
    rng = np.random.default_rng(14)
    point = (rng.uniform(0.7, 1.4, N_DAYS), np.array([0.02]), rng.normal(size=N_DAYS))
    for got, want in zip(scan_fn(*point), op_fn(*point), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10)
