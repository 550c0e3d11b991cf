"""The web UI's Simulation tab, installed on the master only: ``tab`` hooks it
into Locust's Flask app and serves the ``/simulation`` controls; ``page`` renders the HTML;
``rows`` turns the director's status into the tab's rows and CSV. It reads the director
through ``agent.runtime.director_of`` and may import the rooms below it; only
``wiring`` imports it.
"""
