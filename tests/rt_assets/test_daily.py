"""`python -m rt_assets.daily` as a person runs it: a subprocess on a tmp lake and home.

Its stdout is a pipe here, so the progress comes as one line per event.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from resources.cpus import usable_cpus
from rt_assets.daily import parse_states
from rt_assets.model import chain_threads, get_preset

ROOT = Path(__file__).resolve().parents[2]
DATE = "2020-05-15"


def run_command(
    args: list[str], tmp_path: Path, timeout: int = 900, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        **(extra_env or {}),
        "LAKE_URL": str(tmp_path / "lake"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        # ArviZ warns once a day per cache folder: a fresh one shows whether it is filtered.
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    env.pop("COVID_SOURCE", None)
    env.pop("RT_SAMPLER_PRESET", None)
    env.pop("RT_SAMPLER_CORES", None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_a_day_for_two_states_prints_progress_summary_and_paths(tmp_path):
    done = run_command(
        ["-m", "rt_assets.daily", "--date", DATE, "--states", "VT,NH", "--parallel", "2",
         "--preset", "fast"],
        tmp_path,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    lines = out.splitlines()
    assert lines[0] == f"rt run {DATE}: 2 states, preset fast, 2 at a time"
    progress = [line for line in lines if re.match(r"\[\s*\d+[hms]", line)]
    # Line by line (no terminal): phases, each state's start and end, with counts.
    assert re.search(r"\] phase 1/3: snapshot of the source for 2020-05-15$", progress[0])
    # Each state's chains on its share of the CPUs (one thread each on 2 CPUs).
    threads = chain_threads(get_preset("fast").chains, usable_cpus(), 2)
    sampling = f"{threads} thread{'s' if threads > 1 else ''}"
    assert progress[1].endswith(
        f"] phase 2/3: inference for 2 states, 2 at a time, each state's chains on {sampling}"
    ), progress[1]
    for state in ("VT", "NH"):
        assert any(f"] {state} started | " in line for line in progress), out
        assert any(re.search(rf"\] {state} done in \d+", line) for line in progress), out
    assert re.search(r"\] [A-Z]{2} done in \S+ \| 1/2 states done, 1 running", out)
    assert re.search(r"\] [A-Z]{2} done in \S+ \| 2/2 states done \| \S+ elapsed$", out, re.M)
    assert re.search(r"\] phase 3/3 finished: published$", progress[-1])
    # The summary: each state's latest Rt, then where the outputs are.
    for state in ("NH", "VT"):
        assert re.search(rf"^  {state}\s+2020-05-14  \d\.\d\d \[\d\.\d\d, \d\.\d\d\]", out, re.M)
    lake = tmp_path / "lake"
    for label, path in [
        ("published CSV", lake / f"rt/published_csv/{DATE}.csv"),
        ("published msgpack", lake / f"rt/published_msgpack/{DATE}.msgpack"),
        ("web page", lake / f"rt/site/{DATE}/index.html"),
    ]:
        assert re.search(rf"^{label}:\s+{re.escape(str(path))}$", out, re.M), label
        assert path.is_file(), path
    # A quiet console: progress and results only.
    combined = out + done.stderr
    for noise in ("Warning", "DEBUG", "Traceback", " - dagster - "):
        assert noise not in combined, noise


def test_an_unknown_state_code_is_named_without_a_traceback(tmp_path):
    done = run_command(
        ["-m", "rt_assets.daily", "--date", DATE, "--states", "VT,XX,ny"], tmp_path, 300
    )
    assert done.returncode == 2
    assert "unknown state code XX:" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "lake").exists()


@pytest.mark.slow
def test_a_date_past_the_run_dates_is_refused_naming_them(tmp_path):
    done = run_command(
        ["-m", "rt_assets.daily", "--date", "2021-03-09", "--states", "VT"], tmp_path, 300
    )
    assert done.returncode == 2
    assert "run date 2021-03-09 is not a partition of rt" in done.stderr
    assert "run dates 2020-03-01 to 2021-03-08: COVID_SOURCE_LAST_DATE" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.slow
def test_a_date_outside_the_source_says_so_without_a_traceback(tmp_path):
    # Open-ended run dates (a live source's setting) over the bundled archive.
    done = run_command(
        ["-m", "rt_assets.daily", "--date", "2021-06-01", "--states", "VT"],
        tmp_path,
        600,
        extra_env={"COVID_SOURCE_LAST_DATE": "open"},
    )
    assert done.returncode == 1
    assert "not run: counts failed: run date 2021-06-01 is outside the coverage" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_states_are_all_or_a_list_in_the_order_given():
    known = ["AK", "AL", "NY", "VT"]
    assert parse_states("all", known) == known
    assert parse_states(" vt, NY,vt ", known) == ["VT", "NY"]
    with pytest.raises(ValueError, match="unknown state codes XX, ZZ"):
        parse_states("VT,XX,ZZ", known)
    with pytest.raises(ValueError, match="no state given"):
        parse_states(" , ", known)
