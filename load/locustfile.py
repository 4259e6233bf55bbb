"""Locustfile of the keelhaul load suite: `locust -f load/locustfile.py --host URL [ClassName ...]`.

Thin on purpose: the scenarios live in load.scenarios, the event wiring in load.hooks.
Target: `--keelhaul-profile PROFILE` (or KEELHAUL_PROFILE) for credentials by role and limits, or
just `--host URL` for a registry without auth. See load/README.md.
"""

from load import hooks  # noqa: F401 - registers the event listeners
from load.scenarios import (  # noqa: F401 - Locust picks up the User classes it finds here
    ChunkedLayerUpload,
    CIFleet,
    IdleUploadProbe,
    MonolithicUpload,
    PullStorm,
    TagChurn,
)
