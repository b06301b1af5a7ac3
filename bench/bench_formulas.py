"""Inputs shared by the benchmarks: the 6-statement formula, its metric history and
a realistic ~8 KB formula of ~100 statements that mixes every construct.

Nothing here is timed; ``bench/run.py`` imports it.
"""

from __future__ import annotations

import numpy as np

PERIOD = 300_000_000  # 30 s in ticks
TICKS_PER_MINUTE = 600_000_000
TICKS_PER_HOUR = 60 * TICKS_PER_MINUTE
SAMPLES = 2_880  # 24 h of 30 s samples
SERIES = ("$PendingTasks", "$CPUPercent", "$ActiveTasks")
NOW_ISO = "2026-03-02T10:00:00Z"

EVAL_FORMULA = """\
$pct = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10);
$pending = avg($PendingTasks.GetSample(TimeInterval_Hour * 24));
$cpu = max($CPUPercent.GetSample(TimeInterval_Minute * 30));
$recent = $ActiveTasks.GetSample(TimeInterval_Minute * 5, 50);
$TargetDedicatedNodes = $pct < 70 ? 1 : min(20, max(0, $pending / 4 + ($cpu > 80 ? 2 : 0)));
$NodeDeallocationOption = taskcompletion;
"""


def now_ticks() -> int:
    from poolscale.formula.timeparse import parse_iso_time

    return parse_iso_time(NOW_ISO).ticks


def sample_values(seed: int = 20260302) -> dict[str, np.ndarray]:
    """24 h of plausible samples: integer queue lengths with a daily swell, CPU as a
    noisy percentage, a few missing samples (NaN) so windows are not all full."""
    rng = np.random.default_rng(seed)
    t = np.arange(SAMPLES) / SAMPLES
    pending = np.round(40 + 30 * np.sin(2 * np.pi * t) + rng.normal(0, 5, SAMPLES)).clip(0)
    cpu = (60 + 25 * np.sin(2 * np.pi * (t + 0.25)) + rng.normal(0, 8, SAMPLES)).clip(0, 100)
    active = np.round(pending * 0.6 + rng.normal(0, 2, SAMPLES)).clip(0)
    out = {"$PendingTasks": pending, "$CPUPercent": cpu, "$ActiveTasks": active}
    for values in out.values():
        values[rng.choice(SAMPLES - 20, 25, replace=False)] = np.nan  # none in the last 10 min
    return out


# -- the ~8 KB formula ------------------------------------------------------------------------

_KEYWORDS = ("taskcompletion", "requeue", "retaineddata", "terminate")

_BLOCK = [
    "// block {k}",
    "$w{k} = $PendingTasks.GetSample(TimeInterval_Minute * {m}, {pct});",
    "$c{k} = $CPUPercent.GetSample(TimeInterval_Hour * 2, TimeInterval_Minute * {k1}, 50);",
    "$a{k} = avg($w{k}) + std($c{k}) / max(1, len($c{k})) - min($w{k}, {k}) * 0.5;",
    "$q{k} = percentile($c{k}, {p}) >= 80 && $ActiveTasks.GetSamplePercent("
    "TimeInterval_Minute * 15) > 60 || !(sum($w{k}) == 0);",
    "$s{k} = time() + -TimeInterval_Hour * {k1} + TimeInterval_Second * 30;",
    "$h{k} = $ActiveTasks.GetSample($s{k}, 5);",
    "/* rounding, logs */",
    "$r{k} = round(ln(1 + norm($c{k})) * {k1}.25) + floor(lg(range($w{k}) + 1)) - "
    "ceil(log(10 + val($w{k}, 0)));",
    '$t{k} = time("2026-03-0{d}T0{k}:15:00Z");',
    "$m{k} = time().hour >= 8 && time().weekday < 6 ? $CurrentDedicatedNodes : "
    "$TaskSlotsPerNode;",
    "$d{k} = ($t{k} - time() < TimeInterval_Zero ? -1 : 1) * $PendingTasks.Count() + "
    "($CPUPercent.GetSamplePeriod() > TimeInterval_Second * 10 ? 1 : 0);",
    "$v{k} = $w{k} * 2 + $w{k} / 4 - 1;",
    "$e{k} = $PendingTasks.GetSample(time() + -TimeInterval_Hour, time(), 40);",
    '$o{k} = $PendingTasks.HistoryBeginTime() < $s{k} ? "old" : "new";',
    "$TargetDedicatedNodes = min(100, max(0, $a{k} / 4 + $r{k} * $q{k} + "
    "(-$m{k} > 5 ? rand() : 0), $v{k}));",
    "$TargetLowPriorityNodes = $o{k} == \"old\" ? $PendingTasks.GetSample(1) : "
    "$h{k} / 100 + $d{k} * 0;",
    "$NodeDeallocationOption = {kw};",
    "$TargetDedicatedNodes > 1000 ? stop() : 0;",
]


def big_formula(target_chars: int = 8_000, statements: int = 100) -> str:
    """A valid formula of exactly ``statements`` statements and about ``target_chars``
    characters (never more than 8192), built from blocks that use every construct."""
    lines: list[str] = []
    count = 0
    k = 0
    while count < statements:
        fields = dict(k=k, k1=k + 1, m=5 + k, pct=60 + k, p=50 + 4 * k, d=k % 9 + 1,
                      kw=_KEYWORDS[k % len(_KEYWORDS)])
        for template in _BLOCK:
            if count == statements:
                break
            line = template.format(**fields)
            lines.append(line)
            if not line.startswith(("//", "/*")):
                count += 1
        k += 1
    text = "\n".join(lines) + "\n"
    filler = 0
    while len(text) < target_chars - 40:
        text += f"// padding comment {filler:03d} keeps the size realistic\n"
        filler += 1
    if len(text) > 8192:
        raise AssertionError(f"the bench formula has {len(text)} characters; at most 8192 fit")
    return text
