"""The one place that decides which resources and executor a code location gets.

Reads the environment when called (by each code location's `definitions.py`),
never at import time, and never touches the network.
"""

from __future__ import annotations

from typing import Any

from resources.io_manager import LakeIOManager


def shared_resources() -> dict[str, Any]:
    """Resources every code location gets, keyed by the names assets use."""
    return {"io_manager": LakeIOManager()}
