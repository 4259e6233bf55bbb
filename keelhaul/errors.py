"""Errors that reach a person at the command line: one line, no stack trace."""


class UsageError(Exception):
    """Bad command-line input or an unusable environment; printed as `keelhaul: <message>`."""
