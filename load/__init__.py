"""The load suite: Locust scenarios that stress a registry."""
