"""The reference registry: OCI Distribution v1.1 plus the ghcr.io model."""
