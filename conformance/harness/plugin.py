"""The pytest plugin behind `pytest conformance` and `keelhaul check` (loaded by conformance/conftest.py,
or with `-p conformance.harness.plugin`): it only gathers the hooks and fixtures of the harness's
modules, one job each.

| module          | job                                                                  |
|-----------------|----------------------------------------------------------------------|
| options.py      | command-line options; the session state and target, built at configure |
| collection.py   | check metadata (requirements, needs), skip decisions, one preflight   |
| results.py      | each check's outcome class and evidence; reports and --fail-on at the end |
| fixtures.py     | target, clients per role, fresh repositories, the exchange recorder  |
| cleanup.py      | deleting what the checks created, and the ledger of what stayed      |
| lanes.py        | checks in several processes forked after collection, reports relayed  |
| parallel.py     | `alone` checks; a lane's results shipped to lane 0 and gathered there  |
| clients.py      | a client for a role on the run's shared connection pool             |
| state.py        | the session state kept in `config.stash`                             |
| heap.py         | the run's long-lived objects kept out of the garbage collector's walks |
| selection.py    | the skip rules: N/A versus SKIP, from markers and the profile         |
"""

from conformance.harness.collection import pytest_collection_modifyitems
from conformance.harness.fixtures import (
    client,
    client_for,
    deleting_client,
    exchange_recorder,
    harness,
    new_repo,
    repo_namer,
    session_repo,
    target,
)
from conformance.harness.heap import pytest_collection_finish
from conformance.harness.lanes import pytest_runtestloop
from conformance.harness.options import (
    pytest_addoption,
    pytest_configure,
    pytest_report_header,
    pytest_unconfigure,
)
from conformance.harness.parallel import pytest_runtest_protocol
from conformance.harness.results import (
    pytest_report_teststatus,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    pytest_terminal_summary,
)

__all__ = [
    "client",
    "client_for",
    "deleting_client",
    "exchange_recorder",
    "harness",
    "new_repo",
    "pytest_addoption",
    "pytest_collection_finish",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_report_header",
    "pytest_report_teststatus",
    "pytest_runtest_makereport",
    "pytest_runtest_protocol",
    "pytest_runtestloop",
    "pytest_sessionfinish",
    "pytest_terminal_summary",
    "pytest_unconfigure",
    "repo_namer",
    "session_repo",
    "target",
]
