"""Master control (also a standalone process): the ``SimulationDirector`` that owns the
clock and drives the run, the lease pool and where its personas come from, the circuit
breaker, checkpoints and resume, the run's rows in the database, the calls control makes
to the target itself (``/health``, ``/time/advance``), what it reports while running
(``status``) and the end of a run. It may import ``agent`` (the process runtime and hour
counters), ``outputs`` and ``config``; ``webui`` and ``wiring`` import it.
"""
