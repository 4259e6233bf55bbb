"""Persistence: content-addressed blob files and the SQLite metadata store."""
