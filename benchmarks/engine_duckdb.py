"""Raw canonical CSV -> silver Parquet + quarantine, and silver -> gold, on DuckDB.

Pure module (DuckDB + pyarrow, no Dagster): the candidate of issue 15 for
replacing the hand-written engine in ``lake_assets.cleaning``, written to the
same contracts so the two can be compared row for row
(``tests/lake_assets/test_engine_duckdb.py``) and side by side
(``benchmarks/lake_throughput.py``). It lives with the benchmarks, not in
``lake_assets``: the product does not use it, and the lake image installs no dev
dependency (duckdb is one).

- The header is checked by name here: DuckDB's ``columns=`` only counts them.
- Columns are read typed (dates as DATE, numbers as FLOAT, codes as VARCHAR),
  with Arrow's null spellings. Numbers are read as FLOAT, not as integers,
  because DuckDB rounds "1.5" into an integer column where the rules must
  quarantine it; the integral check and the narrowing cast follow.
- A line DuckDB cannot type or split is rejected (``store_rejects``): a value
  that does not convert gives ``unparseable <COLUMN>``, a wrong field count
  ``malformed row: N fields, expected 28`` with the raw line, as today.
- One ``CASE`` gives the first rule a row broke, in today's rule order.
- Exact repeats of a flight (``FLIGHT_KEY``) among the good rows: the first
  in file order is kept, the others dropped and counted.
"""

# The SQL here is built from the schema's column names, an int year and file
# paths quoted by _literal(): no outside text reaches it unquoted.
# ruff: noqa: S608

from __future__ import annotations

import gzip
import os
import tempfile
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pyarrow as pa

# The same flight identity and value bounds as today's engine: defined once, there.
from lake_assets.cleaning import DELAY_BOUNDS, DURATION_MAX, FLIGHT_KEY
from lake_assets.schema import (
    CANONICAL_COLUMNS,
    FLAG_COLUMNS,
    MINUTE_COLUMNS,
    QUARANTINE_SCHEMA,
    SILVER_REQUIRED,
    SILVER_SCHEMA,
    STRING_COLUMNS,
    TIME_COLUMNS,
    silver_name,
)
from resources.lake_store import is_gzip

# Arrow's default null spellings (pyarrow.csv.ConvertOptions().null_values),
# which today's engine reads as null in every column.
NULL_SPELLINGS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
)  # fmt: skip
NUMBER_COLUMNS = ("OP_CARRIER_FL_NUM", *TIME_COLUMNS, *FLAG_COLUMNS, *MINUTE_COLUMNS, "DISTANCE")
# Order in which a value that does not convert is reported, as in today's engine.
UNPARSEABLE_ORDER = ("FL_DATE", *NUMBER_COLUMNS)
_DICTIONARY_COLUMNS = [silver_name(c) for c in STRING_COLUMNS if c != "FL_DATE"]
GOLD_INPUT_COLUMNS = ["fl_date", "origin", "dep_delay", "cancelled", "diverted"]


class RawFileError(ValueError):
    """The raw file cannot be read as the canonical on-time CSV at all."""


@dataclass
class DuckResult:
    counts: dict[str, int]
    quarantine_reasons: dict[str, int]
    quarantine: pa.Table
    seconds: dict[str, float] = field(default_factory=dict)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as fh:
        return is_gzip(fh.read(2))


def check_header(path: str, source: str) -> None:
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as fh:
        header = fh.readline(1 << 20).decode("utf-8", "replace").strip("\r\n")
    names = [name.strip().strip('"') for name in header.split(",")]
    if names[: len(CANONICAL_COLUMNS)] != list(CANONICAL_COLUMNS) or names[
        len(CANONICAL_COLUMNS) :
    ] not in ([], [""]):
        raise RawFileError(f"{source}: header is not the canonical columns in order: {names[:30]}")


def _read_types() -> dict[str, str]:
    types = {c: "FLOAT" for c in CANONICAL_COLUMNS}
    types.update({c: "VARCHAR" for c in STRING_COLUMNS}, FL_DATE="DATE")
    return {**types, "_trailing": "VARCHAR"}


def _first_broken_rule(year: int) -> str:
    """A CASE giving the first rule a typed row broke (NULL for a good row), in today's order."""
    whens = [
        (f"fl_date NOT BETWEEN '{year}-01-01' AND '{year}-12-31'", "FL_DATE outside year"),
        ("NOT regexp_full_match(origin, '[A-Z0-9]{3}')", "bad ORIGIN"),
        ("NOT regexp_full_match(dest, '[A-Z0-9]{3}')", "bad DEST"),
        ("NOT regexp_full_match(op_carrier, '[A-Z0-9]{2}')", "bad OP_CARRIER"),
        ("op_carrier_fl_num <= 0 OR op_carrier_fl_num <> floor(op_carrier_fl_num)",
         "impossible OP_CARRIER_FL_NUM"),
    ]  # fmt: skip
    for name in TIME_COLUMNS:
        v = name.lower()
        whens.append(
            (
                f"{v} < 0 OR {v} > 2400 OR {v} <> floor({v}) OR {v} - floor({v} / 100) * 100 >= 60",
                f"impossible {name}",
            )
        )
    for name in FLAG_COLUMNS:
        whens.append((f"{name.lower()} NOT IN (0, 1)", f"impossible {name}"))
    for name in MINUTE_COLUMNS:
        low, high = DELAY_BOUNDS if name in ("DEP_DELAY", "ARR_DELAY") else (0.0, DURATION_MAX)
        whens.append((f"{name.lower()} < {low} OR {name.lower()} > {high}", f"impossible {name}"))
    whens.append(("distance <= 0", "impossible DISTANCE"))
    whens += [(f"{c} IS NULL", f"missing {c.upper()}") for c in SILVER_REQUIRED]
    return "CASE " + " ".join(f"WHEN {w} THEN '{r}'" for w, r in whens) + " END"


def _silver_select(cast: str = "CAST") -> str:
    """The typed columns as silver types (``TRY_CAST``: out-of-range quarantined values -> NULL)."""
    out = []
    for f in SILVER_SCHEMA:
        col = f.name
        if pa.types.is_int16(f.type):
            out.append(f"{cast}({col} AS SMALLINT) AS {f.name}")
        elif pa.types.is_int32(f.type):
            out.append(f"{cast}({col} AS INTEGER) AS {f.name}")
        elif pa.types.is_boolean(f.type):
            out.append(f"{col} = 1 AS {f.name}")
        else:
            out.append(f"{col} AS {f.name}")
    return ", ".join(out)


def connect(threads: int | None = None, memory_limit: str = "1500MB") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"preserve_insertion_order": True})
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    con.execute(f"SET threads = {threads or cpus or 1}")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = {_literal(tempfile.gettempdir() + '/duckdb-lake')}")
    return con


def clean_to_parquet(
    csv_path: str,
    year: int,
    silver_path: str,
    source: str = "raw file",
    con: duckdb.DuckDBPyConnection | None = None,
) -> DuckResult:
    """Clean one raw year into ``silver_path`` (written to a temporary name, then renamed)."""
    check_header(csv_path, source)
    con = con or connect()
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in _read_types().items()) + "}"
    nulls = "[" + ", ".join(f"'{n}'" for n in NULL_SPELLINGS) + "]"
    compression = "gzip" if _is_gzip(csv_path) else "none"
    renamed = ", ".join(f'"{c}" AS {silver_name(c)}' for c in CANONICAL_COLUMNS)
    # Typed once into a table: its rowid is the file order, which decides
    # which of two repeats of a flight is kept.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE typed AS
        SELECT *, {_first_broken_rule(year)} AS reason FROM (
            SELECT {renamed} FROM read_csv(?, header = true, auto_detect = false,
                columns = {columns}, nullstr = {nulls}, dateformat = '%Y-%m-%d',
                compression = '{compression}', store_rejects = true,
                rejects_table = 'rejects', rejects_scan = 'reject_scans')
        )
        """,
        [csv_path],
    )
    # A missing flight number (allowed) is keyed as 0 (impossible, so unused).
    key = ", ".join(f"coalesce({k}, 0)" if k == "op_carrier_fl_num" else k for k in FLIGHT_KEY)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE repeats AS
        SELECT rowid AS row FROM typed
        WHERE reason IS NULL AND ({key}) IN (
            SELECT ({key}) FROM typed WHERE reason IS NULL GROUP BY ALL HAVING count(*) > 1
        )
        QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY rowid) > 1
        """
    )
    tmp = f"{silver_path}.tmp-{os.getpid()}"
    con.execute(
        f"""
        COPY (SELECT {_silver_select()} FROM typed
              WHERE reason IS NULL AND rowid NOT IN (SELECT row FROM repeats))
        TO {_literal(tmp)} (FORMAT parquet, COMPRESSION zstd)
        """
    )
    os.replace(tmp, silver_path)

    quarantine = _quarantine(con)
    counts = dict(
        zip(
            ("typed", "duplicates_dropped", "silver_rows", "cancelled", "diverted"),
            con.execute(
                f"""SELECT (SELECT count(*) FROM typed), (SELECT count(*) FROM repeats),
                       count(*), count(*) FILTER (cancelled), count(*) FILTER (diverted)
                FROM read_parquet({_literal(silver_path)})"""
            ).fetchone(),
            strict=True,
        )
    )
    malformed = int(pc_count(quarantine, "raw_line"))
    result = {
        "rows_read": counts.pop("typed") + _rejected_lines(con),
        "malformed_rows": malformed,
        "quarantined_rows": quarantine.num_rows,
        **counts,
    }
    reasons = pd.Series(quarantine["reason"].to_pylist(), dtype=object).value_counts()
    return DuckResult(
        {k: int(v) for k, v in result.items()},
        dict(sorted((str(k), int(v)) for k, v in reasons.items())),
        quarantine,
    )


def pc_count(table: pa.Table, column: str) -> int:
    return table.num_rows - table[column].null_count


def _rejected_lines(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT count(DISTINCT line) FROM rejects").fetchone()[0]


def _quarantine(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Rows that broke a rule (typed), then lines DuckDB rejected (with their reason)."""
    ruled = con.execute(
        f"SELECT {_silver_select('TRY_CAST')}, reason, NULL::VARCHAR AS raw_line FROM typed "
        "WHERE reason IS NOT NULL ORDER BY rowid"
    ).to_arrow_table()
    order = "CASE column_name " + " ".join(
        f"WHEN '{c}' THEN {i}" for i, c in enumerate(UNPARSEABLE_ORDER)
    )
    expected = len(CANONICAL_COLUMNS) + 1
    # One row per rejected line: a wrong field count before any value's
    # conversion, then the first unconvertible column in today's rule order.
    rejected = con.execute(
        f"""
        SELECT arg_min(
            CASE WHEN error_type = 'CAST' THEN 'unparseable ' || column_name
            ELSE 'malformed row: ' || (length(csv_line) - length(replace(csv_line, ',', '')) + 1)
                 || ' fields, expected {expected}' END,
            CASE WHEN error_type = 'CAST' THEN 100 + {order} END ELSE 0 END) AS reason,
            arg_min(CASE WHEN error_type = 'CAST' THEN NULL ELSE csv_line END,
                    CASE WHEN error_type = 'CAST' THEN 1 ELSE 0 END) AS raw_line
        FROM rejects GROUP BY line ORDER BY line
        """
    ).to_arrow_table()
    n = rejected.num_rows
    rejected_rows = pa.table(
        [*(pa.nulls(n, f.type) for f in SILVER_SCHEMA), rejected["reason"], rejected["raw_line"]],
        schema=QUARANTINE_SCHEMA,
    )
    ruled = pa.table(
        [
            ruled[f.name].cast(f.type) if f.name in ruled.column_names else pa.nulls(len(ruled))
            for f in QUARANTINE_SCHEMA
        ],
        schema=QUARANTINE_SCHEMA,
    )
    return pa.concat_tables([ruled, rejected_rows])


def read_silver(path: str) -> pa.Table:
    """The silver file as ``SILVER_SCHEMA`` (codes back as dictionary columns)."""
    import pyarrow.parquet as pq

    return pq.read_table(path, read_dictionary=_DICTIONARY_COLUMNS).cast(SILVER_SCHEMA)


def aggregate_silver_file(
    silver_path: str, con: duckdb.DuckDBPyConnection | None = None
) -> pd.DataFrame:
    """Per (fl_date, origin) as ``cleaning.aggregate_daily``: sorted by origin, then date."""
    con = con or connect()
    departed = "NOT cancelled AND NOT diverted AND dep_delay IS NOT NULL"
    table = con.execute(
        f"""
        SELECT fl_date, origin,
            avg(dep_delay::DOUBLE) FILTER ({departed}) AS mean_dep_delay,
            median(dep_delay::DOUBLE) FILTER ({departed}) AS median_dep_delay,
            count(*) AS flights,
            count(*) FILTER (cancelled) AS cancelled,
            count(*) FILTER (diverted) AS diverted
        FROM read_parquet({_literal(silver_path)}) GROUP BY ALL ORDER BY origin, fl_date
        """
    ).to_arrow_table()
    frame = table.to_pandas()
    # Dates as in today's gold: Arrow dates, not pandas timestamps.
    frame["fl_date"] = pd.arrays.ArrowExtensionArray(table["fl_date"])
    return frame.astype({"mean_dep_delay": "float64", "median_dep_delay": "float64"})
