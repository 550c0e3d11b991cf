"""A worker joins a run: it obeys the master's options and
checks that its database is the master's — or refuses, with one clear line.

**The master decides.** A worker started by hand (``locust --worker --master-host …``)
parsed its own command line at ``init``; the run config carries the master's
``HarnessOptions``. The worker adopts them before it builds anything (engine size, HTTP
pools, browse mode, rate share) and logs one warning naming each flag where its own value
differed. Locust's own options stay Locust's.

**No secret travels.** Workers take ``DATABASE_URL`` from their own environment; the
master sends only a fingerprint (host, port, database, user). A worker with no URL, or one
that points elsewhere, refuses to join: it tells the master (``Refused``) and exits 2.
The embedded default (a loopback unix socket, no password) is the one URL the master
hands over, for workers on its own machine.
"""

from __future__ import annotations

import logging
import sys

from harness.agent.runtime import ProcessRuntime
from harness.config.messages import DbFingerprint, Refused, RunConfig, send
from harness.config.options import HarnessOptions
from harness.wiring import lifecycle

log = logging.getLogger("loadsim")


def adopt_master_options(rt: ProcessRuntime, cfg: RunConfig) -> None:
    """Use the master's harness options from now on; warn once naming the flags that
    differed from this worker's own."""
    if not cfg.harness:
        return  # a master that sends none (older): keep our own
    theirs = HarnessOptions.from_json(cfg.harness)
    differ = rt.opts.differences(theirs)
    if differ:
        log.warning("the master decides this run's options; using its %s", "; ".join(differ))
    rt.opts = theirs  # the engine this worker opens uses the master's --db-pooler too


def database_refusal(cfg: RunConfig, own_url: str | None) -> str | None:
    """Why this worker cannot act on the run's database (``None``: it can)."""
    if cfg.mock_db:
        return None
    master = cfg.fingerprint
    if master is None:
        return None  # an older master: nothing to compare with
    if not own_url:
        if cfg.database_url:
            return None  # the embedded default, handed over: same machine
        return (
            f"this worker has no DATABASE_URL; the run's database is {master.describe()} — "
            "set DATABASE_URL (with its password) in this worker's environment"
        )
    try:
        mine = DbFingerprint.from_url(own_url)
    except Exception as exc:  # noqa: BLE001 - a bad URL is a refusal, in one line
        return f"this worker's DATABASE_URL cannot be used: {exc}"
    if not mine.same_database(master):
        return (
            f"this worker's DATABASE_URL is {mine.describe()} but the run's database is "
            f"{master.describe()} — one run, one database: fix DATABASE_URL on this worker"
        )
    return None


def refuse(rt: ProcessRuntime, reason: str) -> None:
    """Tell the master why, print one line, and quit (exit 2)."""
    import gevent

    env = rt.environment
    sys.stderr.write(f"loadsim: error: this worker refuses to join the run: {reason}\n")
    sys.stderr.flush()
    try:
        send(rt.runner, Refused(reason=reason))
    except Exception:  # noqa: BLE001 - the master learns it from Locust's quit anyway
        log.debug("could not send the refusal to the master", exc_info=True)
    # Its users never acted (they wait for the run config): stop them at once.
    lifecycle.leave(env, code=2, stop_timeout=0.0)
    gevent.spawn_later(0.2, rt.runner.quit)


def on_refused(refused: Refused, node: str) -> None:
    """Master: a worker refused to join; say who and why."""
    log.error("worker %s refused to join the run: %s", node, refused.reason)
