"""The benchmark's targets (issues 12, 13 and 15), judged PASS, MISS or N/A from the results.

Reported, never asserted in tests. Every scale-out goal is judged per Auto Scaling bucket the run had (the
assumed 40 + 8/s, a generous one where CreateTags binds) and over every seed: one seed's miss is a MISS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bench.config import ASG_NAMER, BASELINE, SLOT_CANDIDATE
from bench.results import BenchResults, RunResult

PASS, MISS, NOT_APPLICABLE = "PASS", "MISS", "N/A"
CALLS_PER_INSTANCE = 2.2
COLD_PATH_RATIO = 1.5
PEAK_MEMORY_MB = 128
# N -> the largest release time / floor ratio issue 15 accepts; the {slot} scenario's, issue 13's.
FLOOR_RATIOS = {100: 1.3, 1000: 1.1}
SLOT_N, SLOT_FLOOR_RATIO = 1000, 1.2
_T = TypeVar("_T")


@dataclass(frozen=True)
class Target:
    name: str
    status: str  # PASS, MISS or N/A
    measured: str


def evaluate_targets(results: BenchResults) -> list[Target]:
    targets: list[Target] = []
    rate_scale = float(results.settings.get("rate_scale", 1.0))
    for bucket in dict.fromkeys(r.autoscaling_bucket for r in results.runs):
        runs = [r for r in results.runs if r.autoscaling_bucket == bucket]
        targets += _scale_out_targets(f"[Auto Scaling {bucket}] ", runs, rate_scale)
    targets += _sweep_targets(results)
    cold_path = results.cold_path
    if cold_path:
        ratio = cold_path["handler_over_plain"]
        targets.append(
            Target(
                f"cold path (import, init, a first batch of one record) <= {COLD_PATH_RATIO}x a plain boto3 script",
                _status(ratio <= COLD_PATH_RATIO),
                f"{cold_path['handler_seconds']} s vs {cold_path['plain_seconds']} s = {ratio}x "
                f"({len(cold_path['handler_calls'])} calls vs {len(cold_path['plain_calls'])})",
            )
        )
    cold = results.cold_start
    if cold:
        targets.append(
            Target(
                f"peak memory < {PEAK_MEMORY_MB} MB (10-record batch)",
                _status(cold["peak_rss_mb"] < PEAK_MEMORY_MB),
                f"{cold['peak_rss_mb']} MB RSS",
            )
        )
    return targets


def _scale_out_targets(prefix: str, runs: Sequence[RunResult], rate_scale: float) -> list[Target]:
    ours = {(r.seed, r.instances): r for r in runs if r.candidate == ASG_NAMER}
    theirs = {(r.seed, r.instances): r for r in runs if r.candidate == BASELINE}
    targets = []
    for n in FLOOR_RATIOS:
        pairs = [(ours[key], theirs[key]) for key in sorted(ours) if key[1] == n and key in theirs]
        targets.append(
            _every_seed(
                f"{prefix}N={n}: release time and p50 no worse than the baseline's",
                pairs,
                lambda pair: _no_worse(*pair),
                lambda pair: (
                    f"seed {pair[0].seed}: release {pair[0].release_seconds} vs {pair[1].release_seconds} s, "
                    f"p50 {pair[0].p50_seconds} vs {pair[1].p50_seconds} s"
                ),
                rate_scale,
            )
        )
    for n, limit in FLOOR_RATIOS.items():
        targets.append(_floor_target(f"{prefix}N={n} within {limit}x the floor", _at(ours, n), limit, rate_scale))
    mine = list(ours.values())
    if mine:
        bad = [r for r in mine if _lost(r)]
        targets.append(
            Target(
                f"{prefix}nothing lost (none left waiting, abandoned, released unnamed, in the DLQ, or timed out)",
                _status(not bad),
                "; ".join(_loss(r) for r in bad)
                if bad
                else f"{len(mine)} runs, {sum(r.released for r in mine)} released",
            )
        )
        worst = max(mine, key=lambda r: r.calls_per_instance["total"])
        targets.append(
            Target(
                f"{prefix}<= {CALLS_PER_INSTANCE} accepted API calls per instance",
                _status(worst.calls_per_instance["total"] <= CALLS_PER_INSTANCE),
                f"max {worst.calls_per_instance['total']} at N={worst.instances} seed {worst.seed} "
                f"({worst.attempts_per_instance['total']} with throttled attempts)",
            )
        )
    slots = {(r.seed, r.instances): r for r in runs if r.candidate == SLOT_CANDIDATE}
    if slots:
        targets.append(
            _floor_target(
                f"{prefix}{{slot}} N={SLOT_N} into one pool within {SLOT_FLOOR_RATIO}x the floor",
                _at(slots, SLOT_N),
                SLOT_FLOOR_RATIO,
                rate_scale,
                extra=lambda r: f", {r.duplicate_names} duplicate names, lost {r.lost}",
            )
        )
    return targets


def _floor_target(
    name: str,
    runs: Sequence[RunResult],
    limit: float,
    rate_scale: float,
    extra: Callable[[RunResult], str] = lambda r: "",
) -> Target:
    if runs and all(r.floor_seconds == 0 for r in runs):
        return Target(name, NOT_APPLICABLE, f"the floor is 0 s with these buckets (bursts cover N={runs[0].instances})")
    return _every_seed(
        name,
        runs,
        lambda r: r.ratio_to_floor is not None and r.ratio_to_floor <= limit and not _lost(r) and not r.duplicate_names,
        lambda r: f"seed {r.seed}: {r.release_seconds} s / {r.floor_seconds} s = {r.ratio_to_floor}x" + extra(r),
        rate_scale,
    )


def _every_seed(
    name: str, items: Sequence[_T], ok: Callable[[_T], bool], describe: Callable[[_T], str], rate_scale: float
) -> Target:
    """PASS when every seed's run meets the goal; N/A without runs or away from AWS's rates."""
    if not items:
        return Target(name, NOT_APPLICABLE, "not run")
    measured = "; ".join(describe(item) for item in items)
    if rate_scale != 1:
        return Target(name, NOT_APPLICABLE, f"stated at --rate-scale 1, run at {rate_scale:g}: {measured}")
    return Target(name, _status(all(ok(item) for item in items)), measured)


def _sweep_targets(results: BenchResults) -> list[Target]:
    sweep = results.sweep
    if not sweep:
        return []
    first, second = sweep["first"], sweep["second"]
    over = [row for row in first["budget"] if not row["ok"]]
    named = first["named_the_unnamed"]
    named_later = second["named_the_unnamed"]
    ok = not over and named == sweep["unnamed"] and not first["named_others"] and not second["summary"]["named"]
    return [
        Target(
            f"sweep of {sweep['instances']} instances in {sweep['groups']} groups within its call budget, "
            "names exactly the unnamed, and the next sweep writes nothing",
            _status(ok),
            f"{first['seconds']} s; named {named}/{sweep['unnamed']} (others {first['named_others']}); "
            + (", ".join(f"{row['calls']} {row['used']} > {row['limit']}" for row in over) or "every call in budget")
            + f"; next sweep {second['seconds']} s, named {second['summary']['named']}"
            + (f" (of them left by the first: {named_later})" if named_later else ""),
        )
    ]


def _no_worse(ours: RunResult, theirs: RunResult) -> bool:
    if None in (ours.release_seconds, ours.p50_seconds, theirs.release_seconds, theirs.p50_seconds):
        return False
    return (
        not _lost(ours)
        and ours.release_seconds <= theirs.release_seconds  # type: ignore[operator]
        and ours.p50_seconds <= theirs.p50_seconds  # type: ignore[operator]
    )


def _at(runs: dict[tuple[int, int], RunResult], n: int) -> list[RunResult]:
    return [runs[key] for key in sorted(runs) if key[1] == n]


def _lost(run: RunResult) -> bool:
    return bool(run.lost or run.abandoned or run.unnamed or run.dlq or run.timed_out)


def _loss(run: RunResult) -> str:
    return (
        f"N={run.instances} seed {run.seed}: lost {run.lost}, abandoned {run.abandoned}, unnamed {run.unnamed}, "
        f"dlq {run.dlq}" + (", timed out" if run.timed_out else "")
    )


def _status(ok: bool) -> str:
    return PASS if ok else MISS
