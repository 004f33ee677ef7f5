"""Freshness checks of this code location."""
