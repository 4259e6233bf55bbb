"""keelhaul: conformance and load testing for container registries, with a reference registry."""

__version__ = "0.1.0"
