"""One IO manager for the whole lake: each asset in its natural file format.

Objects live at ``<base_url>/<asset key path>/<partition path>.<ext>``; a
date x state partition ``2021-01-15|NY`` becomes ``2021-01-15/NY``. The base
URL is a local folder or any fsspec URL (``s3://bucket/prefix``), so the same
code runs on a laptop and against S3. ``LakeIOManager.store()`` is the one way
to that base: the assets, sensors and tools that read or stream lake objects
past the IO manager get their ``LakeStore`` (resources/lake_store.py) from it,
so a configured ``base_url`` holds for every object.

The format of an asset is declared once, in its definition metadata, under
``LAKE_FORMAT_KEY`` (see ``lake_format``); the reader of a downstream input
uses the upstream definition's metadata, so reader and writer always agree.

Writes are atomic (``LakeStore.write_bytes``). The object is serialised to
bytes in memory first, so a serialisation error never touches the store.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster import InputContext, OutputContext
from upath import UPath

from resources.lake_store import EXTENSIONS, LakeStore, is_local, local_path, with_extension
from resources.settings import configured_lake_url, is_local_lake, lake_url

LAKE_FORMAT_KEY = "lake/format"


def lake_format(fmt: str) -> dict[str, str]:
    """Definition metadata that declares the storage format of an asset."""
    if fmt not in CODECS:
        raise ValueError(f"unknown lake format {fmt!r}; known: {sorted(CODECS)}")
    return {LAKE_FORMAT_KEY: fmt}


@dataclass(frozen=True)
class Codec:
    extension: str
    dumps: Callable[[Any], bytes]
    loads: Callable[[bytes], Any]


def _parquet_dumps(df: Any) -> bytes:
    buf = io.BytesIO()
    # index=False: our tables carry their keys as columns; a stored RangeIndex
    # only adds noise and makes byte-identical re-runs depend on pandas' mood.
    df.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    return buf.getvalue()


def _parquet_loads(data: bytes) -> Any:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


def _csv_dumps(obj: Any) -> bytes:
    if isinstance(obj, bytes | str):
        return obj.encode() if isinstance(obj, str) else obj
    # Fixed line endings and float repr so that the same frame always gives the
    # same bytes (idempotent publication).
    return obj.to_csv(index=False, lineterminator="\n").encode()


def _csv_loads(data: bytes) -> Any:
    import pandas as pd

    return pd.read_csv(io.BytesIO(data))


def _netcdf_dumps(idata: Any, compress: bool = False) -> bytes:
    # netCDF/HDF5 writers need a real file; write to a private temp file. Uncompressed by
    # default: MCMC draws are noise to zlib, which costs far more time than it saves bytes
    # (docs/performance.md, "The steps around the sampler"; benchmarks/step_work.py times both).
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "idata.nc")
        encoding = None
        if compress:
            encoding = {
                node.path: {name: {"zlib": True, "complevel": 4} for name in node.data_vars}
                for node in idata.subtree
                if node.data_vars
            }
        idata.to_netcdf(path, engine="h5netcdf", encoding=encoding)
        with open(path, "rb") as fh:
            return fh.read()


def _netcdf_loads(data: bytes) -> Any:
    import xarray as xr

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "idata.nc")
        with open(path, "wb") as fh:
            fh.write(data)
        # Loaded into memory, every group, so the temp file can go.
        return xr.load_datatree(path, engine="h5netcdf")


def _msgpack_dumps(obj: Any) -> bytes:
    import msgpack

    return msgpack.packb(obj, use_bin_type=True)


def _msgpack_loads(data: bytes) -> Any:
    import msgpack

    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def _json_dumps(obj: Any) -> bytes:
    import json

    return json.dumps(obj, indent=2, sort_keys=True, default=str).encode()


def _json_loads(data: bytes) -> Any:
    import json

    return json.loads(data)


def _identity(data: bytes) -> bytes:
    if not isinstance(data, bytes):
        raise TypeError(f"raw formats store bytes, got {type(data).__name__}")
    return data


CODECS: dict[str, Codec] = {
    "parquet": Codec(EXTENSIONS["parquet"], _parquet_dumps, _parquet_loads),
    "csv": Codec(EXTENSIONS["csv"], _csv_dumps, _csv_loads),
    "netcdf": Codec(EXTENSIONS["netcdf"], _netcdf_dumps, _netcdf_loads),
    "msgpack": Codec(EXTENSIONS["msgpack"], _msgpack_dumps, _msgpack_loads),
    "json": Codec(EXTENSIONS["json"], _json_dumps, _json_loads),
    # Raw snapshots, stored byte for byte as fetched.
    "raw_csv": Codec(EXTENSIONS["raw_csv"], _identity, _identity),
    "raw_csv_gz": Codec(EXTENSIONS["raw_csv_gz"], _identity, _identity),
    "raw_bytes": Codec(EXTENSIONS["raw_bytes"], _identity, _identity),
    # Charts beside the data they draw: a file in the lake, linked from the metadata, not
    # base64 inside every materialization event.
    "png": Codec(EXTENSIONS["png"], _identity, _identity),
}


def _format_of(context: InputContext | OutputContext) -> str:
    if isinstance(context, InputContext):
        if context.upstream_output is None:
            raise dg.Failure("lake IO manager: input has no upstream output to read")
        metadata = context.upstream_output.definition_metadata or {}
    else:
        metadata = context.definition_metadata or {}
    fmt = metadata.get(LAKE_FORMAT_KEY)
    if fmt is None:
        # Pickle is deliberately not offered: everything in the lake must be
        # readable by people and other tools.
        key = context.asset_key.to_user_string() if context.has_asset_key else "?"
        raise dg.Failure(
            f"asset {key} declares no lake format; add metadata=lake_format(...) "
            f"with one of {sorted(CODECS)}"
        )
    return str(fmt)


def link(path: UPath) -> dg.MetadataValue:
    """Metadata that points at a stored object: a path in a local lake, else its URL."""
    if is_local(path):
        return dg.MetadataValue.path(local_path(path))
    return dg.MetadataValue.url(str(path))


@dataclass(frozen=True)
class Stored:
    """A partition's value that its step has already written to its own path
    (``LakeIOManager.store_partition``): a backfill's run of several partitions stores each
    as soon as it is made, so the step holds one at a time (a posterior of the `full` preset
    is ~60 MB). The IO manager records it without writing it again."""

    path: str
    nbytes: int


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores every asset under ``base_url`` in the format its metadata declares."""

    base_url: str = ""

    def store_partition(self, asset_key: dg.AssetKey, partition: str, fmt: str, obj) -> Stored:
        """Write one partition's value where this IO manager stores it (atomically); the
        step returns the ``Stored`` in its place."""
        store = self.store()
        path = store.path(asset_key, partition, fmt)
        data = CODECS[fmt].dumps(obj)
        store.write_bytes(path, data)
        return Stored(str(path), len(data))

    def store(self) -> LakeStore:
        """The lake this IO manager stores into: ``base_url``, else ``LAKE_URL`` or ``./.lake``."""
        return LakeStore(self.base_url or lake_url())

    def production_problems(self) -> list[str]:
        """Why this lake is wrong for production (empty: fine): never ``./.lake``."""
        url = self.base_url or configured_lake_url()
        if not url:
            return ["LAKE_URL is not set (production would write to ./.lake)"]
        if is_local_lake(url):
            return [f"LAKE_URL={url!r} is a local path, not an object store URL"]
        return []

    def _manager(self) -> _LakeUPathIOManager:
        return _LakeUPathIOManager(self.store())

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        self._manager().handle_output(context, obj)

    def load_input(self, context: InputContext) -> Any:
        return self._manager().load_input(context)


class _LakeUPathIOManager(dg.UPathIOManager):
    """UPathIOManager with a per-asset extension, reading and writing through the store.

    Still overrides three private methods, for want of a public API in Dagster 1.13:
    ``_get_multipartition_backcompat_paths`` (no switch to turn off the pre-1.0
    multi-partition paths), ``_handle_transition_to_partitioned_asset`` (no switch to
    skip its per-write existence probe) and ``_load_partition_from_path`` (no hook for
    the failure of a missing partition).
    """

    extension = None  # decided per asset from its metadata; added by the two hooks below

    def __init__(self, store: LakeStore) -> None:
        super().__init__(base_path=store.base)
        self.store = store

    def make_safe_partition_path(self, base_path: UPath, partition: str) -> UPath:
        from resources.dagster_private import escape_dotdot_segments

        return super().make_safe_partition_path(base_path, escape_dotdot_segments(partition))

    def get_asset_relative_path(self, context: InputContext | OutputContext) -> UPath:
        path = super().get_asset_relative_path(context)
        # A partitioned asset's path is a folder; its partitions get the extension.
        return path if context.has_asset_partitions else with_extension(path, _format_of(context))

    def get_path_for_partition(
        self, context: InputContext | OutputContext, path: UPath, partition: str
    ) -> UPath:
        partition_path = super().get_path_for_partition(context, path, partition)
        return with_extension(partition_path, _format_of(context))

    def path_exists(self, path: UPath) -> bool:
        return self.store.exists(path)

    def _get_multipartition_backcompat_paths(self, context):  # noqa: ANN001
        return {}

    def make_directory(self, path: UPath) -> None:
        # Object stores have no folders; local folders are made by the writer.
        return None

    def _handle_transition_to_partitioned_asset(self, context, path) -> None:  # noqa: ANN001
        return None

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if not context.has_asset_partitions or len(context.asset_partition_keys) == 1:
            return super().handle_output(context, obj)
        # A backfill's run of several partitions (rt_assets.partitions.state_backfill_policy):
        # the asset returns one value per partition, each stored at its partition's path
        # with its own bytes and uri; a value the step has already stored (Stored) is only
        # recorded.
        paths = self._get_paths_for_partitions(context)
        if not isinstance(obj, dict) or set(obj) != set(paths):
            got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
            raise dg.Failure(
                description=(
                    f"{context.asset_key.to_user_string()}: a run of {len(paths)} partitions "
                    f"must return a dict with one value per partition key, got {got}"
                ),
                allow_retries=False,
            )
        codec = CODECS[_format_of(context)]
        for key, path in paths.items():
            value = obj[key]
            if isinstance(value, Stored):
                if value.path != str(path):  # one path rule: LakeStore.path is the IO manager's
                    raise dg.Failure(
                        f"{key} was stored at {value.path}, not at its path {path}",
                        allow_retries=False,
                    )
                metadata = _stored_metadata(value.nbytes, path)
            else:
                data = codec.dumps(value)
                self.store.write_bytes(path, data)
                metadata = _stored_metadata(len(data), path)
            context.step_context.add_asset_metadata(
                metadata, asset_key=context.asset_key, partition_key=key
            )

    def dump_to_path(self, context: OutputContext, obj: Any, path: UPath) -> None:
        codec = CODECS[_format_of(context)]
        data = codec.dumps(obj)
        self.store.write_bytes(path, data)
        context.add_output_metadata(_stored_metadata(len(data), path))

    def _load_partition_from_path(self, context, partition_key, path, backcompat_path=None):  # noqa: ANN001
        # Where a consumer declares allow_missing_partitions (the national CSV over
        # all states of a date), an absent partition is expected, not a warning per
        # state; the consumer reports what was missing in its own metadata.
        allow_missing = (context.definition_metadata or {}).get("allow_missing_partitions")
        if not self.path_exists(path):
            if allow_missing:
                context.log.debug(f"partition {partition_key} not stored at {path}; skipped")
                return None
            raise missing_upstream(context, partition_key, path)
        return super()._load_partition_from_path(context, partition_key, path, backcompat_path)

    def load_from_path(self, context: InputContext, path: UPath) -> Any:
        codec = CODECS[_format_of(context)]
        try:
            data = self.store.read_bytes(path)
        except FileNotFoundError:
            partition = context.asset_partition_key if context.has_asset_partitions else None
            raise missing_upstream(context, partition, path) from None
        return codec.loads(data)


def _stored_metadata(nbytes: int, path: UPath) -> dict[str, dg.MetadataValue]:
    return {"bytes": dg.MetadataValue.int(nbytes), "uri": dg.MetadataValue.path(str(path))}


def missing_upstream(context: InputContext, partition: str | None, path: UPath) -> dg.Failure:
    """The failure for an input whose upstream partition is not in the lake.

    Not retried (``allow_retries=False``): the partition will not appear by waiting,
    and a retry policy with backoff (rt/inference's) would hold the run for minutes
    before saying anything.
    """
    asset = context.asset_key.to_user_string() if context.has_asset_key else "upstream asset"
    which = f"{asset} partition {partition}" if partition else asset
    launch = f"{asset} for partition {partition}" if partition else asset
    return dg.Failure(
        description=(
            f"missing upstream partition: {which} is not stored (expected at {path}). "
            f"Materialize {launch} first (with its own upstream if that is missing too), or "
            "launch a backfill that includes it; retrying this step will not help."
        ),
        metadata={
            "missing_asset": asset,
            "missing_partition": partition or "",
            "expected_at": dg.MetadataValue.path(str(path)),
        },
        allow_retries=False,
    )
