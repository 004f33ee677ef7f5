"""The resources of code location `rt`: exactly those its assets, checks and sensors use.

No warehouse: nothing in rt reads or writes it, so a production rt location must
not need ``WAREHOUSE_URL`` (docs/production.md's install steps give its secret none).
"""

from __future__ import annotations

from typing import Any

from resources.alerts import AlertsResource
from resources.deployment import checked_resources
from resources.io_manager import LakeIOManager
from rt_assets.assets import RtSampler, RtStagingPolicy


def rt_resources() -> dict[str, Any]:
    """Built when called (reads the environment then); refused in production if a
    resource is not set up for it (``checked_resources``)."""
    return checked_resources(
        {
            "io_manager": LakeIOManager(),
            "alerts": AlertsResource(),
            "rt_staging_policy": RtStagingPolicy(),
            "rt_sampler": RtSampler(),
        }
    )
