"""``WarmupRamp``: the owner's warm-up (10/25/50/75/100 % by sim hour) as a Locust load shape.

The user count follows the *simulated* clock (a paused clock holds the ramp); the total is
the number of active personas. The run ends (``None``) once ``--sim-duration`` is reached
and every slot before it was acted or counted missed — as soon as no user of any process
owes an hour, at most ``--drain-seconds`` plus a short close later, whatever the load
(``harness.control.finish.RunEnd``). ``tick`` runs only on the master/standalone;
constructing it has no side effects (every process instantiates it).
"""

from __future__ import annotations

from locust import LoadTestShape

from harness.agent.runtime import director_of


class WarmupRamp(LoadTestShape):
    use_common_options = False

    def tick(self) -> tuple[int, float] | None:
        director = director_of(self.runner.environment) if self.runner else None
        if director is None:
            return None
        if director.finished():
            return None
        users = director.target_users()
        # Users are cheap to start (they lease, then sleep until their slot): spawn fast so
        # each ramp stage is reached well inside its simulated hour.
        # (At most 100/s below 500 users: Locust warns above that, and it is never needed.)
        return users, float(max(100, users // 5))
