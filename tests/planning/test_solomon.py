"""Reading Solomon instances and the best-known solutions, one objective at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from threshold.planning import solomon

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "vrptw"


def test_c101_header_sites_and_horizon() -> None:
    p = solomon.read(DATA / "solomon" / "C101.txt")
    assert (p.name, p.vehicles, p.capacity, p.rounding) == ("C101", 25, 200, "exact")
    assert len(p.sites) == 101 and p.customers == 100
    depot = p.depot
    assert (depot.x, depot.y, depot.demand, depot.ready, depot.due, depot.service) == (40, 50, 0, 0, 1236, 0)
    first = p.sites[1]
    assert (first.ref, first.x, first.y, first.demand, first.ready, first.due, first.service) == \
        ("1", 45, 68, 10, 912, 967, 90)
    assert [s.ref for s in p.sites] == [str(i) for i in range(101)]
    assert solomon.read(DATA / "solomon" / "C101.txt", rounding="dimacs").rounding == "dimacs"


def test_every_shipped_instance_parses() -> None:
    files = sorted((DATA / "solomon").glob("*.txt"))
    assert len(files) == 56
    for f in files:
        p = solomon.read(f)
        assert p.customers == 100 and p.name == f.stem


def test_prefix_keeps_depot_and_first_customers() -> None:
    p = solomon.prefix(solomon.read(DATA / "solomon" / "R101.txt"), 25)
    assert p.customers == 25 and p.sites[25].ref == "25" and p.depot.due == 230


HEAD = "C1\nVEHICLE\nNUMBER CAPACITY\n 2 10\nCUSTOMER\nhead\n 0 0 0 0 0 10 0\n"


@pytest.mark.parametrize("text", ["", HEAD, HEAD + " 1 1 1 x 0 5 1\n", HEAD + " 1 1 1 1 0 5\n",
                                  "C1\nno sections here\n"])
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(solomon.SolomonFormatError):
        solomon.parse(text)


def test_bks_rows_never_mix_objectives() -> None:
    path = DATA / "bks.csv"
    hier = solomon.read_bks(path, "hierarchical")
    dimacs = solomon.read_bks(path, "dimacs")
    exact = solomon.read_bks(path, "distance-exact")
    assert (len(hier), len(dimacs), len(exact)) == (56, 48, 56)
    # The README's sanity anchors.
    assert (hier["C101"].vehicles, hier["C101"].distance) == (10, 828.94)
    assert dimacs["C101"].distance == 827.3
    assert (hier["R101"].vehicles, hier["R101"].distance) == (19, 1650.80)
    assert (dimacs["R101"].vehicles, dimacs["R101"].distance) == (20, 1637.7)
    assert exact["R101"].distance == 1642.88
    assert "R204" not in dimacs and "R204" in hier
    assert dimacs["RC201"].vehicles is None
    assert sum(b.vehicles or 0 for b in hier.values()) == 405
    assert {b.kind for b in hier.values()} == {"hierarchical"}


def test_unknown_objective_note_is_an_error() -> None:
    text = "instance,vehicles,distance,objective_note,source\nC101,10,1.0,something else,x\n"
    with pytest.raises(ValueError, match="unknown BKS objective"):
        solomon.parse_bks(text, "dimacs")
