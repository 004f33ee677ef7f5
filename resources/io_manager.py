"""One IO manager for the whole lake: each asset in its natural file format.

Objects live at ``<LAKE_URL>/<asset key path>/<partition path>.<ext>``; a
date x state partition ``2021-01-15|NY`` becomes ``2021-01-15/NY``. The base
URL is a local folder or any fsspec URL (``s3://bucket/prefix``), so the same
code runs on a laptop and against S3.

The format of an asset is declared once, in its definition metadata, under
``LAKE_FORMAT_KEY`` (see ``lake_format``); the reader of a downstream input
uses the upstream definition's metadata, so reader and writer always agree.

Writes are atomic. The object is serialised to bytes in memory first (a
serialisation error never touches the store), then:
- on a local filesystem, written to a hidden temporary file in the same folder
  and renamed over the final name (``os.replace`` is atomic on POSIX);
- on an object store, uploaded with one PUT (or a multipart upload that only
  becomes visible when completed), which S3 makes visible all at once.
"""

from __future__ import annotations

import io
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster import InputContext, OutputContext
from upath import UPath

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


def _netcdf_dumps(idata: Any) -> bytes:
    # netCDF/HDF5 writers need a real file; write to a private temp file.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "idata.nc")
        idata.to_netcdf(path, engine="h5netcdf")
        with open(path, "rb") as fh:
            return fh.read()


def _netcdf_loads(data: bytes) -> Any:
    import arviz as az

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "idata.nc")
        with open(path, "wb") as fh:
            fh.write(data)
        # load() pulls everything into memory so the temp file can go.
        idata = az.from_netcdf(path, engine="h5netcdf")
        for group in idata.groups():
            getattr(idata, group).load()
        return idata


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
    "parquet": Codec(".parquet", _parquet_dumps, _parquet_loads),
    "csv": Codec(".csv", _csv_dumps, _csv_loads),
    "netcdf": Codec(".nc", _netcdf_dumps, _netcdf_loads),
    "msgpack": Codec(".msgpack", _msgpack_dumps, _msgpack_loads),
    "json": Codec(".json", _json_dumps, _json_loads),
    # Raw snapshots, stored byte for byte as fetched.
    "raw_csv": Codec(".csv", _identity, _identity),
    "raw_csv_gz": Codec(".csv.gz", _identity, _identity),
    "raw_bytes": Codec(".bin", _identity, _identity),
    # Charts beside the data they draw: a file in the lake, linked from the metadata, not
    # base64 inside every materialization event.
    "png": Codec(".png", _identity, _identity),
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


def atomic_write_bytes(path: UPath, data: bytes) -> None:
    """Write ``data`` so that readers see either the old object or the whole new one."""
    if path.protocol in ("", "file", "local"):
        target = os.fspath(path.path if hasattr(path, "path") else path)
        folder = os.path.dirname(target)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    else:
        # A single object PUT (or a multipart upload) only becomes visible under
        # its key once complete, so a crash mid-upload leaves nothing there.
        path.fs.pipe_file(path.path, data)


def link(path: UPath) -> dg.MetadataValue:
    """Metadata that points at a stored object: a path in a local lake, else its URL."""
    if path.protocol in ("", "file", "local"):
        return dg.MetadataValue.path(os.fspath(path.path if hasattr(path, "path") else path))
    return dg.MetadataValue.url(str(path))


def read_bytes(path: UPath) -> bytes:
    return path.fs.cat_file(path.path)


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores every asset under ``base_url`` in the format its metadata declares."""

    base_url: str = ""

    def _base(self) -> UPath:
        url = self.base_url or lake_url()
        return UPath(url)

    def production_problems(self) -> list[str]:
        """Why this lake is wrong for production (empty: fine): never ``./.lake``."""
        url = self.base_url or configured_lake_url()
        if not url:
            return ["LAKE_URL is not set (production would write to ./.lake)"]
        if is_local_lake(url):
            return [f"LAKE_URL={url!r} is a local path, not an object store URL"]
        return []

    def _manager(self) -> _LakeUPathIOManager:
        return _LakeUPathIOManager(self._base())

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        self._manager().handle_output(context, obj)

    def load_input(self, context: InputContext) -> Any:
        return self._manager().load_input(context)

    def path_for(self, asset_key: dg.AssetKey | str, partition: str | None, fmt: str) -> UPath:
        """Where ``asset_key`` (and partition, ``|`` separated for multi-partitions) lives."""
        return object_path(self._base(), asset_key, partition, fmt)


def object_path(
    base: UPath | str, asset_key: dg.AssetKey | str, partition: str | None, fmt: str
) -> UPath:
    if isinstance(asset_key, str):
        asset_key = dg.AssetKey.from_user_string(asset_key)
    path = UPath(base).joinpath(*asset_key.path)
    if partition:
        path = path.joinpath(*partition.split("|"))
    return path.with_name(path.name + CODECS[fmt].extension)


class _LakeUPathIOManager(dg.UPathIOManager):
    extension = None  # decided per asset from its metadata

    def make_safe_partition_path(self, base_path: UPath, partition: str) -> UPath:
        from dagster._core.storage.upath_io_manager import escape_dotdot_segments

        return super().make_safe_partition_path(base_path, escape_dotdot_segments(partition))

    def _suffix(self, context: InputContext | OutputContext, path: UPath) -> UPath:
        return path.with_name(path.name + CODECS[_format_of(context)].extension)

    def _get_path(self, context: InputContext | OutputContext) -> UPath:
        return self._suffix(context, super()._get_path(context))

    def _get_paths_for_partitions(self, context: InputContext | OutputContext) -> dict[str, UPath]:
        paths = super()._get_paths_for_partitions(context)
        return {key: self._suffix(context, path) for key, path in paths.items()}

    def _get_multipartition_backcompat_paths(self, context):  # noqa: ANN001
        return {}

    def make_directory(self, path: UPath) -> None:
        # Object stores have no folders; local folders are made by the writer.
        return None

    def _handle_transition_to_partitioned_asset(self, context, path) -> None:  # noqa: ANN001
        return None

    def dump_to_path(self, context: OutputContext, obj: Any, path: UPath) -> None:
        codec = CODECS[_format_of(context)]
        data = codec.dumps(obj)
        atomic_write_bytes(path, data)
        context.add_output_metadata(
            {"bytes": dg.MetadataValue.int(len(data)), "uri": dg.MetadataValue.path(str(path))}
        )

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
            data = read_bytes(path)
        except FileNotFoundError:
            partition = context.asset_partition_key if context.has_asset_partitions else None
            raise missing_upstream(context, partition, path) from None
        return codec.loads(data)


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
