"""A chunked upload whose connection drops mid-way resumes from the target's Range: the upload still
commits and verifies, the ledger counts the resume, and Locust sees the drop as a named failure."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
from locust.event import Events

from keelhaul.client import GeneratedBlob, RegistryClient
from load import flows
from load.events import LocustRecorder
from load.prehash import LayerQueue
from load.run import LoadRun

from .conftest import make_environment


class DropThirdPatch(httpx.HTTPTransport):
    """Forwards everything, except that the third PATCH never reaches the server: the connection
    'drops' before any answer, as a proxy cutting a long upload would."""

    def __init__(self) -> None:
        super().__init__()
        self.patches = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            self.patches += 1
            if self.patches == 3:
                raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return super().handle_request(request)


def test_dropped_connection_resumes_and_is_counted(registry_url: str) -> None:
    environment = make_environment([], ["--host", registry_url, "--run-id", "resume"])
    environment.events = Events()
    fired: list[dict] = []
    environment.events.request.add_listener(lambda **event: fired.append(event))
    run = LoadRun(environment)
    recorder = LocustRecorder(environment, run.ledger, "chunked")
    transport = DropThirdPatch()
    with RegistryClient(registry_url, recorder=recorder, transport=transport) as client:
        user = SimpleNamespace(
            load_run=run,
            recorder=recorder,
            client=client,
            environment=environment,
            scenario="chunked",
            repository="keelhaul-resume-1",
            layers=LayerQueue(run.layer),
        )
        record = flows.push_blob(user, 9 << 20, chunk_size=1 << 20, label="chunked layer")  # type: ignore[arg-type]
    assert record is not None and record.resumes == 1 and run.ledger.uploads == [record]
    failures = [(e["request_type"], e["name"], str(e["exception"])) for e in fired if e["exception"]]
    assert failures == [("PATCH", "blob upload chunk", "RemoteProtocolError")]
    names = [(e["request_type"], e["name"]) for e in fired]
    assert ("GET", "blob upload status") in names  # where is the server? its Range says
    assert names[-1] == ("UPLOAD", "chunked layer 9MiB in 1MiB chunks")
    assert names.count(("PATCH", "blob upload chunk")) == 10  # 9 chunks + the dropped one
    # 9 MiB is hashed ahead in a thread (prehash): the digest the target accepted is the content's
    assert record.digest == GeneratedBlob(9 << 20, seed=run.content_seed("keelhaul-resume-1", 1)).digest
