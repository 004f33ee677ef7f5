"""The static Rt web page asset (rt/site)."""

import dagster as dg

from resources.io_manager import LakeIOManager, link
from resources.k8s import LIGHT, step_tags
from rt_assets import msgpack_format, page
from rt_assets.keys import PUBLISHED_MSGPACK, SITE
from rt_assets.partitions import date_partitions


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
    store = io_manager.store()
    source = store.path(PUBLISHED_MSGPACK, date, "msgpack")
    try:
        data = store.read_bytes(source)
    except FileNotFoundError as exc:
        raise dg.Failure(
            f"{source} not found: materialize {PUBLISHED_MSGPACK.to_user_string()} {date}"
        ) from exc
    doc = msgpack_format.parse_document(data, str(source))
    bundle = page.load_bundle()
    folder = store.path(SITE, date)
    rows = page.latest_rt(doc)
    files = {**page.site_files(bundle, data), page.PLOT_FILE: page.latest_rt_plot_png(rows)}
    # With its Content-Type: S3 static hosting serves the stored one.
    written = page.write_site(folder, files, store.write_bytes)
    context.log.info(f"wrote the Rt page for {date} ({len(rows)} states) to {folder}")
    return dg.MaterializeResult(
        metadata={
            "index_html": dg.MetadataValue.path(str(written["index.html"])),
            "states": dg.MetadataValue.int(len(rows)),
            "excluded": dg.MetadataValue.int(len(doc.get("excluded") or {})),
            "run_date": dg.MetadataValue.text(doc["run_date"]),
            "model_version": dg.MetadataValue.text(doc["model_version"]),
            "bytes": dg.MetadataValue.int(sum(len(b) for b in files.values())),
            "latest_rt": dg.MetadataValue.md(page.markdown_preview(rows)),
            "plot": link(written[page.PLOT_FILE]),
        }
    )
