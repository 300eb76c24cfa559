"""Runnable examples: ``python -m gepetto.examples.evolve_function``."""
