"""`threshold plan`: plan a Solomon instance, or a folder of them against the best-known solutions.

The objective fixes the rounding, as in the literature: hierarchical (fewest vehicles, then distance) is measured in
double precision against bks.csv's hierarchical rows; distance-only under the DIMACS truncation against its DIMACS
rows. The two kinds of rows are never mixed.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from threshold.planning import checker, routes, solomon
from threshold.planning.problem import Objective, Problem, Rounding

plan_app = typer.Typer(help="Plan routes: Solomon instances and benchmarks.", no_args_is_help=True)
console = Console(stderr=True)

TimeLimit = Annotated[float, typer.Option("--time-limit", min=0.01, help="Seconds of search per instance")]
ObjectiveOpt = Annotated[str, typer.Option("--objective", help="hierarchical (vehicles, then distance) or distance")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed of the search")]


def rounding_for(objective: Objective) -> Rounding:
    """The rounding each objective's best-known values use: exact for hierarchical, DIMACS for distance."""
    return "exact" if objective == "hierarchical" else "dimacs"


def bks_kind(objective: Objective) -> solomon.BksKind:
    """Which bks.csv rows an objective is compared with."""
    return "hierarchical" if objective == "hierarchical" else "dimacs"


def _objective(value: str) -> Objective:
    if value == "hierarchical":
        return "hierarchical"
    if value == "distance":
        return "distance"
    console.print(f"[red]--objective must be hierarchical or distance, not {value!r}[/red]")
    raise typer.Exit(2)


@dataclass(frozen=True, slots=True)
class Solved:
    """One planned instance as the CLI reports it: the checker's verdict and distance, routes as customer numbers."""

    instance: str
    vehicles: int
    distance: float
    feasible: bool
    seconds: float
    routes: list[list[int]]

    def as_json(self) -> dict[str, object]:
        """The `plan solomon --json` object."""
        return {"instance": self.instance, "vehicles": self.vehicles, "distance": round(self.distance, 4),
                "feasible": self.feasible, "seconds": round(self.seconds, 3), "routes": self.routes}


def solve_file(path: Path, *, time_limit: float, objective: Objective, seed: int) -> Solved:
    """Plan one Solomon file; the verdict and distance are the independent checker's, not the solver's."""
    problem = solomon.read(path, rounding=rounding_for(objective))
    result = routes.plan(problem, time_limit=time_limit, objective=objective, seed=seed)
    verdict = checker.check(problem, result.routes)
    return Solved(problem.name, verdict.vehicles, verdict.distance, verdict.feasible, result.seconds,
                  [[_number(problem, c) for c in r] for r in result.routes])


def _number(problem: Problem, index: int) -> int:
    ref = problem.sites[index].ref
    return int(ref) if ref.isdigit() else index


@plan_app.command("solomon")
def solomon_command(file: Path, time_limit: TimeLimit, objective: ObjectiveOpt = "hierarchical",
                    seed: SeedOpt = 1,
                    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False) -> None:
    """Plan one Solomon-format instance and print the routes (customer numbers in visit order)."""
    obj = _objective(objective)
    try:
        out = solve_file(file, time_limit=time_limit, objective=obj, seed=seed)
    except (OSError, solomon.SolomonFormatError) as exc:
        console.print(f"[red]cannot read {file}: {exc}[/red]")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(out.as_json()))
    else:
        table = Table(title=f"{out.instance}: {out.vehicles} vehicles, distance {out.distance:.2f}, "
                            f"{'feasible' if out.feasible else 'INFEASIBLE'}, {out.seconds:.2f} s")
        table.add_column("route", justify="right")
        table.add_column("customers in visit order")
        for i, r in enumerate(out.routes, start=1):
            table.add_row(str(i), " ".join(str(c) for c in r))
        Console().print(table)
    raise typer.Exit(0 if out.feasible else 1)


@dataclass(frozen=True, slots=True)
class Scored:
    """One instance's result next to its best-known solution (None where bks.csv has no row)."""

    instance: str
    vehicles: int
    distance: float
    feasible: bool
    seconds: float
    bks_vehicles: int | None
    bks_distance: float | None
    gap: float | None  # % distance gap; for hierarchical only where the vehicle count matches the BKS


def score(objective: Objective, result: Solved, bks: dict[str, solomon.Bks]) -> Scored:
    """Compare one result with its BKS row of the objective's kind."""
    row = bks.get(result.instance.upper())
    gap = None
    if row is not None and (objective == "distance" or row.vehicles == result.vehicles):
        # The hierarchical BKS are given to 2 decimals (DIMACS sums are exact to 1): compare at that precision.
        gap = 100 * (round(result.distance, 2) - row.distance) / row.distance
    return Scored(result.instance, result.vehicles, result.distance, result.feasible, result.seconds,
                  row.vehicles if row else None, row.distance if row else None, gap)


def summary(objective: Objective, rows: list[Scored]) -> dict[str, object]:
    """Mean gap, vehicles against the best-known total, feasibility, and which instances had no BKS."""
    known = [r for r in rows if r.bks_distance is not None]
    gaps = [r.gap for r in rows if r.gap is not None]
    out: dict[str, object] = {"instances": len(rows), "feasible": sum(r.feasible for r in rows),
                              "mean_gap_pct": round(statistics.fmean(gaps), 3) if gaps else None,
                              "gap_instances": len(gaps),
                              "without_bks": [r.instance for r in rows if r.bks_distance is None]}
    if objective == "hierarchical":
        out["vehicles"] = sum(r.vehicles for r in known)
        out["bks_vehicles"] = sum(r.bks_vehicles or 0 for r in known)
    return out


def write_table(rows: list[Scored], path: Path) -> None:
    """The per-instance results as CSV."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["instance", "vehicles", "distance", "bks_vehicles", "bks_distance", "gap_pct", "feasible",
                    "seconds"])
        for r in rows:
            w.writerow([r.instance, r.vehicles, f"{r.distance:.4f}", r.bks_vehicles or "",
                        "" if r.bks_distance is None else r.bks_distance,
                        "" if r.gap is None else f"{r.gap:.3f}", r.feasible, f"{r.seconds:.2f}"])


def plot_gaps(series: dict[str, list[Scored]], path: Path, title: str) -> None:
    """A PNG of the % gap per instance, one bar series per label (e.g. per time limit)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = len({r.instance for rows in series.values() for r in rows})
    fig, ax = plt.subplots(figsize=(max(6.0, 0.22 * count * max(1, len(series))), 4.0))
    draw_gaps(ax, series, title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def draw_gaps(ax: Any, series: dict[str, list[Scored]], title: str) -> None:
    """Bars of the % gap per instance on a matplotlib Axes; more vehicles than the BKS is marked, not hidden."""
    names = sorted({r.instance for rows in series.values() for r in rows}, key=_natural)
    width = 0.8 / max(1, len(series))
    for k, (label, rows) in enumerate(series.items()):
        by = {r.instance: r for r in rows}
        shown = [n for n in names if n in by]
        xs = [names.index(n) + k * width for n in shown]
        ax.bar(xs, [math.nan if by[n].gap is None else float(by[n].gap or 0.0) for n in shown], width=width,
               label=label)
        for x, n in zip(xs, shown, strict=True):
            r = by[n]
            if r.gap is None and r.bks_vehicles is not None and r.vehicles != r.bks_vehicles:
                ax.annotate(f"{r.vehicles - r.bks_vehicles:+d}v", (x, 0), ha="center", va="bottom", fontsize=6,
                            color="crimson", rotation=90)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(names))], names, rotation=90, fontsize=7)
    ax.set_ylabel("gap to best known (%)")
    ax.set_title(title, fontsize=9)
    ax.axhline(0, color="black", linewidth=0.5)
    if len(series) > 1:
        ax.legend(fontsize=7)


def _natural(name: str) -> tuple[str, int]:
    head = name.rstrip("0123456789")
    tail = name[len(head):]
    return head.upper(), int(tail) if tail else 0


def instances(folder: Path) -> list[Path]:
    """The Solomon files of a folder in natural order (C101, C102, ..., RC208)."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() == ".txt"), key=lambda p: _natural(p.stem))


def find_bks(folder: Path) -> Path | None:
    """bks.csv next to the instances or one folder up (the shared data's layout)."""
    return next((p for p in (folder / "bks.csv", folder.parent / "bks.csv") if p.is_file()), None)


@plan_app.command("bench")
def bench_command(folder: Path, time_limit: TimeLimit, objective: ObjectiveOpt = "hierarchical",
                  seed: SeedOpt = 1,
                  bks_path: Annotated[Path | None, typer.Option("--bks", help="bks.csv (default: found near DIR)")]
                  = None,
                  out: Annotated[Path, typer.Option("--out", help="Folder for the PNG and CSV")] = Path("docs/bench"),
                  ) -> None:
    """Plan every instance of a folder, one after the other, and compare with the best-known solutions."""
    obj = _objective(objective)
    files = instances(folder) if folder.is_dir() else []
    if not files:
        console.print(f"[red]no Solomon .txt files in {folder}[/red]")
        raise typer.Exit(2)
    bks_file = bks_path or find_bks(folder)
    bks = solomon.read_bks(bks_file, bks_kind(obj)) if bks_file else {}
    rows: list[Scored] = []
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"planning ({time_limit:g} s each)", total=len(files))
        for path in files:
            rows.append(score(obj, solve_file(path, time_limit=time_limit, objective=obj, seed=seed), bks))
            bar.advance(task)
    table = Table(title=f"{obj} objective, {time_limit:g} s per instance, seed {seed}")
    for col in ("instance", "vehicles", "distance", "BKS", "gap %", "feasible"):
        table.add_column(col, justify="left" if col == "instance" else "right")
    for r in rows:
        best = "-" if r.bks_distance is None else (f"{r.bks_vehicles} / {r.bks_distance}" if obj == "hierarchical"
                                                    else f"{r.bks_distance}")
        table.add_row(r.instance, str(r.vehicles), f"{r.distance:.2f}", best,
                      "-" if r.gap is None else f"{r.gap:.2f}", "yes" if r.feasible else "[red]NO[/red]")
    Console().print(table)
    s = summary(obj, rows)
    missing = [r.instance for r in rows if r.bks_distance is None]
    if missing:
        console.print(f"no {bks_kind(obj)} BKS row (skipped in the gap): {', '.join(missing)}")
    print(json.dumps(s))
    out.mkdir(parents=True, exist_ok=True)
    stem = f"plan-{obj}-{time_limit:g}s"
    write_table(rows, out / f"{stem}.csv")
    plot_gaps({f"{time_limit:g} s": rows}, out / f"{stem}.png",
              f"{folder.name}: {obj}, {time_limit:g} s per instance, mean gap {s['mean_gap_pct']} %")
    console.print(f"wrote {out / (stem + '.csv')} and {out / (stem + '.png')}")
    raise typer.Exit(0 if s["feasible"] == len(rows) else 1)
