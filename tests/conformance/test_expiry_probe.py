"""The LIM-2 check's sessions opened in the background (conformance/ghcr/expiry.py): the check gets the
probe's answers as its own evidence, its failures as its own, and opens its sessions itself when the
probe was too late to prove anything; an `alone` check waits for background work first."""

from __future__ import annotations

import types
from collections.abc import Iterator

import pytest

from conformance.ghcr import expiry
from conformance.harness import parallel
from conformance.harness.state import STATE
from keelhaul.client import ExchangeRecorder, RegistryClient
from reference_server.config import ServerConfig
from reference_server.embedded import EmbeddedServer

EXPIRY = 0.5


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = ServerConfig(
        listen_port=0, data_dir=tmp_path_factory.mktemp("registry"), auth=False, upload_timeout_seconds=EXPIRY
    )
    with EmbeddedServer(config) as server:
        assert server.url is not None
        yield server.url


def _target(expiry_from: str = "start") -> types.SimpleNamespace:
    limits = types.SimpleNamespace(upload_expiry_seconds=EXPIRY, upload_expiry_from=expiry_from)
    return types.SimpleNamespace(limits=limits)


def _probe(registry_url: str, repo: str) -> expiry.ExpiryProbe:
    recorder = ExchangeRecorder(limit=None)
    return expiry.ExpiryProbe(RegistryClient(registry_url, recorder=recorder), recorder, repo, EXPIRY)


def test_the_check_judges_the_probes_sessions_and_shows_its_answers(registry_url: str) -> None:
    probe = _probe(registry_url, "probe/on-time")
    check_record = ExchangeRecorder(limit=None)
    opened = probe.take(check_record)
    assert opened is not None and opened.on_time
    sent = [(e.method, e.status) for e in check_record.exchanges]
    assert sent.count(("POST", 202)) == 2 and sent.count(("PATCH", 202)) == 3
    expiry.judge(RegistryClient(registry_url), opened, _target())  # the server keeps the rule: no failure


def test_a_server_that_keeps_sessions_fails_the_check_from_the_probes_sessions(registry_url: str) -> None:
    """Declared "from the last activity" while the server expires from the start: the busy session is
    gone too early, and the check says so."""
    opened = _probe(registry_url, "probe/wrong-rule").take(ExchangeRecorder(limit=None))
    assert opened is not None
    with pytest.raises(AssertionError, match="still open"):
        expiry.judge(RegistryClient(registry_url), opened, _target("last_activity"))


def test_a_late_probe_leaves_the_sessions_to_the_check(
    registry_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(expiry, "MIDWAY_LATEST", 0.0)  # every mid-way chunk counts as sent too late
    assert _probe(registry_url, "probe/late").take(ExchangeRecorder(limit=None)) is None


def test_a_failure_in_the_probe_is_the_checks_failure(registry_url: str) -> None:
    probe = _probe(registry_url, "Probe/Not-A-Valid-Name")
    check_record = ExchangeRecorder(limit=None)
    with pytest.raises(AssertionError, match="LIM-2: an upload session opens"):
        probe.take(check_record)
    assert [e.method for e in check_record.exchanges] == ["POST"]  # its evidence travels with it


def test_an_alone_check_waits_for_background_work() -> None:
    waited: list[str] = []
    state = types.SimpleNamespace(lock_path=None, lanes=1, background=[lambda: waited.append("probe")])
    config = types.SimpleNamespace(stash={STATE: state})

    def run(alone: bool) -> None:
        item = types.SimpleNamespace(
            config=config, get_closest_marker=lambda name: object() if alone and name == "alone" else None
        )
        protocol = parallel.pytest_runtest_protocol(item, None)  # type: ignore[arg-type]
        next(protocol)  # up to the check itself
        protocol.close()

    run(alone=False)
    assert waited == []
    run(alone=True)
    assert waited == ["probe"]
