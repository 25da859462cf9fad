"""Solomon-format VRPTW instances and their best-known solutions (bks.csv), read into `Problem`s. Pure parsing:
the callers open the files.

bks.csv holds three kinds of rows that must never be compared with each other (see the data's README):
hierarchical (fewest vehicles, then double-precision distance), distance-only under the DIMACS truncation
(proven optima), and distance-only in double precision (literature best).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from threshold.planning.problem import Problem, Rounding, Site

# Which objective a best-known row was computed under.
BksKind = Literal["hierarchical", "dimacs", "distance-exact"]


class SolomonFormatError(ValueError):
    """The text is not a Solomon instance (the message says where and why)."""


def parse(text: str, *, rounding: Rounding = "exact") -> Problem:
    """A Solomon instance's text as a Problem: row 0 the depot (its window is the horizon), then the customers."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise SolomonFormatError("empty file")
    name = lines[0]
    try:
        at = next(i for i, line in enumerate(lines) if line.upper().startswith("VEHICLE"))
        vehicles, capacity = (int(v) for v in lines[at + 2].split()[:2])
        start = next(i for i, line in enumerate(lines) if line.upper().startswith("CUSTOMER")) + 2
    except (StopIteration, ValueError, IndexError) as exc:
        raise SolomonFormatError("missing or malformed VEHICLE / CUSTOMER section") from exc
    sites: list[Site] = []
    for number, line in enumerate(lines[start:], start=start + 1):
        fields = line.split()
        if len(fields) != 7:
            raise SolomonFormatError(f"line {number}: expected 7 fields, got {len(fields)}")
        try:
            cust, x, y, demand, ready, due, service = (float(f) for f in fields)
        except ValueError as exc:
            raise SolomonFormatError(f"line {number}: not a number") from exc
        sites.append(Site(x=x, y=y, demand=int(demand), ready=ready, due=due, service=service,
                          ref=str(int(cust))))
    if len(sites) < 2:
        raise SolomonFormatError("no customers")
    if sites[0].ref != "0":
        raise SolomonFormatError("the first customer row must be the depot (number 0)")
    if vehicles < 1 or capacity < 1:
        raise SolomonFormatError("the fleet needs at least one vehicle of positive capacity")
    return Problem(name=name, sites=tuple(sites), vehicles=vehicles, capacity=capacity, rounding=rounding)


def read(path: Path, *, rounding: Rounding = "exact") -> Problem:
    """Read a Solomon instance file."""
    return parse(path.read_text(), rounding=rounding)


def prefix(problem: Problem, customers: int) -> Problem:
    """The same instance restricted to its first `customers` customers (for small tests and examples)."""
    return Problem(name=f"{problem.name}-{customers}", sites=problem.sites[: customers + 1],
                   vehicles=problem.vehicles, capacity=problem.capacity, rounding=problem.rounding)


@dataclass(frozen=True, slots=True)
class Bks:
    """A best-known solution: vehicles (None when the source gives none) and distance, under one objective."""

    instance: str
    vehicles: int | None
    distance: float
    kind: BksKind
    note: str


def kind_of(note: str) -> BksKind:
    """Classify a bks.csv objective note; unknown notes are an error rather than a silent mix-up."""
    low = note.lower()
    if low.startswith("hierarchical"):
        return "hierarchical"
    if "dimacs" in low:
        return "dimacs"
    if low.startswith("distance-only") and "double-precision" in low:
        return "distance-exact"
    raise ValueError(f"unknown BKS objective: {note!r}")


def parse_bks(text: str, kind: BksKind) -> dict[str, Bks]:
    """The rows of bks.csv of one kind, by instance name (upper case)."""
    out: dict[str, Bks] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if kind_of(row["objective_note"]) != kind:
            continue
        name = row["instance"].strip().upper()
        if name in out:
            raise ValueError(f"two {kind} rows for {name}")
        vehicles = row["vehicles"].strip()
        out[name] = Bks(instance=name, vehicles=int(vehicles) if vehicles else None,
                        distance=float(row["distance"]), kind=kind, note=row["objective_note"])
    return out


def read_bks(path: Path, kind: BksKind) -> dict[str, Bks]:
    """Read bks.csv's rows of one kind."""
    return parse_bks(path.read_text(), kind)
