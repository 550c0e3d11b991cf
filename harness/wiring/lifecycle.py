"""Process lifecycle: whatever way the master ends, its workers end.

- **``--processes`` children die with their master.** Locust forks them *before* the
  master's ``init`` runs, and a master that exits without its ``atexit`` (``os._exit`` on a
  start-up error, SIGKILL) left them retrying the connection for minutes, holding the
  caller's terminal. A fork hook registered when the locustfile is imported (before the
  fork) asks Linux to send each child SIGTERM when its parent dies
  (``PR_SET_PDEATHSIG``), and exits at once if the parent is already gone.
- **A worker whose master is gone says so and exits.** A forked child checks its parent
  every second; a worker started by hand watches the master's heartbeats (one a second)
  and gives up after ``$LOADSIM_MASTER_SILENCE_S`` of silence (30 s; read with the other
  settings, ``db.settings.SimSettings.master_silence_s``) — Locust's own check waits 60 s,
  and never fires if no heartbeat ever arrived.

Linux only (``prctl``); elsewhere the hook does nothing and the heartbeat watch remains.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from locust.env import Environment
    from locust.runners import Runner

log = logging.getLogger("loadsim")

_forking_pid: int | None = None
_parent_at_fork: int | None = None
_hook_installed = False


def install_fork_guard() -> None:
    """Register the fork hook (once per process; call at import, before Locust forks)."""
    global _hook_installed
    if _hook_installed or not hasattr(os, "register_at_fork"):
        return
    _hook_installed = True
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _before_fork() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def _after_fork_in_child() -> None:
    global _parent_at_fork
    parent = _forking_pid
    _parent_at_fork = parent
    _die_with_parent()
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # the parent died between the fork and the prctl: nothing to serve


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def parent_gone() -> bool:
    """A forked child whose parent (the master) has exited."""
    return _parent_at_fork is not None and os.getppid() != _parent_at_fork


def watch_master(environment: Environment, runner: Runner, *, silence_s: float) -> None:
    """Worker, at ``init``: stop with one clear line when the master is gone — its
    process exited (a forked child), or ``silence_s`` seconds without its heartbeat."""
    import gevent

    last = [time.monotonic()]

    def on_heartbeat(**_: Any) -> None:
        last[0] = time.monotonic()

    environment.events.heartbeat_received.add_listener(on_heartbeat)
    # While this worker stops (the master said stop or quit), silence is expected: users
    # may take the run's stop timeout to finish their hours. Watch again once stopped.
    stopping = [False]

    def on_stopping(**_: Any) -> None:
        stopping[0] = True

    def on_stopped(**_: Any) -> None:
        stopping[0] = False
        on_heartbeat()

    environment.events.test_stopping.add_listener(on_stopping)
    environment.events.test_stop.add_listener(on_stopped)
    where = f"{getattr(runner, 'master_host', '?')}:{getattr(runner, 'master_port', '?')}"

    def loop() -> None:
        while True:
            gevent.sleep(1.0)
            if parent_gone():
                why = f"the master process (pid {_parent_at_fork}) is gone"
            elif not stopping[0] and time.monotonic() - last[0] > silence_s:
                why = f"no heartbeat from the master at {where} for {silence_s:.0f} s"
            else:
                continue
            master_gone(environment, runner, why)
            return

    gevent.spawn(loop)


_stopping = False

GONE_STOP_S = 3.0
"""Users of a worker whose master is gone get this long to finish (not the run's 60 s):
nobody is left to report to, and the caller waits for the process."""


def master_gone(environment: Environment, runner: Runner, why: str) -> None:
    """One line, then stop this worker (exit 1): users get :data:`GONE_STOP_S`, and the
    process exits hard a few seconds later if stopping hangs (messages queued for a dead
    master can hold Locust's exit)."""
    if not _begin_exit(environment, why):
        return
    import gevent

    gevent.spawn(runner.quit)


def note_exit(environment: Environment) -> None:
    """At ``quitting`` on a worker: the SIGTERM sent when the parent died (PDEATHSIG) goes
    through Locust's own shutdown — it gets the same line and the same short stop."""
    if parent_gone():
        _begin_exit(environment, f"the master process (pid {_parent_at_fork}) is gone")


def _begin_exit(environment: Environment, why: str) -> bool:
    if _stopping:
        return False
    sys.stderr.write(f"loadsim: {why}: this worker stops\n")
    sys.stderr.flush()
    leave(environment, code=1, stop_timeout=GONE_STOP_S)
    return True


def leave(environment: Environment, *, code: int, stop_timeout: float) -> None:
    """This worker is on its way out with ``code``: users get ``stop_timeout`` seconds,
    the process exits hard 3 s after that if stopping hangs, and nothing else here speaks
    again (the watch on the master stays quiet)."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    import gevent

    environment.process_exit_code = code
    environment.stop_timeout = stop_timeout
    gevent.spawn_later(stop_timeout + 3.0, os._exit, code)
