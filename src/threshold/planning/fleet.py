"""Route minimisation by an ejection pool, after Nagata and Bräysy (2009): take a route away, then put its
customers back into the others one at a time, ejecting a few customers from a route when one cannot go in.

Pure and single-threaded; works on integers (the solver's scaled travel times and windows), so a plan it returns
is feasible for PyVRP and for the checker alike.

- Each pass deletes one route and puts its customers in the pool (a stack).
- A customer that fits somewhere feasibly goes to a random such place.
- One that fits nowhere has its penalty counter raised, then goes where the fewest-penalised set of at most
  `kmax` customers can be ejected from that route to make it feasible again. The ejected customers join the
  pool, and random feasible moves (2-opt* and relocation) shake the plan so the next tries meet other routes.
  Customers that keep coming back collect high counters, so the search ejects others instead: this is what
  lets the pool empty on days where plain local search keeps a vehicle too many.
- When the pool is empty the plan has one route fewer and the next pass starts; a pass cut off by the deadline
  leaves the last complete plan.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KMAX = 5  # the most customers ejected at once (the paper's value)
SHAKES = 200  # random moves tried after each ejection (only feasible ones are made)
CHECK_EVERY = 2048  # search steps between two looks at the clock
NEAR = 20  # how many nearest customers a shake's move may pair a customer with


@dataclass(frozen=True, slots=True)
class Instance:
    """Travel times (node 0 the depot), windows, service times and demands in the solver's integers, with what
    the search derives from them once (build it with `instance`)."""

    time: list[list[int]]
    early: list[int]
    late: list[int]
    service: list[int]
    demand: list[int]
    capacity: int
    near: list[list[int]]  # per node, its NEAR nearest customers (for node 0, none)
    reach: list[int]  # per node, the earliest it could ever start: straight from the depot


def instance(time: np.ndarray, early: list[int], late: list[int], service: list[int], demand: list[int],
             capacity: int) -> Instance:
    """The search's view of a problem, from the solver's integer travel-time matrix and lists."""
    closeness = np.minimum(time, time.T)[1:, 1:].astype(np.float64)
    np.fill_diagonal(closeness, np.inf)
    count = min(NEAR, max(1, len(demand) - 2))
    near = np.argsort(closeness, axis=1, kind="stable")[:, :count] + 1
    d = time.tolist()
    reach = [early[0]] + [max(early[c], early[0] + service[0] + d[0][c]) for c in range(1, len(early))]
    return Instance(time=d, early=early, late=late, service=service, demand=demand, capacity=capacity,
                    near=[[], *near.tolist()], reach=reach)


class _Route:
    """A route's nodes (depot at both ends) with its earliest starts, latest starts and load."""

    __slots__ = ("a", "inst", "load", "nodes", "z")

    def __init__(self, inst: Instance, customers: Sequence[int]) -> None:
        self.inst = inst
        self.nodes = [0, *customers, 0]
        self.a: list[int] = []
        self.z: list[int] = []
        self.load = 0
        self.refresh()

    def refresh(self) -> None:
        """Recompute earliest and latest service starts (forward and backward) and the load."""
        inst, n = self.inst, self.nodes
        d, e, late, s = inst.time, inst.early, inst.late, inst.service
        a = [e[0]] * len(n)
        for k in range(1, len(n)):
            p, c = n[k - 1], n[k]
            t = a[k - 1] + s[p] + d[p][c]
            a[k] = t if t > e[c] else e[c]
        z = [late[0]] * len(n)
        for k in range(len(n) - 2, -1, -1):
            c = n[k]
            t = z[k + 1] - s[c] - d[c][n[k + 1]]
            z[k] = t if t < late[c] else late[c]
        self.a, self.z = a, z
        self.load = sum(inst.demand[c] for c in n)

    def fits(self, v: int, k: int, *, instead: bool = False) -> bool:
        """Whether v can go right after node k (between k and k + 1, or in place of k + 1 if `instead`) without
        breaking a window or the capacity."""
        inst, n = self.inst, self.nodes
        after = k + 2 if instead else k + 1
        load = self.load - inst.demand[n[k + 1]] if instead else self.load
        if load + inst.demand[v] > inst.capacity:
            return False
        p, nxt = n[k], n[after]
        t = self.a[k] + inst.service[p] + inst.time[p][v]
        if t < inst.early[v]:
            t = inst.early[v]
        return t <= inst.late[v] and t + inst.service[v] + inst.time[v][nxt] <= self.z[after]

    def customers(self) -> list[int]:
        """The customers in visit order."""
        return self.nodes[1:-1]


def lower_bound(inst: Instance) -> int:
    """Routes that capacity alone requires."""
    return max(1, math.ceil(sum(inst.demand) / inst.capacity))


def minimise(inst: Instance, routes: Sequence[Sequence[int]], deadline: float, seed: int = 1) -> list[list[int]]:
    """The plan with the fewest routes found by `deadline` (perf_counter seconds), starting from a feasible one."""
    rng = random.Random(seed)
    best = [list(r) for r in routes if r]
    while len(best) > lower_bound(inst) and time.perf_counter() < deadline:
        fewer, left = one_fewer(inst, best, deadline, rng)
        if left:
            break
        best = fewer
    return best


def one_fewer(inst: Instance, routes: Sequence[Sequence[int]], deadline: float,
              rng: random.Random) -> tuple[list[list[int]], list[int]]:
    """One pass: delete a random route and put its customers back into the others. Returns the routes (all
    feasible, one fewer) and the customers still in the pool when the deadline came (none: the pass succeeded)."""
    plan = [_Route(inst, r) for r in routes if r]
    gone = plan.pop(rng.randrange(len(plan)))
    pool = gone.customers()
    if not plan:
        return [], pool  # a single route has nowhere to go
    rng.shuffle(pool)
    penalty = [1] * len(inst.demand)
    while pool and time.perf_counter() < deadline:
        v = pool.pop()
        places = [(r, k) for r in plan for k in range(len(r.nodes) - 1) if r.fits(v, k)]
        if places:
            r, k = rng.choice(places)
            r.nodes.insert(k + 1, v)
            r.refresh()
            continue
        penalty[v] += 1
        found = _best_ejection(inst, plan, v, penalty, rng, deadline)
        if found is None:
            pool.insert(0, v)  # no route takes it even with KMAX ejections: try again after the others
        else:
            r, nodes, ejected = found
            r.nodes = nodes
            r.refresh()
            pool.extend(ejected)
        _shake(plan, inst.near, rng)
    return [r.customers() for r in plan], pool


def _best_ejection(inst: Instance, plan: list[_Route], v: int, penalty: list[int], rng: random.Random,
                   deadline: float) -> tuple[_Route, list[int], list[int]] | None:
    """Where to put v and which (at most KMAX) customers to eject so its route stays feasible, with the smallest
    sum of penalty counters; ties go to whichever place is looked at first, in a random order. None if there is
    no such place, or the deadline came first."""
    search = _Ejection(inst, v, penalty, deadline)
    order = list(range(len(plan)))
    rng.shuffle(order)
    for ri in order:
        search.route(plan[ri])
    return None if search.late else search.found


class _Ejection:
    """A depth-first search over which customers of a route to keep, with v inserted in each gap in turn."""

    def __init__(self, inst: Instance, v: int, penalty: list[int], deadline: float) -> None:
        self.inst, self.v, self.penalty, self.deadline = inst, v, penalty, deadline
        # Long routes (hundreds of customers) make the search wide: the clock is read every CHECK_EVERY steps.
        self.steps, self.late = 0, False
        self.best: float = math.inf
        self.found: tuple[_Route, list[int], list[int]] | None = None
        self.r: _Route | None = None
        self.seq: list[int] = []
        self.vpos = 0
        self.total = 0
        self.ejected: list[int] = []

    def route(self, r: _Route) -> None:
        """Try v in every gap of r."""
        inst, v = self.inst, self.v
        d, e, late, s = inst.time, inst.early, inst.late, inst.service
        n = r.nodes
        self.r, self.total = r, r.load + inst.demand[v]
        for k in range(len(n) - 1):
            # v's predecessor stays (a plan where it goes is the same as v one gap earlier), so v can start no
            # sooner than from that predecessor served as early as it ever could be.
            p = n[k]
            if max(e[v], inst.reach[p] + s[p] + d[p][v]) > late[v]:
                continue
            self.seq, self.vpos, self.ejected = [*n[1:k + 1], v, *n[k + 1:-1]], k, []
            self._dfs(0, 0, e[0] + s[0], 0, 0)

    def _record(self, psum: int) -> None:
        assert self.r is not None
        kept = [c for c in self.seq if c not in self.ejected]
        self.best, self.found = psum, (self.r, [0, *kept, 0], list(self.ejected))

    def _dfs(self, i: int, prev: int, ready: int, psum: int, ejected_load: int) -> None:
        if psum >= self.best or self.late:
            return
        self.steps += 1
        if not self.steps % CHECK_EVERY and time.perf_counter() >= self.deadline:
            self.late = True
            return
        inst, seq = self.inst, self.seq
        d, e, late, s = inst.time, inst.early, inst.late, inst.service
        if i == len(seq):
            if ready + d[prev][0] <= late[0] and self.total - ejected_load <= inst.capacity:
                self._record(psum)
            return
        c = seq[i]
        start = ready + d[prev][c]
        if start < e[c]:
            start = e[c]
        if c == self.v:
            if start <= late[c]:
                self._dfs(i + 1, c, start + s[c], psum, ejected_load)
            return
        if start <= late[c]:
            # Past v the rest of the route is as it was: if c starts in time for it, nothing more needs ejecting
            # (unless the load is still too high), and ejecting more would only cost more.
            assert self.r is not None
            if i > self.vpos and start <= self.r.z[i] and self.total - ejected_load <= inst.capacity:
                self._record(psum)
            else:
                self._dfs(i + 1, c, start + s[c], psum, ejected_load)
        pc = self.penalty[c]
        if i != self.vpos - 1 and len(self.ejected) < KMAX and psum + pc < self.best:
            self.ejected.append(c)
            self._dfs(i + 1, prev, ready, psum + pc, ejected_load + inst.demand[c])
            self.ejected.pop()


def _shake(plan: list[_Route], near: list[list[int]], rng: random.Random) -> None:
    """Random feasible moves between a customer and one of its nearest neighbours on another route (2-opt* tail
    swaps, relocations and swaps), so the next tries meet other routes."""
    if len(plan) < 2:
        return
    where = {c: r for r in plan for c in r.nodes[1:-1]}
    customers = list(where)
    for _ in range(SHAKES):
        u = rng.choice(customers)
        v = rng.choice(near[u])
        ru, rv = where.get(u), where.get(v)
        if ru is None or rv is None or ru is rv:
            continue
        i, j = ru.nodes.index(u), rv.nodes.index(v)
        kind = rng.randrange(3)
        if kind == 0:
            moved = _two_opt_star(ru, i, rv, j - 1)
        elif kind == 1:
            moved = _relocate(ru, i, rv, j - 1 if rng.random() < 0.5 else j)
            if moved:
                where[u] = rv
        else:
            moved = _swap(ru, i, rv, j)
            if moved:
                where[u], where[v] = rv, ru
        if moved and kind == 0:
            where.update({c: ru for c in ru.nodes[1:-1]})
            where.update({c: rv for c in rv.nodes[1:-1]})


def _relocate(src: _Route, i: int, dst: _Route, k: int) -> bool:
    """Move src's node i between dst's nodes k and k + 1, if dst stays feasible (src always does)."""
    if len(src.nodes) <= 3:
        return False  # never empty a route here: a pass deletes routes, the shake only varies them
    v = src.nodes[i]
    if not dst.fits(v, k):
        return False
    dst.nodes.insert(k + 1, v)
    del src.nodes[i]
    dst.refresh()
    src.refresh()
    return True


def _swap(r1: _Route, i: int, r2: _Route, j: int) -> bool:
    """Exchange r1's node i and r2's node j, if both routes stay feasible."""
    u, v = r1.nodes[i], r2.nodes[j]
    if not (r1.fits(v, i - 1, instead=True) and r2.fits(u, j - 1, instead=True)):
        return False
    r1.nodes[i], r2.nodes[j] = v, u
    r1.refresh()
    r2.refresh()
    return True


def _two_opt_star(r1: _Route, i: int, r2: _Route, j: int) -> bool:
    """r1 keeps its nodes up to i and takes r2's tail after j; r2 the reverse; if both stay feasible and non-empty."""
    n1, n2 = r1.nodes, r2.nodes
    if (i == 0 and j == len(n2) - 2) or (j == 0 and i == len(n1) - 2):
        return False  # would leave a route empty
    if (i == len(n1) - 2 and j == len(n2) - 2) or (i == 0 and j == 0):
        return False  # nothing changes, or the routes swap whole
    inst = r1.inst
    d, s = inst.time, inst.service
    if (r1.a[i] + s[n1[i]] + d[n1[i]][n2[j + 1]] > r2.z[j + 1]
            or r2.a[j] + s[n2[j]] + d[n2[j]][n1[i + 1]] > r1.z[i + 1]):
        return False
    a1 = n1[:i + 1] + n2[j + 1:]
    a2 = n2[:j + 1] + n1[i + 1:]
    q = inst.demand
    if sum(q[c] for c in a1) > inst.capacity or sum(q[c] for c in a2) > inst.capacity:
        return False
    r1.nodes, r2.nodes = a1, a2
    r1.refresh()
    r2.refresh()
    return True
