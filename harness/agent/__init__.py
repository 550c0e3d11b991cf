"""The agent side, in every Locust process that runs users: the ``ProcessRuntime`` they
share (clock, engine, recorder, catalog cache, token bucket, HTTP pools, graph, hour
counters; reached with ``runtime.runtime_of``), the run's rate and connection budgets
as this process's share (``budget``, ``rate_limit``), the ``PersonaUser`` that schedules one
agent's simulated hours, the hour itself as one unit (``hour``: decide, claim, play,
finish, count), the pacing of a session in simulated time (``pacing``), the HTTP ``Shop``,
the recorder that writes an hour to Postgres, and the hour counters the director merges. It may import only ``config`` among the rooms (and
``behaviors``, ``personas``, ``offer_engine``, ``db``); ``control``, ``webui``, ``wiring``
and ``cli`` import it.
"""
