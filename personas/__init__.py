"""Personas: the 28-attribute model, the workbook reader, the sample generator, seeding,
and the synthetic catalog the sample's preferences refer to (``personas.vocab``)."""

from pathlib import Path

from personas.model import Persona

SAMPLE_PATH: Path = Path(__file__).resolve().parent / "data" / "sample_personas.xlsx"
"""The shipped 372-persona sample, derived from Complete Journey households (``loadsim
personas derive --from completejourney --households 372 --seed 1``); the embedded
default seeds it. ``loadsim personas sample`` still generates synthetic personas."""

__all__ = ["SAMPLE_PATH", "Persona"]
