"""Sensors of this code location."""

SENSORS: list = []
