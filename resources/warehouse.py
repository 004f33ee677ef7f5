"""The warehouse resource: a SQLAlchemy engine for `WAREHOUSE_URL`.

Default: SQLite inside the local lake (`resources.settings.warehouse_url()`);
production: PostgreSQL through psycopg (`postgresql+psycopg://...`).
"""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from resources.settings import configured_warehouse_url, warehouse_url


class WarehouseResource(dg.ConfigurableResource):
    """Where the lake's warehouse tables live; `url` empty means `WAREHOUSE_URL` or the default."""

    url: str = ""

    def resolved_url(self) -> str:
        return self.url or warehouse_url()

    def engine(self) -> sa.Engine:
        # pool_pre_ping: a step may hold the engine across a database restart.
        return sa.create_engine(self.resolved_url(), pool_pre_ping=True)

    def production_problems(self) -> list[str]:
        """Why this warehouse is wrong for production (empty: fine): never SQLite."""
        url = self.url or configured_warehouse_url()
        if not url:
            return ["WAREHOUSE_URL is not set (production would use SQLite)"]
        if not url.startswith("postgresql"):
            shown = sa.make_url(url).render_as_string(hide_password=True)
            return [f"WAREHOUSE_URL must be a postgresql+psycopg:// URL, got {shown!r}"]
        return []

    def display_url(self) -> str:
        """The URL with any password hidden, for logs and metadata."""
        return sa.make_url(self.resolved_url()).render_as_string(hide_password=True)
