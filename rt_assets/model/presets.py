"""Named sampler settings. Which one a run uses is its caller's choice, passed in:
this package reads no environment (the Dagster resource ``RtSampler`` does)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SamplerPreset:
    """Named sampler settings. ``cores`` None lets nutpie run all chains in parallel."""

    name: str
    chains: int
    tune: int
    draws: int
    target_accept: float
    cores: int | None = None
    maxdepth: int = 10
    # nutpie's low-rank modified mass matrix: it learns the strong correlation of
    # neighbouring days of the random walk, and cuts the leapfrog steps per draw ~7x.
    low_rank: bool = False
    # Sample in coordinates that whiten a Laplace approximation of the posterior, with a
    # diagonal mass matrix (``laplace``); ``low_rank`` then applies only when no
    # approximation is found and the model's own coordinates are sampled.
    laplace: bool = False
    # The convergence gate the check reports and the summary applies (``diagnostics.gate``).
    strict_gate: bool = False


PRESETS: dict[str, SamplerPreset] = {
    # Production. Same chains as rt.live, and the stricter gate (r_hat < 1.01, bulk and
    # tail ESS > 400, no divergences). Sampled in the coordinates of the series' Laplace
    # approximation (a draw takes ~15 leapfrog steps, tuning ~20,000 in all); there the bulk
    # ESS is far above the gate, but r_hat is its binding limit: 1,000 draws left the 51
    # states' worst at 1.0098, 1,500 at 1.0075 (benchmarks/results/2026-12-03-laplace.md).
    # Without an approximation: the low-rank mass matrix, which learns the correlation of
    # neighbouring days. Capping the tree depth at 8 bounds the longest trajectories of
    # early tuning (docs/performance.md, "Tree depth capped at 8").
    "full": SamplerPreset(
        "full",
        chains=4,
        tune=300,
        draws=1500,
        target_accept=0.9,
        maxdepth=8,
        low_rank=True,
        laplace=True,
        strict_gate=True,
    ),
    # rt.live's exact settings (diagonal mass matrix), for comparison with the baseline.
    "rtlive": SamplerPreset("rtlive", chains=4, tune=700, draws=200, target_accept=0.95),
    # Tests and the demo: passes rt.live's gate (r_hat <= 1.1, no divergences), also on
    # the year-long series of 2021-03-07.
    "fast": SamplerPreset(
        "fast", chains=2, tune=300, draws=200, target_accept=0.9, low_rank=True, laplace=True
    ),
    # Deliberately too short to converge: exercises the failing-check paths.
    "tiny": SamplerPreset("tiny", chains=2, tune=3, draws=6, target_accept=0.8),
}

DEFAULT_PRESET = "fast"


def get_preset(name: str = DEFAULT_PRESET) -> SamplerPreset:
    """The preset called ``name``; ValueError names the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown sampler preset {name!r}; known presets: {', '.join(sorted(PRESETS))}"
        ) from None


def nutpie_settings(preset: SamplerPreset, whitened: bool = False) -> dict:
    """The preset as ``nutpie.sample``'s keyword arguments (all but seed, cores, storage);
    ``whitened``: the sampler's coordinates whiten a Laplace approximation (diagonal mass
    matrix)."""
    return {
        "draws": preset.draws,
        "tune": preset.tune,
        "chains": preset.chains,
        "target_accept": preset.target_accept,
        "maxdepth": preset.maxdepth,
        "adaptation": "low_rank" if preset.low_rank and not whitened else "diag",
    }


def chain_threads(chains: int, cpus: int, fits_at_once: int) -> int:
    """Threads for one fit's chains when ``fits_at_once`` fits share ``cpus`` CPUs: one per
    chain, at most the fit's share of the CPUs, at least one. The draws do not depend on
    it (docs/performance.md, "Threads per fit")."""
    return max(1, min(chains, cpus // max(1, fits_at_once)))


def as_preset(preset: SamplerPreset | str) -> SamplerPreset:
    return preset if isinstance(preset, SamplerPreset) else get_preset(preset)
