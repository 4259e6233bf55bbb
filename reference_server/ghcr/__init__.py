"""The ghcr.io model of the reference server: accounts, personal access tokens and workflow tokens,
the Docker token service, visibility and package permissions, repository links from labels, the
GitHub-shaped packages REST API and the package pages. See README.md in this folder for every choice
made where ghcr.io's documentation is silent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reference_server.config import ServerConfig
    from reference_server.ghcr.policy import GhcrPolicy


def build_policy(config: ServerConfig) -> GhcrPolicy:
    """The AccessPolicy `keelhaul serve` uses unless `--no-auth`; its data is DATA/accounts.db."""
    from reference_server.ghcr.policy import GhcrPolicy

    return GhcrPolicy(config)
