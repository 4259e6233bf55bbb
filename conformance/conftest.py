"""Loads the conformance harness, so `pytest conformance --target PROFILE` works from the repository
root and `keelhaul check` (which runs pytest on this folder) behaves exactly the same."""

from conformance.harness.plugin import (  # noqa: F401  (pytest finds hooks and fixtures by name)
    client,
    client_for,
    deleting_client,
    exchange_recorder,
    harness,
    new_repo,
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_configure_node,
    pytest_report_header,
    pytest_runtest_makereport,
    pytest_runtest_protocol,
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_unconfigure,
    repo_namer,
    session_repo,
    target,
)
from conformance.oci.fixtures import *  # noqa: F403  (shared OCI content fixtures)
