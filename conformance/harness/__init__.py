"""The pytest harness of the conformance suite: options, markers, target, fixtures, result capture.

Checks never import pytest hooks from here directly; `conformance/conftest.py` re-exports
`conformance.harness.plugin` so `pytest conformance` and `keelhaul check` run the same code.
"""
