"""The pytest harness of the conformance suite: options, check metadata and skips, result capture,
fixtures and cleanup, one module each (see plugin.py for the list).

Checks never import pytest hooks from here directly; `conformance/conftest.py` re-exports
`conformance.harness.plugin` so `pytest conformance` and `keelhaul check` run the same code.
"""
