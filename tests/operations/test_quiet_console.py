"""`make demo`'s two commands print progress and results only: no warning, no Dagster events.

Both run as subprocesses, as `make demo` runs them, on a tmp lake and DAGSTER_HOME; a
fresh cache folder makes ArviZ's once-a-day notice due, so its filter is tested too.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NOISE = ("Warning", "DEBUG", "Traceback", " - dagster - ")


def test_the_demos_print_no_warning_and_no_event_stream(tmp_path):
    env = {
        **os.environ,
        "LAKE_URL": str(tmp_path / "lake"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "RT_SAMPLER_PRESET": "fast",
    }
    for name in ("COVID_SOURCE", "WAREHOUSE_URL", "PYTHONWARNINGS"):
        env.pop(name, None)
    outputs = {}
    for module, args in [("rt_assets.demo", ["--states", "VT"]), ("lake_assets.demo", [])]:
        done = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, done.stdout
        outputs[module] = done.stdout
    for module, text in outputs.items():
        for noise in NOISE:
            assert noise not in text, f"{module} printed {noise!r}:\n{text}"
    assert "published CSV:" in outputs["rt_assets.demo"]
    assert "warehouse " in outputs["lake_assets.demo"]
