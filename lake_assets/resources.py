"""The resources of code location `lake`: exactly those its assets and sensors use."""

from __future__ import annotations

from typing import Any

from resources.alerts import AlertsResource
from resources.deployment import checked_resources
from resources.io_manager import LakeIOManager
from resources.warehouse import WarehouseResource


def lake_resources() -> dict[str, Any]:
    """Built when called (reads the environment then); refused in production if a
    resource is not set up for it (``checked_resources``)."""
    return checked_resources(
        {
            "io_manager": LakeIOManager(),
            "alerts": AlertsResource(),
            "warehouse": WarehouseResource(),
        }
    )
