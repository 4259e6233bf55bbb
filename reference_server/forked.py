"""The reference server in a child forked from this process (`keelhaul check`'s embedded target).

The child starts with the caller's configuration, hooks and imports as they are, and has an
interpreter lock of its own: checks running in the caller (and in processes forked from it) never wait
for the server's turn, nor it for theirs. This module imports nothing of the server: the child does,
so a caller that launches the server early goes on with its own imports on the other core while the
child imports aiohttp and starts.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import selectors
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reference_server.access import AccessPolicy
    from reference_server.config import ServerConfig
    from reference_server.embedded import EmbeddedServer
    from reference_server.http.app import AppHook

Prepare = Callable[[], Any]  # runs in the child before any server starts; its result comes back


class ForkedServer:
    """An EmbeddedServer in a forked child. `launch()` forks and returns at once; `wait()` returns the
    base URL once the child serves, or raises what stopped it. The child first runs `prepare` (its
    picklable result comes back as `prepared`), then starts one more instance per folder in `copies`,
    each in a process of its own serving a copy of the data folder as `prepare` left it (`urls`: the
    first instance's URL, then the copies'). Instances share nothing after that: callers that split
    their work between them must keep each piece of work on one instance.

    The child serves until this process closes its end of a pipe (on stop(), or when this process
    dies, however it dies), then stops and exits without running anything of the parent's (no atexit,
    no buffered output). Interrupts (Ctrl-C reaches the whole process group) are the parent's to
    handle: the child ignores SIGINT and waits to be told.

    Fork only where it is safe: from a process with one thread (a lock held by another thread at the
    fork would stay held in the child forever); `can_fork()` says so."""

    def __init__(
        self,
        config: ServerConfig,
        policy: AccessPolicy[Any] | None = None,
        *,
        hooks: Sequence[AppHook] = (),
        prepare: Prepare | None = None,
        copies: Sequence[Path] = (),
        log_path: Path | None = None,
    ) -> None:
        """`log_path`: where every instance's output goes (appended), instead of the terminal or
        whatever this process's stdout and stderr are at the fork."""
        self.config = config
        self.policy = policy
        self.hooks = tuple(hooks)
        self.prepare = prepare
        self.copies = tuple(copies)
        self.log_path = log_path
        self.url: str | None = None
        self.urls: list[str] = []
        self.prepared: Any = None
        self.pid: int | None = None
        self._control: int | None = None
        self._announce: int | None = None

    @staticmethod
    def can_fork() -> bool:
        return hasattr(os, "fork") and threading.active_count() == 1

    def launch(self) -> None:
        if self.pid is not None:
            return
        announce_read, announce_write = os.pipe()
        control_read, control_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(announce_read)
            os.close(control_write)
            self._serve_in_child(announce_write, control_read)
        os.close(announce_write)
        os.close(control_read)
        self.pid, self._control, self._announce = pid, control_write, announce_read

    def wait(self, timeout: float = 30.0) -> str:
        """The base URL once the child serves; what stopped it, raised, if it did not."""
        if self.url is not None:
            return self.url
        if self._announce is None:
            raise RuntimeError("the forked server was not launched")
        answer = _read_to_end(self._announce, timeout)
        os.close(self._announce)
        self._announce = None
        try:
            kind, *rest = pickle.loads(answer)  # our own child's bytes
        except Exception:  # any garbled or missing answer means the same: no server
            self.stop()
            raise RuntimeError("the forked server exited before it started") from None
        if kind != "ready":
            self.stop()
            raise rest[0]
        self.urls, self.prepared = rest
        self.url = self.urls[0]
        return self.url

    def start(self) -> str:
        self.launch()
        return self.wait()

    def _serve_in_child(self, announce: int, control: int) -> None:
        code = 1
        copies: list[tuple[int, int]] = []  # (pid, announcement pipe) of each copy
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            if self.log_path is not None:
                _output_to(self.log_path)

            def start(server: EmbeddedServer) -> tuple[object, ...]:
                prepared = self.prepare() if self.prepare is not None else None
                for folder in self.copies:
                    shutil.copytree(self.config.data_dir, folder)
                    config = dataclasses.replace(self.config, data_dir=folder)
                    # the copy holds no writer of the parent's announcement: the parent reads it to its end
                    copies.append(self._fork_copy(config, control, [announce, *(pipe for _, pipe in copies)]))
                urls = [server.start()]
                for _, pipe in copies:
                    kind, *rest = pickle.loads(_read_to_end(pipe, 30.0) or pickle.dumps(("error", _GONE)))
                    if kind != "ready":
                        raise rest[0]
                    urls.append(rest[0])
                return ("ready", urls, prepared)

            code = self._instance(self.config, announce, control, start)
        finally:
            for pid, _ in copies:
                _reap(pid, 30.0)
            os._exit(code)

    def _fork_copy(self, config: ServerConfig, control: int, not_its: list[int]) -> tuple[int, int]:
        """One more instance, serving `config` (its own data folder) in a process of its own; `not_its`:
        descriptors the copy closes (pipes of its parent's it must not hold open)."""
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the copy: never returns
            code = 1
            try:
                for fd in (read, *not_its):
                    os.close(fd)
                code = self._instance(config, write, control, lambda server: ("ready", server.start()))
            finally:
                os._exit(code)
        os.close(write)
        return pid, read

    def _instance(
        self,
        config: ServerConfig,
        announce: int,
        control: int,
        start: Callable[[EmbeddedServer], tuple[object, ...]],
    ) -> int:
        """One instance's life in its process: `start` it and tell the parent, on the pipe `announce`
        (closed after), what `start` answered or what stopped it; then serve until every writer of the
        pipe `control` closed it (nothing is ever written: EOF is the word to stop); stop. Returns the
        process's exit status."""
        server = None
        try:
            server = _embedded(config, self.policy, self.hooks)
            message, code = pickle.dumps(start(server)), 0
        except Exception as error:  # told to the parent, which raises it
            message, code = _picklable_error(error), 1
        _write_all(announce, message)
        os.close(announce)
        if code == 0:
            while os.read(control, 1):
                pass
        if server is not None:
            server.stop()
        return code

    def stop(self, timeout: float = 30.0) -> None:
        for name in ("_control", "_announce"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
        if self.pid is not None:
            _reap(self.pid, timeout)
            self.pid = None
        self.url = None


_GONE = RuntimeError("a copy of the forked server exited before it started")


def _embedded(
    config: ServerConfig, policy: AccessPolicy[Any] | None, hooks: Sequence[AppHook]
) -> EmbeddedServer:
    from reference_server.embedded import EmbeddedServer

    return EmbeddedServer(config, policy, hooks=hooks)


def _output_to(path: Path) -> None:
    """This process's stdout and stderr (the descriptors, so C code and children write there too)
    append to `path`."""
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for fd in (1, 2):
        os.dup2(log, fd)
    os.close(log)


def _picklable_error(error: Exception) -> bytes:
    """The child's failure as the parent will raise it: the exception itself where it pickles, else a
    RuntimeError naming it."""
    try:
        return pickle.dumps(("error", error))
    except Exception:  # whatever did not pickle, its text still travels
        return pickle.dumps(("error", RuntimeError(f"{type(error).__name__}: {error}")))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_to_end(fd: int, timeout: float) -> bytes:
    """Everything written to the pipe `fd` until its writer closes it, or what came by `timeout`."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0 and selector.select(left):
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


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
