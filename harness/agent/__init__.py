"""The agent side, in every Locust process that runs users: the ``ProcessRuntime`` they
share (clock, engine, recorder, catalog cache, token bucket, HTTP pools, graph, hour
counters; reached with ``runtime.runtime_of``), the ``PersonaUser`` that acts once per
simulated hour, the HTTP ``Shop``, the recorder that writes an hour to Postgres, and the
hour counters the director merges. It may import only ``config`` among the rooms (and
``behaviors``, ``personas``, ``offer_engine``, ``db``); ``control``, ``webui``, ``wiring``
and ``cli`` import it.
"""
