"""Route planning against the best-known Solomon solutions, and the time to plan a 1,000-order day.

- distance objective, DIMACS truncation: mean % gap to bks.csv's DIMACS rows (proven optima) at each time limit
  (instances without a DIMACS row, R204-R211, are listed and left out of the mean);
- hierarchical objective, double precision: total vehicles against the best-known total (405 for all 56), and the
  distance gap on the instances whose vehicle count matches the best known;
- every plan is judged by the independent checker (threshold.planning.checker), never by the solver;
- a 1,000-order station day (generated, see `day`): seconds to a first feasible plan, then vehicles and distance
  at a few time limits on the hierarchical objective.

Each solve runs on one core (PyVRP is single-threaded); --jobs runs that many solves side by side in processes.

Full run (about 56 x (2 + 10) s x 2 objectives / jobs, plus the day; ~12 min with --jobs 2 on an idle 2-core box):
    .venv/bin/python bench/routes.py --time-limits 2,10 --jobs 2
Smoke run:
    .venv/bin/python bench/routes.py --only C101,R101,RC201 --time-limits 1 --day-limits 2
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from common import machine
from threshold.planning import checker, commands, routes, solomon
from threshold.planning.problem import Objective, Problem, Site

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "vrptw"
console = Console(stderr=True)
# The targets: mean % gap by time limit (distance objective), total vehicles over all 56 (hierarchical).
GAP_TARGETS = {2.0: 1.0, 10.0: 0.5}
VEHICLE_TARGET = 407


def day(customers: int = 1000, seed: int = 1) -> Problem:
    """A reproducible station day in the style of Solomon's RC2 class, scaled to `customers` orders.

    Half the customers in 12 Gaussian clusters, half uniform, on a 100 x 100 area (travel time = distance, in
    minutes) around a central depot; a 960-minute horizon; 10 minutes of service; demand 1-19 parcels and vehicles
    of 200 (so capacity alone needs about 50 vehicles; 60 are available). Three orders in four have a 2-hour window
    (attended delivery), the rest the whole day (in-home delivery). Every window is reachable from the depot and
    leaves time to return.
    """
    rng = random.Random(seed)
    horizon, service = 960.0, 10.0
    depot = Site(50.0, 50.0, ready=0.0, due=horizon, ref="0")
    centres = [(rng.uniform(10, 90), rng.uniform(10, 90)) for _ in range(12)]
    sites = [depot]
    for i in range(1, customers + 1):
        if i % 2:
            cx, cy = rng.choice(centres)
            x, y = min(100.0, max(0.0, rng.gauss(cx, 4))), min(100.0, max(0.0, rng.gauss(cy, 4)))
        else:
            x, y = rng.uniform(0, 100), rng.uniform(0, 100)
        x, y = round(x, 1), round(y, 1)
        reach = math.hypot(x - depot.x, y - depot.y)
        earliest, latest = math.ceil(reach), math.floor(horizon - service - reach)
        if rng.random() < 0.25:
            ready, due = earliest, latest
        else:
            ready = rng.randint(earliest, max(earliest, latest - 120))
            due = min(latest, ready + 120)
        sites.append(Site(x, y, demand=rng.randint(1, 19), ready=ready, due=due, service=service, ref=str(i)))
    return Problem(name=f"day-{customers}-seed{seed}", sites=tuple(sites), vehicles=60, capacity=200)


def _solve(path: str, limit: float, objective: Objective, seed: int) -> tuple[Objective, float, commands.Solved]:
    return objective, limit, commands.solve_file(Path(path), time_limit=limit, objective=objective, seed=seed)


def _selected(folder: Path, only: str) -> list[Path]:
    wanted = [w.strip().upper() for w in only.split(",") if w.strip()]
    files = commands.instances(folder)
    if not wanted:
        return files
    # A prefix selects a class: C1 = C101..C109, R1 = R101..R112 (RC1 starts differently), C101 = itself.
    return [f for f in files if any(f.stem.upper().startswith(w) for w in wanted)]


def benchmark(files: list[Path], limits: list[float], objectives: list[Objective], jobs: int, seed: int,
              bks_file: Path) -> dict[tuple[Objective, float], list[commands.Scored]]:
    """Plan every file at every limit under every objective; scored against bks.csv rows of the objective's kind."""
    bks = {o: solomon.read_bks(bks_file, commands.bks_kind(o)) for o in objectives}
    results: dict[tuple[Objective, float], list[commands.Scored]] = {(o, t): [] for o in objectives for t in limits}
    tasks = [(str(f), t, o, seed) for o in objectives for t in limits for f in files]
    with Progress(console=console, transient=True) as bar, ProcessPoolExecutor(max_workers=jobs) as pool:
        task = bar.add_task(f"{len(tasks)} solves on {jobs} process(es)", total=len(tasks))
        for done in as_completed([pool.submit(_solve, *t) for t in tasks]):
            objective, limit, solved = done.result()
            results[(objective, limit)].append(commands.score(objective, solved, bks[objective]))
            bar.advance(task)
    for rows in results.values():
        rows.sort(key=lambda r: commands._natural(r.instance))
    return results


def plan_day(limits: list[float], seed: int) -> dict[str, object]:
    """Time to a first feasible plan of the generated day, then the hierarchical plan at each limit."""
    problem = day(seed=seed)
    first = routes.first_feasible(problem, time_limit=max([*limits, 60.0]), seed=seed)
    points: list[dict[str, float | int | bool]] = []
    for limit in limits:
        p = routes.plan(problem, time_limit=limit, objective="hierarchical", seed=seed)
        verdict = checker.check(problem, p.routes)
        points.append({"time_limit_s": limit, "seconds": round(p.seconds, 2), "vehicles": verdict.vehicles,
                       "distance": round(verdict.distance, 1), "feasible": verdict.feasible})
    return {"instance": problem.name, "orders": problem.customers, "first_feasible_s": round(first.seconds, 2),
            "first_feasible": first.feasible, "first_vehicles": first.vehicles,
            "first_distance": round(first.distance, 1), "limits": points}


def summarise(results: dict[tuple[Objective, float], list[commands.Scored]]) -> list[dict[str, object]]:
    """One line per (objective, limit): the figures the issue asks for."""
    lines = []
    for (objective, limit), rows in results.items():
        s = commands.summary(objective, rows)
        gaps = [r.gap for r in rows if r.gap is not None]
        line: dict[str, object] = {"objective": objective, "time_limit_s": limit, **s,
                                   "max_gap_pct": round(max(gaps), 3) if gaps else None}
        if objective == "distance":
            line["target_mean_gap_pct"] = GAP_TARGETS.get(limit)
        else:
            line["target_vehicles_all_56"] = VEHICLE_TARGET
        lines.append(line)
    return lines


def figure(results: dict[tuple[Objective, float], list[commands.Scored]], day_result: dict[str, object] | None,
           path: Path) -> None:
    """One PNG: gap per instance per limit for each objective, and the day's distance against the time limit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objectives = list(dict.fromkeys(o for o, _ in results))
    panels = len(objectives) + (1 if day_result else 0)
    count = max(len(rows) for rows in results.values())
    fig, axes = plt.subplots(panels, 1, figsize=(max(7.0, 0.3 * count * 2), 3.6 * panels), squeeze=False)
    for ax, objective in zip(axes[:, 0], objectives, strict=False):
        series = {f"{t:g} s": rows for (o, t), rows in results.items() if o == objective}
        means = ", ".join(f"{label}: {commands.summary(objective, rows)['mean_gap_pct']} %"
                          for label, rows in series.items())
        what = "distance (DIMACS), gap to proven optimum" if objective == "distance" else \
            "hierarchical: distance gap where vehicles match, red = extra vehicles"
        commands.draw_gaps(ax, series, f"{what}; mean {means}")
    if day_result:
        ax = axes[-1, 0]
        pts: list[dict[str, float]] = day_result["limits"]  # type: ignore[assignment]
        first = (float(day_result["first_feasible_s"]), float(day_result["first_distance"]))  # type: ignore[arg-type]
        ax.plot([first[0], *(p["time_limit_s"] for p in pts)], [first[1], *(p["distance"] for p in pts)], marker="o")
        ax.annotate(f"first feasible, {day_result['first_vehicles']} veh", first, fontsize=7)
        for p in pts:
            ax.annotate(f"{p['vehicles']} veh", (p["time_limit_s"], p["distance"]), fontsize=7)
        ax.set_xlabel("time limit (s)")
        ax.set_ylabel("distance")
        ax.set_title(f"{day_result['instance']}: first feasible plan after {day_result['first_feasible_s']} s",
                     fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    """Parse options, run, print the figures and the command that reproduces them, write the PNG and CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with solomon/ and bks.csv")
    parser.add_argument("--only", default="", help="instances or prefixes, e.g. C1,R1 or C101,RC201")
    parser.add_argument("--time-limits", default="2,10", help="seconds per instance, comma-separated")
    parser.add_argument("--objectives", default="distance,hierarchical")
    parser.add_argument("--jobs", type=int, default=1, help="solves side by side (each single-threaded)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--day-limits", default="5,15,30", help="time limits for the 1,000-order day ('' = skip)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench")
    args = parser.parse_args()
    limits = [float(x) for x in args.time_limits.split(",") if x]
    objectives: list[Objective] = []
    for o in args.objectives.split(","):
        if o not in ("distance", "hierarchical"):
            parser.error(f"unknown objective {o!r}")
        objectives.append("distance" if o == "distance" else "hierarchical")
    files = _selected(args.data / "solomon", args.only)
    if not files:
        parser.error("no instance selected")
    began = time.perf_counter()
    results = benchmark(files, limits, objectives, max(1, args.jobs), args.seed, args.data / "bks.csv")
    day_limits = [float(x) for x in args.day_limits.split(",") if x]
    day_result = plan_day(day_limits, args.seed) if day_limits else None
    lines = summarise(results)

    table = Table(title=f"routes: {len(files)} instance(s), seed {args.seed}, {args.jobs} job(s)")
    for col in ("objective", "limit s", "feasible", "mean gap %", "max gap %", "gap on", "vehicles / BKS"):
        table.add_column(col, justify="left" if col == "objective" else "right")
    for line in lines:
        veh = f"{line['vehicles']} / {line['bks_vehicles']}" if "vehicles" in line else "-"
        table.add_row(str(line["objective"]), f"{line['time_limit_s']:g}", f"{line['feasible']}/{line['instances']}",
                      str(line["mean_gap_pct"]), str(line["max_gap_pct"]), str(line["gap_instances"]), veh)
    Console().print(table)
    for (objective, limit), rows in results.items():
        missing = [r.instance for r in rows if r.bks_distance is None]
        if missing:
            console.print(f"{objective} @ {limit:g} s: no BKS row for {', '.join(missing)} (left out of the mean)")

    args.out.mkdir(parents=True, exist_ok=True)
    png, table_path = args.out / "routes.png", args.out / "routes.csv"
    figure(results, day_result, png)
    with table_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["objective", "time_limit_s", "instance", "vehicles", "distance", "bks_vehicles", "bks_distance",
                    "gap_pct", "feasible", "seconds"])
        for (objective, limit), rows in results.items():
            for r in rows:
                w.writerow([objective, limit, r.instance, r.vehicles, f"{r.distance:.4f}", r.bks_vehicles or "",
                            "" if r.bks_distance is None else r.bks_distance,
                            "" if r.gap is None else f"{r.gap:.3f}", r.feasible, f"{r.seconds:.2f}"])
    command = " ".join([".venv/bin/python bench/routes.py", *(shlex.quote(a) for a in sys.argv[1:])])
    print(json.dumps({"summary": lines, "day": day_result, "machine": machine(), "cpu_count": os.cpu_count(),
                      "wall_s": round(time.perf_counter() - began, 1), "png": str(png), "csv": str(table_path),
                      "reproduce": command}, indent=2))
    all_feasible = all(r.feasible for rows in results.values() for r in rows)
    raise SystemExit(0 if all_feasible else 1)


if __name__ == "__main__":
    main()
