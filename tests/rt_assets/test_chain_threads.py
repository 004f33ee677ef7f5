"""Threads for one fit's chains (``rt_assets.model.chain_threads``) and the daily run's
choice of them for its workers (``rt_assets.pipeline.worker_threads``)."""

import pytest

from rt_assets.model import chain_threads
from rt_assets.pipeline import sampler_config, worker_threads


@pytest.mark.parametrize(
    ("chains", "cpus", "fits", "threads"),
    [
        (4, 2, 2, 1),  # the daily run on a 2-core laptop: one thread per state
        (4, 2, 1, 2),  # one state alone on 2 cores
        (4, 16, 2, 4),  # never more threads than chains
        (4, 1, 2, 1),  # never fewer than one
        (2, 8, 3, 2),
        (4, 4, 0, 4),  # no count of fits: the fit has the machine
    ],
)
def test_chain_threads_share_the_cpus(chains, cpus, fits, threads):
    assert chain_threads(chains, cpus, fits) == threads


def test_worker_threads_follow_the_preset_and_the_setting(monkeypatch):
    monkeypatch.delenv("RT_SAMPLER_CORES", raising=False)
    monkeypatch.setenv("RT_SAMPLER_PRESET", "full")
    assert worker_threads(None, 2, cpus=2) == 1
    assert worker_threads(None, 2, cpus=16) == 4  # full: 4 chains
    assert worker_threads("fast", 2, cpus=16) == 2  # fast: 2 chains
    assert worker_threads(None, 1, cpus=2) is None  # one state at a time: the default
    assert worker_threads("no-such-preset", 2, cpus=2) is None  # the step says why
    monkeypatch.setenv("RT_SAMPLER_CORES", "3")
    assert worker_threads(None, 2, cpus=2) is None  # the person's choice stands


def test_sampler_config_sets_only_what_is_given():
    assert sampler_config(None) == {}
    assert sampler_config("full") == {"resources": {"rt_sampler": {"config": {"preset": "full"}}}}
    assert sampler_config(None, 1) == {"resources": {"rt_sampler": {"config": {"cores": 1}}}}
    assert sampler_config("fast", 2) == {
        "resources": {"rt_sampler": {"config": {"preset": "fast", "cores": 2}}}
    }
