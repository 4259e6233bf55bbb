"""Per-process state of a load run: settings, target profile, ledger and repository names.

One `LoadRun` hangs off Locust's Environment. Settings are read lazily because a worker receives its
option values from the master only with the first spawn message.
"""

from __future__ import annotations

import itertools
import secrets
from functools import cached_property

from keelhaul.client import BlobSource, GeneratedBlob, SharedPrefixBlob
from keelhaul.profile import TargetProfile
from load.ledger import Ledger
from load.meter import ProcessFigures, Resources, SelfMeter, process_name
from load.options import LoadSettings
from load.target import resolve_profile

_ATTRIBUTE = "keelhaul_run"


class LoadRun:
    def __init__(self, environment) -> None:  # type: ignore[no-untyped-def]
        self.environment = environment
        self.ledger = Ledger()
        self.meter = SelfMeter()  # this process, as a generator
        self.resources = Resources()  # every generator process and the target, on the master/local
        self._numbers = itertools.count(1)
        # Tells this process's repositories apart from other workers' within one run id.
        self.process_tag = secrets.token_hex(3)
        self.run_time: int | None = None  # seconds, when a headless master took over --run-time
        self.stopped_workers: set[str] = set()  # workers that acknowledged a graceful stop
        self.stopping = False  # a graceful stop is under way

    @cached_property
    def settings(self) -> LoadSettings:
        return LoadSettings.from_environment(self.environment)

    @cached_property
    def profile(self) -> TargetProfile:
        return resolve_profile(self.settings)

    def forget_settings(self) -> None:
        """Drop cached settings/profile (a new test started, maybe with new options from the UI)."""
        self.__dict__.pop("settings", None)
        self.__dict__.pop("profile", None)

    def own_figures(self) -> ProcessFigures:
        """This process's MB/s, CPU and memory since its test started."""
        return self.meter.figures(self.ledger, process_name(self.environment.runner))

    def next_number(self) -> int:
        return next(self._numbers)

    def new_repository(self, scenario: str) -> str:
        """`<namespace>/keelhaul-<run-id>-<n>`: the only repositories the suite ever writes to."""
        name = f"keelhaul-{self.settings.run_id}-{self.process_tag}{self.next_number()}-{scenario}"
        namespace = self.profile.namespace.strip("/")
        return f"{namespace}/{name}" if namespace else name

    def layer(self, size: int, seed: str) -> BlobSource:
        """A generated layer as --content says: all bytes unique, or a shared prefix per run and size."""
        if self.settings.content == "shared-prefix":
            return SharedPrefixBlob(size, seed=seed, family=f"{self.settings.seed}:{self.settings.run_id}")
        return GeneratedBlob(size, seed=seed)

    def content_seed(self, repository: str, number: int) -> str:
        """Unique per layer (no dedupe between layers, workers or runs), reproducible from the options."""
        return f"{self.settings.seed}:{repository}:{number}"


def load_run(environment) -> LoadRun:  # type: ignore[no-untyped-def]
    run = getattr(environment, _ATTRIBUTE, None)
    if run is None:
        run = LoadRun(environment)
        setattr(environment, _ATTRIBUTE, run)
    return run
