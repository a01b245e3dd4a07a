"""Roster: the people layer for company intranets."""

__version__ = "0.1.0"
