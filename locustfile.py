"""VoiceOffers load-and-behavior harness — run with ``locust -f locustfile.py``.

Thin on purpose: the users, the warm-up shape and every hook live in ``harness/``.
``import locust`` comes first so gevent patches ``select`` before psycopg is imported.
"""

from locust import events

from harness.agent.user import PersonaUser as _PersonaUserBase
from harness.wiring.install import install
from harness.wiring.shape import WarmupRamp  # noqa: F401  (Locust picks the shape up from here)

install(events)


class PersonaUser(_PersonaUserBase):
    """One persona agent (leased from the master for this user's lifetime)."""

    abstract = False
