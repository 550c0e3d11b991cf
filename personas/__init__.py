"""Personas: the 28-attribute model, the workbook reader, the sample generator, seeding."""

from personas.model import Persona

__all__ = ["Persona"]
