"""Personas: the 28-attribute model, the workbook reader, the sample generator, seeding,
and the synthetic catalog the sample's preferences refer to (``personas.vocab``)."""

from pathlib import Path

from personas.model import Persona

SAMPLE_PATH: Path = Path(__file__).resolve().parent / "data" / "sample_personas.xlsx"
"""The shipped 372-persona sample (``loadsim personas sample -n 372 --seed 372``); the
embedded default seeds it."""

__all__ = ["SAMPLE_PATH", "Persona"]
