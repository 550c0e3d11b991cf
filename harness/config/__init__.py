"""What a run is told: ``options`` (the harness's Locust command-line options, parsed and
validated once into ``HarnessOptions``) and ``messages`` (the master↔worker message names
and the ``RunConfig`` they carry). The ground floor of the harness: it imports no other
room, and every room may import it.
"""
