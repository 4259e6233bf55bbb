"""The conformance suite: pytest checks of OCI Distribution v1.1 and ghcr.io promises."""
