"""The reference server inside a test or a `keelhaul check` run (thread or forked child), or as a
child process of its own.

EmbeddedServer: a background thread with its own event loop; `.start()` returns the base URL.
ForkedServer: an EmbeddedServer in a child forked from this process: the caller's imports, hooks and
configuration as they are, but an interpreter lock of its own, so checks running in this process (and
in processes forked from it) do not wait for the server's turn, nor it for theirs.
ServerProcess: `python -m keelhaul serve ...` as a subprocess, for kill -9 crash tests and
benchmarks; `.start()` returns the base URL announced by the child.
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


class ForkedServer(_StartedWhileInside):
    """An EmbeddedServer in a forked child. The child serves until this process closes its end of a
    pipe (on stop(), or when this process dies, however it dies), then stops and exits without running
    anything of the parent's (no atexit, no buffered output). Interrupts (Ctrl-C reaches the whole
    process group) are the parent's to handle: the child ignores SIGINT and waits to be told.

    Fork only where it is safe: from a process with one thread (a lock held by another thread at
    the fork would stay held in the child forever); `can_fork()` says so."""

    def __init__(
        self,
        config: ServerConfig,
        policy: AccessPolicy[Any] | None = None,
        *,
        hooks: Sequence[AppHook] = (),
    ) -> None:
        self.config = config
        self.policy = policy
        self.hooks = tuple(hooks)
        self.url: str | None = None
        self.pid: int | None = None
        self._control: int | None = None

    @staticmethod
    def can_fork() -> bool:
        return hasattr(os, "fork") and threading.active_count() == 1

    def start(self, timeout: float = 30.0) -> str:
        if self.url is not None:
            return self.url
        announce_read, announce_write = os.pipe()
        control_read, control_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(announce_read)
            os.close(control_write)
            self._serve_in_child(announce_write, control_read)
        os.close(announce_write)
        os.close(control_read)
        self.pid, self._control = pid, control_write
        answer = _read_all(announce_read, timeout)
        os.close(announce_read)
        if not answer.startswith(READY_PREFIX):
            self.stop()
            raise RuntimeError(answer.strip() or "the forked server exited before it started")
        self.url = answer[len(READY_PREFIX) :].split()[0]
        return self.url

    def _serve_in_child(self, announce: int, control: int) -> None:
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            server = EmbeddedServer(self.config, self.policy, hooks=self.hooks)
            try:
                url = server.start()
            except Exception as error:  # told to the parent, which raises it
                os.write(announce, f"{type(error).__name__}: {error}".encode())
                code = 1
            else:
                os.write(announce, f"{READY_PREFIX}{url}\n".encode())
                os.close(announce)
                while os.read(control, 1):  # nothing is ever written: EOF is the word to stop
                    pass
                server.stop()
        finally:
            os._exit(code)

    def stop(self, timeout: float = 30.0) -> None:
        if self._control is not None:
            os.close(self._control)
            self._control = None
        if self.pid is not None:
            _reap(self.pid, timeout)
            self.pid = None
        self.url = None


def _read_all(fd: int, timeout: float) -> str:
    """Everything written to the pipe `fd` until its writer closes it or `timeout` passes."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0 and selector.select(left):
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            chunks.append(chunk)
            if chunks[-1].endswith(b"\n"):
                break
    return b"".join(chunks).decode(errors="replace")


def _reap(pid: int, timeout: float) -> None:
    """Wait for the child `pid` to exit; past `timeout`, kill it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


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
