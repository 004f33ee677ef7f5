"""The static Rt web page asset (rt/site)."""

import dagster as dg
from upath import UPath

from resources.io_manager import LakeIOManager, atomic_write_bytes, link, read_bytes
from resources.k8s import LIGHT, step_tags
from resources.settings import is_local_lake, lake_url
from rt_assets import site
from rt_assets.keys import PUBLISHED_MSGPACK, SITE
from rt_assets.partitions import date_partitions


def _write(path: UPath, data: bytes, content_type: str) -> None:
    if is_local_lake(str(path)):
        atomic_write_bytes(path, data)
    else:
        # S3 static hosting serves the stored Content-Type; without it a browser
        # would download index.html instead of showing it.
        path.fs.pipe_file(path.path, data, ContentType=content_type)


@dg.asset(
    key=SITE,
    deps=[PUBLISHED_MSGPACK],
    partitions_def=date_partitions,
    description=(
        "Static Rt web page for one run date: index.html, app.js, app.css, a copy of the "
        "published msgpack (rt.msgpack) and a latest-Rt chart (latest-rt.png) in "
        "LAKE_URL/rt/site/DATE/. Open it from any static file server "
        "(`uv run python -m rt_assets.serve_site`) or S3 static hosting."
    ),
    owners=["team:rt"],
    kinds={"html", "javascript", "msgpack"},
    group_name="rt",
    code_version="site-2",
    op_tags=step_tags(LIGHT),
)
def rt_site(
    context: dg.AssetExecutionContext, io_manager: dg.ResourceParam[LakeIOManager]
) -> dg.MaterializeResult:
    date = context.partition_key
    source = io_manager.path_for(PUBLISHED_MSGPACK, date, "msgpack")
    try:
        data = read_bytes(source)
    except FileNotFoundError as exc:
        raise dg.Failure(
            f"{source} not found: materialize {PUBLISHED_MSGPACK.to_user_string()} {date}"
        ) from exc
    doc = site.parse_document(data, str(source))
    bundle = site.load_bundle()
    folder = UPath(io_manager.base_url or lake_url()).joinpath(*SITE.path, date)
    rows = site.latest_rt(doc)
    files = {**site.site_files(bundle, data), site.PLOT_FILE: site.latest_rt_plot_png(rows)}
    written = site.write_site(folder, files, _write)
    context.log.info(f"wrote the Rt page for {date} ({len(rows)} states) to {folder}")
    return dg.MaterializeResult(
        metadata={
            "index_html": dg.MetadataValue.path(str(written["index.html"])),
            "states": dg.MetadataValue.int(len(rows)),
            "excluded": dg.MetadataValue.int(len(doc.get("excluded") or {})),
            "run_date": dg.MetadataValue.text(doc["run_date"]),
            "model_version": dg.MetadataValue.text(doc["model_version"]),
            "bytes": dg.MetadataValue.int(sum(len(b) for b in files.values())),
            "latest_rt": dg.MetadataValue.md(site.markdown_preview(rows)),
            "plot": link(written[site.PLOT_FILE]),
        }
    )
