"""Loads the conformance harness, so `pytest conformance --target PROFILE` works from the repository
root and `keelhaul check` (which runs pytest on this folder) behaves exactly the same."""

# Every hook and fixture the harness's plugin gathers (its __all__): pytest finds them by name here.
from conformance.harness.plugin import *  # noqa: F403
from conformance.oci.fixtures import *  # noqa: F403  (shared OCI content fixtures)
