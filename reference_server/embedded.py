"""The reference server inside a test or a `keelhaul check` run (thread), or as a child process.

EmbeddedServer: a background thread with its own event loop; `.start()` returns the base URL.
ServerProcess: `python -m keelhaul serve ...` as a subprocess, for kill -9 crash tests and
benchmarks; `.start()` returns the base URL announced by the child.
(reference_server.forked.ForkedServer: an EmbeddedServer in a forked child.)
"""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from reference_server.access import AccessPolicy, OpenAccess
from reference_server.config import ServerConfig
from reference_server.http.app import AppHook, create_app
from reference_server.runtime import bound_port, make_runner, new_event_loop

READY_PREFIX = "keelhaul serve: listening on "


def default_policy(config: ServerConfig) -> AccessPolicy[Any]:
    """OpenAccess without auth; the ghcr.io model otherwise."""
    if not config.auth:
        return OpenAccess()
    from reference_server.ghcr import build_policy

    return build_policy(config)


def _threads_are_greenlets() -> bool:
    """True when gevent has monkey-patched `threading` in this process (Locust does)."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey is not None and monkey.is_module_patched("threading"))


def _format_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _StartedWhileInside(ABC):
    """`with server:` calls start() on entry and stop() on exit, for both ways of running it."""

    @abstractmethod
    def start(self) -> str: ...

    @abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class EmbeddedServer(_StartedWhileInside):
    """Runs the registry in a daemon thread. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        config: ServerConfig,
        policy: AccessPolicy[Any] | None = None,
        *,
        hooks: Sequence[AppHook] = (),
    ) -> None:
        """`hooks`: test hooks for create_app (reference_server.http.app); never set by the product."""
        self.config = config
        self.policy = policy
        self.hooks = tuple(hooks)
        self.url: str | None = None
        self.app: web.Application | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> str:
        if self.url is not None:
            return self.url
        if _threads_are_greenlets():
            raise RuntimeError(
                "EmbeddedServer cannot run after gevent monkey-patching (Locust imported in this "
                "process): its thread would be a greenlet and block; use ServerProcess instead"
            )
        self._thread = threading.Thread(target=self._run, name="keelhaul-embedded-server", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        if self.url is None:
            raise RuntimeError("embedded server did not start within 30 s")
        return self.url

    def _run(self) -> None:
        loop = self._loop = new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:  # reported to start()
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._shutdown())
        loop.close()

    async def _serve(self) -> None:
        policy = self.policy if self.policy is not None else default_policy(self.config)
        self.app = create_app(self.config, policy, hooks=self.hooks)
        self._runner = make_runner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.listen_host, self.config.listen_port)
        await site.start()
        self.url = _format_url(self.config.listen_host, bound_port(self._runner))

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
        self.url = None


class ServerProcess(_StartedWhileInside):
    """`keelhaul serve` in a child process. The child's stderr goes to `log_path`."""

    def __init__(
        self, config: ServerConfig, extra_args: Sequence[str] = (), *, log_path: Path | None = None
    ) -> None:
        self.config = config
        self.extra_args = list(extra_args)
        self.log_path = log_path or Path(config.data_dir).with_name(Path(config.data_dir).name + "-serve.log")
        self.process: subprocess.Popen[str] | None = None
        self.url: str | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 30.0) -> str:
        args = [sys.executable, "-m", "keelhaul", "serve", *self.config.to_cli_args(), *self.extra_args]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a")  # noqa: SIM115 - handed to the child, closed after exit
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        log.close()
        assert self.process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if selector.select(timeout=0.2):
                line = self.process.stdout.readline()
                if line.startswith(READY_PREFIX) or not line:
                    break
        selector.close()
        if not line.startswith(READY_PREFIX):
            self.kill()
            tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise RuntimeError(f"keelhaul serve did not start: {tail.strip() or 'no output'}")
        self.url = line[len(READY_PREFIX) :].split()[0]
        return self.url

    def kill(self) -> None:
        """SIGKILL: no cleanup at all (crash tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self._close()

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        self._close()

    def _close(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.url = None
