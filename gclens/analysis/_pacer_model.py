"""The steady state of the Go GC pacer for one setting: heap goal, runway, marked heap, cycles.

The quantities, per cycle (MiB as the gc line prints them; see go-trace-formats §3):

* reachable heap L: what survives (marked heap minus what was allocated during the mark);
* mark allocation W: allocated between mark start and mark termination (``end - start``). Objects
  allocated during the mark are allocated black, so the marked heap is M = L + W;
* heap goal G: go1.18+ ``M + (M + stacks + globals) x GOGC/100`` (gcControllerState.heapGoal),
  before go1.18 ``M x (1 + GOGC/100)``; at least 4 MiB x GOGC/100; under GOMEMLIMIT at most the
  limit less the memory that is not heap;
* runway: the pacer starts the mark so that it ends at the goal, W = A_mark x D (allocation rate
  during the mark times the mark's duration), but never before 70 % of the way from M to G
  (the trigger's lower bound in mgcpacer.go), so W <= ~0.3 x (G - M); when that bound binds,
  assists finish the mark in time;
* the mark's duration D = cost / (u x GOMAXPROCS): the cost per cycle done at the background
  workers' 25 % utilisation plus the assists' share (u, measured when the fitted run is not
  bound, else ``MARK_CPU_PER_P``);
* allocation per cycle = (heap at mark end) - M = overshoot x G - M; cycles/s = A / that.

W appears on both sides (M and G depend on it, and W on the goal's runway), so it is solved as a
fixed point. Every parameter comes from the fitted run (``whatif.Fit``); at its own setting the
state gives back that run's cycles/s, GC CPU and peak heap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Pacer", "State", "goal_mib", "gogc_goal", "solve"]

HEAP_MINIMUM_MIB = 4.0
"""heapMinimum: the goal never goes below 4 MiB x GOGC/100."""
TRIGGER_FLOOR_SHARE = 0.3
"""The trigger is at least 70 % of the way from the marked heap to the goal (minTrigger)."""
MARK_CPU_PER_P = 0.3
"""Mark CPU per P while marking when the fitted run cannot tell: the runtime's 25 % background
goal plus the assists seen beside it (0.29-0.32 in the unbound sample runs)."""
SPIRAL_SHARE = 0.05
"""A runway under 5 % of the marked heap leaves the GC running back to back."""


@dataclass(frozen=True)
class Pacer:
    """What the fitted run says about the program and its runtime."""

    new_goal: bool  # go1.18+ goal formula (stacks and globals count)
    roots_mib: float
    procs: float  # time-weighted GOMAXPROCS
    mark_alloc_share: float  # allocation rate during the mark / overall rate (rho)
    mark_cpu_per_p: float  # u: mark CPU per P per unit of wall time
    runway_share: float  # W / (G - M) when the trigger floor binds
    free_scale: float  # calibrates the unbound runway to the fitted run (kappa)
    overshoot: float  # mean heap at mark end / goal
    nonheap_mib: float  # memory under GOMEMLIMIT that is not heap


@dataclass(frozen=True)
class State:
    """One setting's steady state at one reachable heap and allocation rate."""

    goal_mib: float
    marked_mib: float
    mark_alloc_mib: float
    alloc_per_cycle_mib: float
    runway_bound: bool  # the trigger floor decides the runway (assists finish the mark)
    limited: bool  # the memory limit sets the goal
    spiral: bool


def gogc_goal(marked: float, roots: float, gogc: float, *, new_goal: bool) -> float:
    """GOGC's heap goal: go1.18+ ``M + (M + roots) x GOGC/100``, before ``M x (1 + GOGC/100)``; at
    least heapMinimum x GOGC/100."""
    scanned = marked + roots if new_goal else marked
    return max(marked + scanned * gogc / 100, HEAP_MINIMUM_MIB * gogc / 100)


def goal_mib(pacer: Pacer, marked: float, gogc: float | None, memlimit: float | None) -> tuple[float, bool]:
    """The heap goal and whether the memory limit set it."""
    goal = math.inf if gogc is None else gogc_goal(marked, pacer.roots_mib, gogc, new_goal=pacer.new_goal)
    if memlimit is not None and memlimit - pacer.nonheap_mib < goal:
        return memlimit - pacer.nonheap_mib, True
    return goal, False


def solve(pacer: Pacer, *, reachable: float, alloc: float, cost_ms: float, gogc: float | None,
          memlimit: float | None, mark_alloc_guess: float) -> State:
    """The fixed point of marked heap, goal and mark allocation for one setting."""
    free = pacer.free_scale * pacer.mark_alloc_share * alloc * cost_ms / (pacer.mark_cpu_per_p * pacer.procs * 1000)
    w = mark_alloc_guess
    state = _state(pacer, reachable, w, free, gogc, memlimit)
    for _ in range(60):
        if abs(state.mark_alloc_mib - w) < 1e-6:
            break
        w = 0.5 * (w + state.mark_alloc_mib)
        state = _state(pacer, reachable, w, free, gogc, memlimit)
    return state


def _state(pacer: Pacer, reachable: float, w: float, free: float, gogc: float | None,
           memlimit: float | None) -> State:
    marked = reachable + w
    goal, limited = goal_mib(pacer, marked, gogc, memlimit)
    runway = max(goal - marked, 0.0)
    bound = pacer.runway_share * runway
    spiral = runway <= SPIRAL_SHARE * marked
    new_w = free if spiral else min(free, bound)  # back to back, the mark takes the time it needs
    per_cycle = max(pacer.overshoot * goal - marked, new_w, 1e-3) if math.isfinite(goal) else math.inf
    return State(goal_mib=goal, marked_mib=marked, mark_alloc_mib=new_w, alloc_per_cycle_mib=per_cycle,
                 runway_bound=free >= bound, limited=limited, spiral=spiral)
