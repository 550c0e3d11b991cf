"""The Locust side of the harness: settings, users, shape, director, CLI."""
