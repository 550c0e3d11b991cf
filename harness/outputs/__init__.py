"""What a run writes and shows: ``run_files`` (the ``runs/<run_id>/`` directory, Locust-format
CSVs, stats samples, the event log, ``hours.csv``, the HTML report), ``manifest`` (what ran,
with which settings and code), ``prometheus`` (the ``/metrics`` page, rendered from a status
dict) and ``tracing`` (``--otel`` session traces and gauges). It imports no other room but
``config``; ``control`` and ``agent`` write through it.
"""
