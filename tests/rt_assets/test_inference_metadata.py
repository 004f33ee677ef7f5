"""The sampler preset of rt/inference, and what a publication is labelled with."""

from types import SimpleNamespace

import dagster as dg
import pytest

from rt_assets.assets import UNKNOWN, RtSampler, _inference_metadata

RUN_DATE = "2021-03-07"


def test_the_sampler_preset_defaults_to_the_environment_and_config_overrides_it(monkeypatch):
    monkeypatch.delenv("RT_SAMPLER_PRESET", raising=False)
    monkeypatch.delenv("RT_SAMPLER_CORES", raising=False)
    assert (RtSampler().preset, RtSampler().cores) == ("fast", 0)
    monkeypatch.setenv("RT_SAMPLER_PRESET", "full")
    monkeypatch.setenv("RT_SAMPLER_CORES", "1")
    assert (RtSampler().sampler_preset().name, RtSampler().cores) == ("full", 1)
    assert RtSampler(preset="tiny").sampler_preset().name == "tiny"


def test_an_unknown_preset_fails_the_step_naming_the_known_ones():
    with pytest.raises(dg.Failure, match="known presets: fast, full, rtlive, tiny"):
        RtSampler(preset="nope").sampler_preset()


def _record(instance: dg.DagsterInstance, state: str, **metadata) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=dg.AssetKey(["rt", "inference"]),
            partition=f"{RUN_DATE}|{state}",
            metadata=metadata,
        )
    )


def test_a_publication_is_labelled_with_what_the_fits_recorded_never_the_current_preset(
    monkeypatch,
):
    monkeypatch.setenv("RT_SAMPLER_PRESET", "full")  # the current preset: must not appear
    with dg.DagsterInstance.ephemeral() as instance:
        context = SimpleNamespace(instance=instance)
        assert _inference_metadata(context, RUN_DATE, ["VT"]) == (UNKNOWN, UNKNOWN)
        _record(instance, "VT", model_version="v-old", preset="tiny")
        assert _inference_metadata(context, RUN_DATE, ["VT"]) == ("v-old", "tiny")
        _record(instance, "NY")  # a record without the labels
        assert _inference_metadata(context, RUN_DATE, ["NY", "VT"]) == (
            f"{UNKNOWN},v-old",
            f"tiny,{UNKNOWN}",
        )
