"""What a run writes to ``runs/<run_id>/``: ``run_files`` (the directory, Locust-format
CSVs, stats samples, the event log, ``hours.csv``, the HTML report) and ``manifest`` (what
ran, with which settings and code). It imports no other room; ``control`` writes through it.
"""
