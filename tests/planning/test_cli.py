"""`threshold plan solomon` and `threshold plan bench` as a user runs them; the routes re-check with the checker."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from typer.testing import CliRunner

from cli_run import threshold_cli
from threshold.cli import app
from threshold.planning import checker, solomon
from threshold.planning.problem import Problem

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "vrptw"


def write_prefix(source: str, customers: int, target: Path) -> Path:
    """A Solomon file of the source's first customers (header and depot kept), named after the target file."""
    lines = (DATA / "solomon" / f"{source}.txt").read_text().splitlines()
    depot_at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["0"])
    target.write_text("\n".join([target.stem, *lines[1: depot_at + 1 + customers]]) + "\n")
    return target


def indices(problem: Problem, routes: list[list[int]]) -> list[list[int]]:
    by_ref = {site.ref: i for i, site in enumerate(problem.sites)}
    return [[by_ref[str(c)] for c in r] for r in routes]


def check_json(path: Path, out: str, rounding: str) -> None:
    result = json.loads(out)
    assert set(result) == {"instance", "vehicles", "distance", "feasible", "seconds", "routes"}
    assert result["instance"] == "R101" and result["feasible"] is True
    assert sorted(c for r in result["routes"] for c in r) == list(range(1, 31))
    problem = solomon.read(path, rounding=rounding)  # type: ignore[arg-type]
    verdict = checker.check(problem, indices(problem, result["routes"]))
    assert verdict.feasible and verdict.vehicles == result["vehicles"] == len(result["routes"])
    assert abs(verdict.distance - result["distance"]) < 1e-3
    assert 0 < result["seconds"] < 2


async def test_plan_solomon_json_from_the_command_line(tmp_path: Path) -> None:
    path = write_prefix("R101", 30, tmp_path / "R101.txt")
    code, out, err = await threshold_cli(dict(os.environ), tmp_path, "plan", "solomon", str(path),
                                         "--time-limit", "0.5", "--objective", "distance", "--seed", "2", "--json")
    assert code == 0, err
    check_json(path, out, "dimacs")


def test_plan_solomon_hierarchical_json_table_and_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    path = write_prefix("R101", 30, tmp_path / "R101.txt")
    done = runner.invoke(app, ["plan", "solomon", str(path), "--time-limit", "0.5", "--json"])
    assert done.exit_code == 0, done.output
    check_json(path, done.stdout, "exact")
    done = runner.invoke(app, ["plan", "solomon", str(path), "--time-limit", "0.2"])
    assert done.exit_code == 0 and "feasible" in done.stdout and "R101" in done.stdout
    bad = tmp_path / "bad.txt"
    bad.write_text("not a solomon file\n")
    done = runner.invoke(app, ["plan", "solomon", str(bad), "--time-limit", "0.2"])
    assert done.exit_code == 2 and "cannot read" in done.stderr
    done = runner.invoke(app, ["plan", "solomon", str(path), "--time-limit", "0.2", "--objective", "cheapest"])
    assert done.exit_code == 2 and "--objective" in done.stderr


def test_plan_bench_writes_table_png_and_csv(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    write_prefix("C101", 12, folder / "C101.txt")
    write_prefix("R101", 12, folder / "X101.txt")
    # A BKS file with a row for C101 only (and a row of the other kind, which must be ignored).
    (folder / "bks.csv").write_text(
        "instance,vehicles,distance,objective_note,source\n"
        "C101,2,100.0,\"distance-only, DIMACS convention (distance/time truncated to 1 decimal)\",test\n"
        "X101,1,1.0,hierarchical (min vehicles then distance); double-precision Euclidean,test\n")
    out = tmp_path / "bench-out"
    done = CliRunner().invoke(app, ["plan", "bench", str(folder), "--time-limit", "0.2", "--objective", "distance",
                                    "--out", str(out)])
    stdout, err = done.stdout, done.stderr
    assert done.exit_code == 0, done.output
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["instances"] == 2 and summary["feasible"] == 2
    assert summary["without_bks"] == ["X101"] and summary["gap_instances"] == 1
    assert "no dimacs BKS row" in err and "X101" in err
    png, table = out / "plan-distance-0.2s.png", out / "plan-distance-0.2s.csv"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(table.open()))
    assert [r["instance"] for r in rows] == ["C101", "X101"]
    c101 = rows[0]
    assert float(c101["gap_pct"]) == round(100 * (float(c101["distance"]) - 100.0) / 100.0, 3)
    assert rows[1]["gap_pct"] == ""
