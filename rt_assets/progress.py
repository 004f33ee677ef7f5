"""Progress of a daily run (``run_daily``'s callback) and its console display. No Dagster.

``run_daily`` reports each phase and each state's start and end as a ``Progress``;
``DayProgress`` keeps the counts and estimates the time left; ``LineDisplay`` prints one
line per event (logs, CI, a pipe) and ``LiveDisplay`` adds a status line that it redraws
every second on a terminal.
"""

from __future__ import annotations

import heapq
import io
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

PHASES = 3


@dataclass(frozen=True)
class Progress:
    """One step of a daily run.

    ``event``: "phase" (a phase begins), "started", "finished" or "failed". ``state`` is
    empty for the phases themselves (a failed phase 1 or 3 ends the day's run or its
    publication); ``seconds`` is a finished state's step time.
    """

    event: str
    phase: int
    state: str = ""
    seconds: float = 0.0
    message: str = ""


ProgressCallback = Callable[[Progress], None]


def format_duration(seconds: float) -> str:
    """``45s``, ``3m05s``, ``1h02m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def estimate_left(
    durations: list[float], running_for: list[float], pending: int, parallel: int
) -> float | None:
    """Seconds until the last state is done; None before any state has finished.

    Each state left is assumed to take the mean of the finished ones, a running state the
    rest of that mean; the pending states go, in turn, to whichever of the ``parallel``
    workers is free first (the pool's order).
    """
    if not durations:
        return None
    mean = sum(durations) / len(durations)
    free_at = [max(mean - elapsed, 0.0) for elapsed in running_for]
    free_at += [0.0] * max(max(parallel, 1) - len(free_at), 0)
    heapq.heapify(free_at)
    for _ in range(pending):
        heapq.heappush(free_at, heapq.heappop(free_at) + mean)
    return max(free_at)


@dataclass
class DayProgress:
    """Counts of a daily run's states, fed with ``Progress`` events."""

    states: list[str]
    parallel: int = 1
    started_at: float = field(default_factory=time.monotonic)
    phase: int = 0
    phase_text: str = ""
    running: dict[str, float] = field(default_factory=dict)  # state -> when it started
    seconds: dict[str, float] = field(default_factory=dict)  # finished state -> step time
    failed: dict[str, str] = field(default_factory=dict)

    def update(self, p: Progress, now: float) -> None:
        if p.event == "phase":
            self.phase, self.phase_text = p.phase, p.message
        elif p.state and p.event == "started":
            self.running[p.state] = now
        elif p.state and p.event in ("finished", "failed"):
            self.running.pop(p.state, None)
            self.seconds[p.state] = p.seconds
            if p.event == "failed":
                self.failed[p.state] = p.message

    @property
    def pending(self) -> int:
        return len(self.states) - len(self.seconds) - len(self.running)

    def time_left(self, now: float) -> float | None:
        return estimate_left(
            list(self.seconds.values()),
            [now - since for since in self.running.values()],
            self.pending,
            self.parallel,
        )

    def counts(self, now: float) -> str:
        """``3/51 states done, 2 running (CA, NY), 1 failed | 4m12s elapsed | ~15m30s left``."""
        done = len(self.seconds)
        text = f"{done}/{len(self.states)} states done"
        if self.running:
            text += f", {len(self.running)} running ({', '.join(self.running)})"
        if self.failed:
            text += f", {len(self.failed)} failed"
        text += f" | {format_duration(now - self.started_at)} elapsed"
        if self.phase == 2 and done < len(self.states):
            left = self.time_left(now)
            text += (
                " | time left: estimating" if left is None else f" | ~{format_duration(left)} left"
            )
        return text

    def line(self, p: Progress, now: float) -> str:
        """The line that records ``p`` (after ``update``)."""
        clock = f"[{format_duration(now - self.started_at):>6}]"
        if p.event == "phase":
            return f"{clock} phase {p.phase}/{PHASES}: {p.message}"
        if not p.state:
            return f"{clock} phase {p.phase}/{PHASES} {p.event}: {p.message}".rstrip(": ")
        if p.event == "started":
            return f"{clock} {p.state} started | {self.counts(now)}"
        if p.event == "finished":
            return f"{clock} {p.state} done in {format_duration(p.seconds)} | {self.counts(now)}"
        return (
            f"{clock} {p.state} FAILED after {format_duration(p.seconds)}: {p.message} "
            f"| {self.counts(now)}"
        )


class LineDisplay:
    """One line per event: for logs, CI and pipes."""

    def __init__(
        self,
        states: list[str],
        parallel: int = 1,
        out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.clock = clock
        self.day = DayProgress(list(states), max(1, parallel), started_at=clock())
        self.out = out or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, p: Progress) -> None:
        with self._lock:
            now = self.clock()
            self.day.update(p, now)
            self._write(self.day.line(p, now))

    def _write(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def close(self) -> None:
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LiveDisplay(LineDisplay):
    """On a terminal: the same lines, and below them a status line redrawn every second."""

    CLEAR = "\r\x1b[2K"

    def __init__(self, *args, refresh_s: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self._stop = threading.Event()
        self._ticker = threading.Thread(
            target=self._tick, args=(refresh_s,), name="rt-progress", daemon=True
        )
        self._ticker.start()

    def _status(self) -> str:
        day = self.day
        phase = f"phase {day.phase}/{PHASES}" if day.phase else "starting"
        return f"{phase} | {day.counts(self.clock())}"[: self._width()]

    def _width(self) -> int | None:
        """One terminal row: a wrapped status line could not be redrawn in place."""
        try:
            columns = os.get_terminal_size(self.out.fileno()).columns
        except (OSError, ValueError, io.UnsupportedOperation):
            return None  # not a terminal (tests)
        return columns - 1 if columns > 1 else None  # a pty may report 0 columns

    def _write(self, line: str) -> None:
        self.out.write(f"{self.CLEAR}{line}\n{self._status()}")
        self.out.flush()

    def _tick(self, refresh_s: float) -> None:
        while not self._stop.wait(refresh_s):
            with self._lock:
                self.out.write(f"{self.CLEAR}{self._status()}")
                self.out.flush()

    def close(self) -> None:
        self._stop.set()
        self._ticker.join()
        with self._lock:
            self.out.write(self.CLEAR)
            self.out.flush()


def display_for(states: list[str], parallel: int, out: TextIO | None = None) -> LineDisplay:
    """A live status line on a terminal, plain lines otherwise."""
    out = out or sys.stdout
    kind = LiveDisplay if out.isatty() else LineDisplay
    return kind(states, parallel, out=out)
