"""Opt-in robustness probes (`keelhaul check --robustness`): slow and idle connections, Range edge
cases, listing cost, concurrent pushes. Each names a ROBUSTNESS-level requirement, so what it finds is
a ROBUSTNESS finding, never a FAIL. They write only under the run's own repositories and hold at most
--robustness-connections sockets open at once."""
