"""Locust wiring: what ``locustfile.py`` imports. ``install`` registers every event hook
(options, ``init``, ``test_start``, ``quitting``, worker reports, SIGTERM) and builds the
process — its runtime, and on the master the embedded stack, the director and the web UI
tab; ``join`` is a worker joining a run (it obeys the master's options, checks the
database fingerprint or refuses); ``lifecycle`` makes every worker end with its master;
``shape`` is the ``WarmupRamp`` load shape. The top of the Locust side: it may import
every other room but ``cli``, and only ``locustfile.py`` imports it.
"""
