"""Schedules of this code location."""

SCHEDULES: list = []
