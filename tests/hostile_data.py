"""What hostile input looks like, for every kind of file poolscale reads (docs/hostile-input.md).

Hypothesis strategies, built from the project's own files: formulas made from the grammar,
deep and wide formulas, byte-level mutations of the shipped examples and of the compliance
corpus; scenario, test, pool and workload documents (seeds mutated as trees, written as JSON
or YAML, then mutated as bytes, sometimes gzip'd); and the files nobody means to give: empty,
binary, not UTF-8, BOMs, NULs, very long lines, deep nesting, numbers of thousands of digits,
YAML anchors. ``hostile_cases`` builds command lines and library calls from them.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import gzip
import json
import re
from pathlib import Path
from typing import Any, Callable

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
COMPLIANCE = ROOT / "tests" / "compliance"


# ============================================================================ seeds

def _read(path: Path) -> bytes:
    return path.read_bytes()


def _yaml_load(data: bytes | str) -> Any:
    import yaml

    return yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _compliance_cases() -> list[dict]:
    def build():
        cases = []
        for f in sorted(COMPLIANCE.glob("*.yaml")):
            cases += (_yaml_load(f.read_bytes()) or {}).get("cases", [])
        return cases
    return _cached("compliance", build)


_CACHE: dict[str, Any] = {}


def _cached(key: str, build: Callable[[], Any]) -> Any:
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


def seed_formulas() -> list[str]:
    """Every formula the project ships: examples, the pool's, and the compliance corpus."""
    def build():
        out = [p.read_text("utf-8") for p in sorted(EXAMPLES.glob("*.formula"))]
        out.append(json.loads(_read(EXAMPLES / "pool.json"))["autoScaleFormula"])
        for case in _compliance_cases():
            if isinstance(case.get("formula"), str) and len(case["formula"]) < 4000:
                out.append(case["formula"])
        return out
    return _cached("formulas", build)


def seed_scenarios() -> list[Any]:
    def build():
        docs = [json.loads(_read(EXAMPLES / "busy-pool.json")), FULL_SCENARIO]
        docs += [c["scenario"] for c in _compliance_cases() if isinstance(c.get("scenario"), dict)
                 and c["scenario"]][:40]
        return docs
    return _cached("scenarios", build)


FULL_SCENARIO = {
    "time": "2026-03-02T10:00:00Z",
    "pool": {"currentDedicatedNodes": 3, "currentLowPriorityNodes": 1, "targetDedicatedNodes": 4,
             "targetLowPriorityNodes": 2, "taskSlotsPerNode": 2},
    "samples": {"$PendingTasks": "3 4 _ 6 7 _ 9 10", "CPUPercent": [12.5, None, 50, 87.1, 100],
                "$ActiveTasks": "0+1x30", "RunningTasks": "5x20"},
    "period": "PT30S", "delay": "PT30S", "seed": 7,
}

E7_TEST = {
    "formula": "$TargetDedicatedNodes = 1;\n"
               "busy = avg($PendingTasks.GetSample(180 * TimeInterval_Second));\n"
               "$TargetDedicatedNodes = busy;\n",
    "tests": [
        {"name": "too few samples fail the run", "time": "2026-03-02T10:00:00Z",
         "samples": {"$PendingTasks": "3 4 5 6 7 8 9 10"}, "delay": "PT60S",
         "expect_error": {"code": "InsufficientSampleData"},
         "expect": {"$TargetDedicatedNodes": 1}},
        {"name": "approx", "time": "2026-03-02T10:00:00Z", "seed": 3,
         "pool": {"currentDedicatedNodes": 4}, "samples": {"$PendingTasks": [3, None, 5]},
         "expect": {"busy": {"approx": 4, "tol": 0.5}, "$TargetDedicatedNodes": "4"},
         "results": "$TargetDedicatedNodes=4;$TargetLowPriorityNodes=0;"
                    "$NodeDeallocationOption=requeue;busy=4"},
        {"name": "a timeline", "period": "PT30S",
         "timeline": {"start": "2026-03-02T09:30:00Z", "end": "2026-03-02T10:00:00Z",
                      "every": "PT5M"},
         "samples": {"$PendingTasks": "0+1x60"},
         "expect_steps": {"busy": [1, 1, 10.5, 20.5, 30.5, 40.5, 50.5]}},
        {"name": "steps by instant",
         "timeline": {"start": "2026-03-02T09:30:00Z", "end": "2026-03-02T09:40:00Z",
                      "every": "PT5M"},
         "samples": {"$PendingTasks": "1x60"},
         "expect_steps": [{"at": "+5m", "expect": {"busy": 1}},
                          {"at": "2026-03-02T09:40:00Z", "results": "x"}]},
    ],
}


def seed_tests() -> list[Any]:
    return _cached("tests", lambda: [_yaml_load(_read(EXAMPLES / "busy-pool.test.yaml")),
                                     E7_TEST])


RICH_POOL = {
    "id": "rich", "vmSize": "STANDARD_D2s_v3", "taskSlotsPerNode": 2,
    "taskSchedulingPolicy": {"nodeFillType": "spread", "jobDefaultOrder": "creationtime"},
    "enableAutoScale": True, "autoScaleEvaluationInterval": "PT5M", "resizeTimeout": "PT15M",
    "autoScaleFormula": "$TargetDedicatedNodes = min(5, $PendingTasks.GetSample(1));"
                        "$TargetLowPriorityNodes = 1; $NodeDeallocationOption = requeue;",
    "startTask": {"commandLine": "true", "waitForSuccess": True, "maxTaskRetryCount": 2},
    "simulation": {
        "start": "2026-03-02T00:00:00Z", "horizon": "PT6H", "seed": 3,
        "dedicatedCoreQuota": 40, "lowPriorityCoreQuota": 20, "coresPerNode": 2,
        "maxNodesPerKind": 50,
        "allocationTime": {"kind": "triangular", "low": 60, "mode": 90, "high": "PT3M"},
        "bootTime": {"kind": "normal", "mean": "PT1M", "stddev": 10},
        "startTask": {"duration": {"kind": "exponential", "mean": 30}, "failureProbability": 0.1},
        "preemption": {"meanTimeBetween": "PT2H", "recoveryTime": "PT5M"},
        "nodeFailure": {"meanTimeBetween": "PT3H", "repairTime": {"kind": "lognormal",
                                                                   "mean": 600, "stddev": 60}},
        "samples": {"period": "PT30S", "delay": "PT30S", "lossRate": 0.05},
        "prices": {"dedicated": 0.1, "lowPriority": 0.02},
    },
}


def seed_pools() -> list[Any]:
    def build():
        pool = json.loads(_read(EXAMPLES / "pool.json"))
        pool["simulation"]["horizon"] = "PT6H"   # seeds stay cheap; mutations change it
        fixed = json.loads(_read(EXAMPLES / "fixed-pool.json"))
        envelope = {"pool": {k: v for k, v in RICH_POOL.items() if k != "simulation"},
                    "simulation": RICH_POOL["simulation"]}
        return [pool, fixed, RICH_POOL, envelope]
    return _cached("pools", build)


RICH_JOBS = {
    "jobs": [
        {"id": "etl", "priority": 100, "constraints": {"maxTaskRetryCount": 2,
                                                       "maxWallClockTime": "PT2H"},
         "usesTaskDependencies": True, "onAllTasksComplete": "terminatejob",
         "onTaskFailure": "performexitoptionsjobaction", "maxParallelTasks": 3,
         "jobPreparationTask": {"duration": 20, "failureProbability": 0.1},
         "jobReleaseTask": {"duration": 10},
         "tasks": [
             {"id": "extract", "submitTime": "2026-03-02T01:00:00Z", "duration": "PT20M"},
             {"id": "load", "submitTime": 3700, "duration": 600, "requiredSlots": 2,
              "exitCodes": [1, 0], "dependsOn": {"taskIds": ["extract"]},
              "exitConditions": {"exitCodes": [{"code": 1, "exitOptions": {"jobAction": "none"}}],
                                 "default": {"jobAction": "terminate"}},
              "profile": {"cpuPercent": 80, "memoryMB": 512, "diskReadBytesPerSecond": 1e6}},
             {"id": "mpi", "submitTime": 60, "duration": 120,
              "multiInstanceSettings": {"numberOfInstances": 2}},
         ]},
        {"id": "mgr", "creationTime": 30,
         "jobManagerTask": {"id": "jm", "duration": 300, "killJobOnCompletion": True},
         "tasks": [{"id": "t1", "submitTime": 100, "duration": 50, "exitCode": 3}]},
    ],
}


def seed_workload_docs() -> list[Any]:
    def build():
        gen = _yaml_load(_read(EXAMPLES / "generator.yaml"))
        return [
            RICH_JOBS,
            {"tasks": [{"id": "a", "submitTime": 0, "duration": 600},
                       {"id": "b", "submitTime": 30, "duration": "PT1M", "requiredSlots": 1}]},
            [{"id": "j", "tasks": [{"id": "t", "duration": 5}]}],
            gen,
            {"generator": {"kind": "poisson", "rate_per_hour": 30, "count": 50, "duration": 600}},
            {"generator": {"kind": "bursts", "seed": 2, "ratePerHour": 5, "horizon": "PT6H",
                           "bursts": {"every": "PT2H", "size": 20, "width": "PT5M"},
                           "duration": {"kind": "uniform", "low": 60, "high": 300},
                           "slots": {"values": [1, 2], "weights": [1, 1]}}},
            {"generator": {"kind": "bursts", "count": 40,
                           "bursts": [{"at": "PT1H", "size": 30, "width": "PT10M"}]}},
        ]
    return _cached("workload-docs", build)


def seed_csv() -> list[bytes]:
    def build():
        lines = _read(EXAMPLES / "workload.csv").splitlines(keepends=True)
        return [b"".join(lines[:25]),
                b"submit_time,duration,slots,job,priority,exit_code,id\n0,600\n"
                b"155,1392,2,render,0,0,a\n2026-03-02T10:05:00Z,PT5M,1,urgent,100,1,b\n"
                b"# comment\n\n300,10,1,render,0,0\n"]
    return _cached("csv", build)


def seed_swf() -> list[bytes]:
    def build():
        lines = _read(EXAMPLES / "workload.swf").splitlines(keepends=True)
        head = [ln for ln in lines if ln.startswith(b";")]
        body = [ln for ln in lines if not ln.startswith(b";")]
        return [b"".join(head[:6] + body[:30]),
                b"1 0 5 100 4 -1 2048 4 -1 -1 1 7 -1 -1 2 -1 -1 -1\n"
                b"2 10 5 -1 -1 -1 -1 8 -1 -1 5 -1 -1 -1 -1 -1 -1 -1\n"]
    return _cached("swf", build)


ARM_TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "parameters": {"f": {"type": "string", "defaultValue": "$TargetDedicatedNodes = 1;"}},
    "variables": {"g": "$TargetDedicatedNodes = 2;"},
    "resources": [
        {"type": "Microsoft.Batch/batchAccounts/pools", "properties": {"scaleSettings": {
            "autoScale": {"formula": "[variables('g')]", "evaluationInterval": "PT5M"}}}},
        {"type": "Microsoft.Batch/batchAccounts/pools", "properties": {"scaleSettings": {
            "autoScale": {"formula": "[parameters('f')]"}}}},
        {"properties": {"scaleSettings": {"autoScale": {"formula": "[concat('a', 'b')]"}}}},
    ],
}


# ============================================================================ hostile atoms

NUMBERS = [b"0", b"-0", b"-1", b"1", b"0.5", b".5", b"5.", b"1e308", b"1e309", b"-1e308",
           b"1.7976931348623157e308", b"4.9e-324", b"1e-320", b"1e999", b"1E-999", b"9" * 20,
           b"9" * 400, b"9" * 4400, b"NaN", b"nan", b"-nan", b"inf", b"-inf", b"Infinity",
           b"-Infinity", b".inf", b"-.inf", b".nan", b"0x1F", b"0o17", b"1_000", b"2147483648",
           b"9223372036854775808", b"18446744073709551616", b"1e-9", b"100000000000",
           b"1e11", b"1e8", b"10000000", b"256", b"257", b"1001", b"-1001"]
TIMES = [b"0001-01-01T00:00:00Z", b"0001-01-01T00:00:00.0000001Z", b"0001-01-02T00:00:00Z",
         b"9999-12-31T23:59:59.9999999Z", b"9999-12-31T23:59:59Z", b"9999-12-31T00:00:00Z",
         b"10000-01-01T00:00:00Z", b"2026-02-30T00:00:00Z", b"2026-03-02T10:00:00+14:00",
         b"2026-03-02T10:00:00-23:59", b"2026-03-02T24:00:00Z", b"2026-03-02T10:00:60Z",
         b"1970-01-01T00:00:00Z", b"2026-03-02", b"2026-03-02T10:00:00",
         b"2026-03-02T10:00:00.123456789Z", b"2026-03-02T10:00:00Z", b"now"]
DURATIONS = [b"PT0S", b"P0D", b"PT0.0000001S", b"P99999999D", b"P10675199D", b"P3650D",
             b"P400D", b"PT1000000000H", b"P1Y", b"P1M", b"-PT1S", b"PT-1S", b"PT30S", b"P7D",
             b"0:00:00", b"1 day, 0:00:00", b"99999999 days, 0:00:00", b"36h", b"1e308",
             b"1e-9", b"0.0000001", b"PT1E9S", b"PT", b"P", b"7d", b"2w", b"90m", b"1e300d"]
NOTATIONS = [b"1x9999999", b"0+1x100000", b"_x1000000", b"1e308x5", b"0-1e308x3", b"_",
             b"1x-1", b"x", b"1+x2", b"1e308+1e308x3", b"nan", b"inf x3", b"1x99999999999999999999"]
TEXT_ODDITIES = [b"\x00", b"\xef\xbb\xbf", b"\xff", b"\xfe\xff", b"\xc3", b"\xed\xa0\x80",
                 b"\xf4\x90\x80\x80", b"\r", b"\n", b"\r\n", b"\t", b"\x0b", b"\x0c", b" " * 1000,
                 "\u2028".encode(), "\u00e9".encode(), "\U0001F600".encode(), b"\\", b'"', b"'",
                 b"%", b"{", b"}", b"\x1b[31m", "\u202e".encode(), b"\\u0000", b"\\ud800"]
FORMULA_TOKENS = [
    b"(", b")", b"?", b":", b";", b"=", b"$", b".", b",", b"-", b"!", b"&&", b"||", b"==",
    b"<", b">=", b"%", b"/", b"*", b"/*", b"*/", b"//", b'"', b"GetSample(", b"GetSamplePercent(",
    b".Count()", b".HistoryBeginTime()", b".GetSamplePeriod()", b"$PendingTasks", b"$CPUPercent",
    b"$TargetDedicatedNodes = ", b"$TargetLowPriority = ", b"$NodeDeallocationOption = ",
    b"now", b".year", b".weekday", b"time(\"0001-01-01T00:00:00Z\")",
    b"time(\"9999-12-31T23:59:59.9999999Z\")", b"TimeInterval_Year", b"TimeInterval_100ns",
    b"stop()", b"rand()", b"percentile(", b"val(", b"avg(", b"max(", b"range(", b"std(",
    b"-" * 8000, b"(" * 3000, b")" * 3000, b"!" * 8000, b"1 ? 2 : z", b"(0 ? z : 2)",
    b"taskcompletion", b"now.$a", b"x = now.$a;", b"1e999", b"$CurrentDedicated", b"z",
]
YAML_TOKENS = [b"&a ", b"*a", b"<<: *a", b"!!python/object/apply:os.system ['true']",
               b"!!binary ", b"? ", b"- ", b": ", b"---\n", b"...\n", b"%YAML 1.1\n", b"!!str ",
               b"!!int ", b"!!float ", b"!!set ", b"!!omap ", b"~", b"null", b"true", b"[", b"]",
               b"{", b"}", b"|", b">", b"#", b"  ", b"\t", b"!foo ", b"&x [*x]"]
JSON_TOKENS = [b"{", b"}", b"[", b"]", b",", b":", b'"', b"null", b"true", b"false",
               b"[" * 5000, b'{"a":' * 2000, b'"\\u0000"', b'"\\ud800"', b"1e400"]
CSV_TOKENS = [b",", b"\n", b"#", b'"', b",,,,,,,,,,", b"submit_time", b"duration", b"slots",
              b"job", b"priority", b"exit_code", b"id"]
SWF_TOKENS = [b";", b" -1", b" ", b"\n", b"1 0 5 100 4 -1 2048 4 -1 -1 1 7 -1 -1 2 -1 -1 -1\n"]

ALL_TOKENS = (NUMBERS + TIMES + DURATIONS + NOTATIONS + TEXT_ODDITIES + FORMULA_TOKENS
              + YAML_TOKENS + JSON_TOKENS + CSV_TOKENS + SWF_TOKENS)

#: placeholder for a scalar written raw into JSON/YAML (NaN, 1e999, 5000-digit numbers ...)
_RAW = re.compile(rb"""["']?@@raw(\d+)@@["']?""")


@dataclasses.dataclass(frozen=True)
class Raw:
    """A scalar spelled exactly as given in the serialized document (json.dumps cannot write
    ``1e999`` or a 5,000-digit number)."""

    text: bytes


def _deep_list(depth: int) -> Raw:
    return Raw(b"[" * depth + b"]" * depth)


HOSTILE_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 0.5, -0.5, 1e308, -1e308, 5e-324, 2**63, 2**64, 10**30,
    1e-9, 1e11, 1e8, 10_000_000, 256, 257, 1001, "", " ", "x" * 10_000, "\u0000", "\ud800x",
    [], {}, [None], [1e308, None, -1e308], {"unknown": 1}, {"kind": "constant", "value": 1e308},
    {"kind": "lognormal", "mean": 1e308, "stddev": 1},
    {"kind": "normal", "mean": 1, "stddev": 1e308},
    {"kind": "uniform", "low": 10, "high": 1}, {"kind": "exponential", "mean": 1e-9},
    Raw(b"NaN"), Raw(b"-Infinity"), Raw(b"1e999"), Raw(b"9" * 5000), Raw(b".nan"),
    _deep_list(50), _deep_list(1000), Raw(b"[" * 100_000 + b"]" * 100_000),
] + [t.decode() for t in TIMES + DURATIONS + NOTATIONS] + [
    "$TargetDedicatedNodes = " + "-" * 8000 + "1;", "y = -(1 ? 2 : z);", "x = now.$a;",
    "$TargetDedicatedNodes = 1e308 * 10;", "busy-pool.formula", "/dev/null", ".", "..",
    "../../../../etc/hostname", "/nonexistent/file", "(", "[", "*", "(a+)+$",
]


def dump_document(doc: Any, style: str) -> bytes:
    """``doc`` as JSON or YAML text (``style``: json, json-pretty, yaml, yaml-flow), Raw
    scalars spelled raw."""
    raws: list[bytes] = []

    def swap(node):
        if isinstance(node, Raw):
            raws.append(node.text)
            return f"@@raw{len(raws) - 1}@@"
        if isinstance(node, dict):
            return {swap_key(k): swap(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [swap(v) for v in node]
        if isinstance(node, int) and not isinstance(node, bool) and abs(node) > 10**4000:
            raws.append(str(node).encode())   # pragma: no cover - kept for callers' big ints
            return f"@@raw{len(raws) - 1}@@"
        return node

    def swap_key(k):
        return k if isinstance(k, (str, int, float, bool)) or k is None else str(k)

    data = swap(doc)
    if style.startswith("json"):
        text = json.dumps(data, indent=2 if style == "json-pretty" else None,
                          ensure_ascii=False).encode("utf-8", "surrogatepass")
    else:
        import yaml

        options = dict(default_flow_style=style == "yaml-flow", allow_unicode=True,
                       sort_keys=False, width=10**9)
        try:
            text = yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
                             **options).encode("utf-8")
        except UnicodeEncodeError:   # libyaml cannot write a lone surrogate; PyYAML escapes it
            text = yaml.dump(data, Dumper=yaml.SafeDumper, **options).encode("utf-8",
                                                                              "surrogatepass")
    return _RAW.sub(lambda m: raws[int(m.group(1))], text)


# ============================================================================ strategies

def mutated(seeds: st.SearchStrategy[bytes], tokens: list[bytes], *, max_ops: int = 6,
            others: list[bytes] | None = None) -> st.SearchStrategy[bytes]:
    """Bytes of a seed after up to ``max_ops`` byte-level mutations: bit flips, random and
    dictionary insertions, deletions, repeats (long lines, huge files), truncation, a number
    or word replaced by a hostile one, a splice from another seed."""

    @st.composite
    def build(draw) -> bytes:
        data = bytearray(draw(seeds))
        for _ in range(draw(st.integers(0, max_ops))):
            op = draw(st.sampled_from(_OPS))
            n = len(data)
            i = draw(st.integers(0, n))
            if op == "flip" and n:
                data[i % n] ^= 1 << draw(st.integers(0, 7))
            elif op == "byte":
                data[i:i] = bytes([draw(st.integers(0, 255))])
            elif op == "token":
                data[i:i] = draw(st.sampled_from(tokens))
            elif op == "any-token":
                data[i:i] = draw(st.sampled_from(ALL_TOKENS))
            elif op == "delete":
                del data[i:i + draw(st.integers(1, 64))]
            elif op == "repeat" and n:
                j = min(n, i + draw(st.integers(1, 40)))
                chunk = bytes(data[i:j]) or bytes(data[-1:])
                times = draw(st.sampled_from([2, 3, 10, 100, 1000, 20000]))
                data[i:j] = chunk * max(1, min(times, (_MAX_BYTES - n) // len(chunk)))
            elif op == "truncate":
                del data[i:]
            elif op in ("number", "word"):
                pattern = rb"\d+(?:\.\d+)?" if op == "number" else rb"[A-Za-z0-9_.:+$-]+"
                found = list(re.finditer(pattern, data))
                if found:
                    m = found[draw(st.integers(0, len(found) - 1))]
                    data[m.start():m.end()] = draw(st.sampled_from(
                        NUMBERS if op == "number" else tokens + NUMBERS + TIMES + DURATIONS))
            elif op == "splice" and others:
                other = draw(st.sampled_from(others))
                a = draw(st.integers(0, len(other)))
                data[i:i] = other[a:a + draw(st.integers(1, 200))]
        return bytes(data[:_MAX_BYTES])

    return build()


_MAX_BYTES = 4_000_000   # what mutation may grow a file to (big inputs have their own cases)
_OPS = ["flip", "byte", "token", "token", "any-token", "delete", "repeat", "truncate", "number",
        "number", "word", "word", "splice"]


@functools.cache
def garbage() -> st.SearchStrategy[bytes]:
    """Files nobody means to give poolscale."""
    return st.one_of(
        st.just(b""),
        st.binary(max_size=300),
        st.sampled_from([b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf", b"\xff\xfe\x00\x00",
                         b"\xfe\xff\x00x", b"\x00" * 1000, b"\n" * 100_000,
                         b"\x1f\x8b\x08\x00", gzip.compress(b"x" * 1000),
                         b"x" * 2_000_000, b"{" * 200_000, b"[" * 200_000 + b"]" * 200_000,
                         b"- " * 50_000 + b"x", b"a: " * 30_000 + b"1",
                         b"9" * 100_000, b"\xed\xa0\x80", b"\xc0\x80", b"\r" * 10_000]),
        st.builds(_yaml_bomb, st.integers(2, 7), st.integers(2, 9)),
    )


def _yaml_bomb(levels: int, width: int) -> bytes:
    """Nested anchors: ``levels`` of lists each holding ``width`` aliases of the one below."""
    lines = [b"a0: &a0 [x, x]"]
    for k in range(1, levels + 1):
        refs = b", ".join(b"*a%d" % (k - 1) for _ in range(width))
        lines.append(b"a%d: &a%d [%s]" % (k, k, refs))
    return b"\n".join(lines) + b"\n"


# --------------------------------------------------------------------------- formulas

_SERIES = ["$CPUPercent", "$PendingTasks", "$ActiveTasks", "$RunningTasks", "$SucceededTasks",
           "$FailedTasks", "$MemoryBytes", "$DiskReadOps", "$NetworkInBytes", "$SampleNodeCount",
           "$PreemptedNodeCount", "$UsableNodeCount", "$pendingtasks", "$WallClockSeconds"]
_VALUE_NAMES = ["$CurrentDedicatedNodes", "$CurrentLowPriorityNodes", "$TaskSlotsPerNode",
                "$CurrentDedicated", "$TargetDedicatedNodes", "$TargetLowPriorityNodes",
                "$TargetDedicated", "$TargetLowPriority", "$NodeDeallocationOption",
                "TimeInterval_Zero", "TimeInterval_100ns", "TimeInterval_Second",
                "TimeInterval_Minute", "TimeInterval_Hour", "TimeInterval_Day",
                "TimeInterval_Week", "TimeInterval_Year", "now", "requeue", "terminate",
                "taskcompletion", "retaineddata", "x", "y", "$z", "X", "busy", "$busy", "z"]
_TARGETS = ["$TargetDedicatedNodes", "$TargetLowPriorityNodes", "$TargetDedicated",
            "$TargetLowPriority", "$NodeDeallocationOption", "$targetdedicatednodes",
            "x", "y", "$z", "busy", "$busy", "$CurrentDedicatedNodes", "$PendingTasks", "now"]
_FUNCTIONS = {"avg": (1, 3), "len": (1, 2), "lg": (1, 1), "ln": (1, 1), "log": (1, 1),
              "max": (1, 3), "min": (1, 3), "norm": (1, 2), "percentile": (2, 2), "rand": (0, 0),
              "range": (1, 2), "std": (1, 2), "stop": (0, 0), "sum": (1, 3), "time": (0, 1),
              "val": (2, 2), "ceil": (1, 1), "floor": (1, 1), "round": (1, 1), "foo": (0, 2)}
_METHODS = {"GetSample": (1, 3), "GetSamplePercent": (1, 3), "Count": (0, 0),
            "HistoryBeginTime": (0, 0), "GetSamplePeriod": (0, 0), "getsample": (1, 1)}
_MEMBERS = ["year", "month", "day", "weekday", "hour", "minute", "second", "Hour", "foo"]
_BINARY = ["+", "-", "*", "/", "%", "<", "<=", ">", ">=", "==", "!=", "&&", "||"]


def _number_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(0, 10**6).map(str),
        st.floats(0, 1e6, allow_nan=False).map(lambda f: repr(f).replace("inf", "1e999")),
        st.sampled_from(["0", "1", ".5", "5.", "1e308", "1e309", "1e999", "4.9e-324", "1e-400",
                         "9" * 400, "9" * 4400, "1.7976931348623157e308", "2e-7"]),
    )


def _leaf() -> st.SearchStrategy[str]:
    return st.one_of(
        _number_text(),
        st.sampled_from(_VALUE_NAMES),
        st.sampled_from(["\"\"", "\"x\"", "\"2026-03-02T10:00:00Z\"", "\"0001-01-01T00:00:00Z\"",
                         "\"9999-12-31T23:59:59.9999999Z\"", "\"P1D\"", "\"" + "a" * 300 + "\""]),
        st.sampled_from(_SERIES).map(lambda s: f"{s}.GetSample(TimeInterval_Minute * 5)"),
        st.sampled_from(_SERIES).map(lambda s: f"{s}.GetSample(3)"),
    )


def _compound(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    args = st.lists(children, max_size=3)
    return st.one_of(
        st.tuples(children, st.sampled_from(_BINARY), children).map(" ".join),
        st.tuples(st.sampled_from(["-", "!", "--", "-!"]), children).map("".join),
        st.tuples(children, children, children).map(lambda t: f"{t[0]} ? {t[1]} : {t[2]}"),
        children.map(lambda c: f"({c})"),
        st.tuples(st.sampled_from(sorted(_FUNCTIONS)), args).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.tuples(st.one_of(st.sampled_from(_SERIES), children.map(lambda c: f"({c})")),
                  st.sampled_from(sorted(_METHODS)), args).map(
            lambda t: f"{t[0]}.{t[1]}({', '.join(t[2])})"),
        st.tuples(st.one_of(st.just("now"), children.map(lambda c: f"({c})"),
                            st.just("time(\"2026-03-02T10:00:00Z\")")),
                  st.sampled_from(_MEMBERS)).map(lambda t: f"{t[0]}.{t[1]}"),
    )


@functools.cache
def grammar_formulas() -> st.SearchStrategy[str]:
    """Formulas shaped by the grammar: mostly well-formed, often ill-typed."""
    expr = st.recursive(_leaf(), _compound, max_leaves=16)
    statement = st.one_of(
        st.tuples(st.sampled_from(_TARGETS), expr).map(lambda t: f"{t[0]} = {t[1]}"),
        expr,
        st.just(""),
    )
    sep = st.sampled_from([";", ";\n", "; ", ";\r\n", "; // c\n", ";/* c */", "\n;"])
    return st.lists(st.tuples(statement, sep), max_size=8).map(
        lambda items: "".join(s + p for s, p in items))


_DEEP_SHAPES = {
    "minus": lambda n: "-" * n + "1",
    "bang": lambda n: "!" * n + "0",
    "parens": lambda n: "(" * n + "1" + ")" * n,
    "ternary": lambda n: "1 ? " * n + "1" + " : 0" * n,
    "else-chain": lambda n: "0 ? 1 : " * n + "2",
    "sum": lambda n: "1" + " + 1" * n,
    "right-sum": lambda n: "1 + (" * n + "1" + ")" * n,
    "calls": lambda n: "max(" * n + "1" + ")" * n,
    "members": lambda n: "(" * n + "now" + ").hour + 0)" * (n - 1) + ").hour" if n else "now",
    "compare": lambda n: "(1 < " * n + "1" + ")" * n,
    "logic": lambda n: "1" + " && 1" * n,
    "vector": lambda n: "avg(" + ", ".join(["$PendingTasks.GetSample(1)"] * n) + ")",
    "unassigned-minus": lambda n: "-" * n + "(1 ? 2 : z)",
}


@functools.cache
def deep_formulas() -> st.SearchStrategy[str]:
    """Nesting and width at and past the 8192-character limit."""
    return st.builds(
        lambda shape, n, target: f"{target} = {_DEEP_SHAPES[shape](n)};",
        st.sampled_from(sorted(_DEEP_SHAPES)),
        st.sampled_from([1, 10, 150, 151, 1000, 2700, 4000, 8000, 8190, 12000, 50_000]),
        st.sampled_from(["$TargetDedicatedNodes", "x", "$TargetLowPriorityNodes"]),
    )


@functools.cache
def wide_formulas() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from([100, 101, 1000, 100_000]).map(lambda n: "x = 1;" * n),
        st.sampled_from([8183, 8192, 100_000, 2_000_000]).map(lambda n: "x = 1; //" + "a" * n),
        st.sampled_from([300, 8000, 100_000]).map(lambda n: "x" * n + " = 1;"),
        st.sampled_from([300, 8000, 100_000]).map(lambda n: "x = \"" + "s" * n + "\";"),
        st.sampled_from([10, 10_000]).map(lambda n: "/*" * n + "*/"),
    )


@functools.cache
def formula_bytes() -> st.SearchStrategy[bytes]:
    """A formula file: generated, deep, wide, a mutated shipped formula, or garbage."""
    seeds = st.sampled_from(seed_formulas()).map(lambda s: s.encode("utf-8"))
    others = [s.encode("utf-8") for s in seed_formulas()[:20]]
    generated = st.one_of(grammar_formulas(), deep_formulas(), wide_formulas()).map(
        lambda s: s.encode("utf-8"))
    return st.one_of(
        generated,
        mutated(seeds, FORMULA_TOKENS + TEXT_ODDITIES, others=others),
        mutated(generated, FORMULA_TOKENS + TEXT_ODDITIES, max_ops=3),
        garbage(),
    )


@functools.cache
def formula_text() -> st.SearchStrategy[str]:
    """A formula as the library takes it: ``str``, lone surrogates and NULs included."""
    return st.one_of(
        formula_bytes().map(lambda b: b.decode("utf-8", "surrogateescape")),
        st.text(max_size=200),
    )


# --------------------------------------------------------------------------- documents

def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, path + (i,))
    return out


def _get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


#: keys whose values set a size, a rate, a time or a count: half the mutations aim at them
HOT_KEYS = frozenset({
    "time", "period", "delay", "seed", "samples", "currentDedicatedNodes", "taskSlotsPerNode",
    "targetDedicatedNodes", "targetLowPriorityNodes", "autoScaleFormula", "formula",
    "autoScaleEvaluationInterval", "resizeTimeout", "start", "horizon", "maxNodesPerKind",
    "dedicatedCoreQuota", "lowPriorityCoreQuota", "coresPerNode", "allocationTime", "bootTime",
    "duration", "failureProbability", "meanTimeBetween", "recoveryTime", "repairTime",
    "lossRate", "mean", "stddev", "low", "high", "mode", "value", "minimum", "count",
    "rate_per_hour", "ratePerHour", "size", "every", "width", "first", "at", "tasks_per_job",
    "amplitude", "peak_hour", "slots", "weights", "values", "submitTime", "requiredSlots",
    "exitCodes", "exitCode", "numberOfInstances", "maxTaskRetryCount", "maxWallClockTime",
    "maxParallelTasks", "priority", "creationTime", "memoryMB", "cpuPercent", "expect",
    "expect_steps", "timeline", "end", "approx", "tol", "results", "expect_error", "tests",
})


#: what a hot key gets: sizes, rates and times at and past their ends
HOT_VALUES: list[Any] = [
    0, -1, 1, 1e-9, 1e-300, 0.5, 1e308, -1e308, 1e11, 1e8, 10_000_000, 100_000, 2**31, 2**63,
    10**30, None, True, "", "PT0S", "PT0.0000001S", "P99999999D", "P3650D", "-PT1S", "1e308",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1x9999999", [], {},
    Raw(b"NaN"), Raw(b"Infinity"), Raw(b"1e999"), Raw(b"-0"),
    {"kind": "exponential", "mean": 1e-9}, {"kind": "lognormal", "mean": 1e308, "stddev": 1},
    {"kind": "normal", "mean": 1e308, "stddev": 1e308},
    {"kind": "uniform", "low": 0, "high": 1e308},
    {"kind": "constant", "value": 0}, [1e308] * 3, [0] * 1000,
]


def tree_mutated(seeds: list[Any], *, max_ops: int = 4, pinpoint: bool = False) \
        -> st.SearchStrategy[Any]:
    """A seed document (JSON data) after a few structural mutations: a value replaced by a
    hostile one (or by another part of the document), a key dropped or added, an item
    repeated many times, a subtree shared so that YAML writes it as an anchor and aliases.
    Half the mutations aim at a key of :data:`HOT_KEYS`, where the sizes and rates are;
    ``pinpoint``: exactly one mutation, a hot key set to one of :data:`HOT_VALUES`."""

    @st.composite
    def build(draw) -> Any:
        doc = json.loads(json.dumps(draw(st.sampled_from(seeds))))
        for _ in range(1 if pinpoint else draw(st.integers(0, max_ops))):
            paths = _paths(doc)
            hot = [p for p in paths if p and p[-1] in HOT_KEYS]
            aim = bool(hot) and (pinpoint or draw(st.booleans()))
            path = (hot if aim else paths)[draw(st.integers(0, len((hot if aim else paths)) - 1))]
            op = "value" if pinpoint else draw(st.sampled_from(
                ["value", "value", "value", "drop", "add", "repeat", "share", "wrap"]))
            value = copy.deepcopy(draw(st.sampled_from(HOT_VALUES if aim else HOSTILE_VALUES)))
            if not path:
                if op == "wrap":
                    doc = [doc] if draw(st.booleans()) else {"x": doc}
                continue
            parent, key = _get(doc, path[:-1]), path[-1]
            if op == "value":
                parent[key] = value
            elif op == "drop":
                del parent[key]
            elif op == "add":
                if isinstance(parent, dict):
                    parent[draw(st.sampled_from(["zzz", "Time", "$Bogus", "simulation", "pool",
                                                 "tests", "formula", "generator", "<<"]))] = value
                else:
                    parent.insert(key, value)
            elif op == "repeat" and isinstance(parent, list):
                parent[key:key + 1] = [parent[key]] * draw(st.sampled_from([2, 50, 3000]))
            elif op == "share":
                other = _get(doc, paths[draw(st.integers(0, len(paths) - 1))])
                if isinstance(other, (dict, list)) and other is not parent:
                    parent[key] = other if not _contains(other, parent) else value
            elif op == "wrap":
                parent[key] = [parent[key]] if draw(st.booleans()) else {"x": parent[key]}
        return doc

    return build()


def _contains(node: Any, target: Any) -> bool:
    if node is target:
        return True
    if isinstance(node, dict):
        return any(_contains(v, target) for v in node.values())
    if isinstance(node, list):
        return any(_contains(v, target) for v in node)
    return False


def document_bytes(seeds: list[Any], *, yaml_ok: bool = True, raw: list[bytes] = ()) \
        -> st.SearchStrategy[bytes]:
    """A JSON/YAML document: a tree-mutated seed, serialized, then sometimes byte-mutated;
    or a byte-mutated raw seed file; or garbage."""
    styles = ["json", "json-pretty"] + (["yaml", "yaml-flow"] if yaml_ok else [])
    serialized = st.builds(dump_document, tree_mutated(seeds), st.sampled_from(styles))
    tokens = JSON_TOKENS + YAML_TOKENS + NUMBERS + TIMES + DURATIONS + NOTATIONS + TEXT_ODDITIES
    choices = [serialized, serialized, structured_bytes(seeds),
               mutated(serialized, tokens, max_ops=3), garbage()]
    if raw:
        choices.append(mutated(st.sampled_from(list(raw)), tokens))
    return st.one_of(*choices)


@functools.cache
def scenario_bytes() -> st.SearchStrategy[bytes]:
    return document_bytes(seed_scenarios(), raw=[_read(EXAMPLES / "busy-pool.json")])


@functools.cache
def testfile_bytes() -> st.SearchStrategy[bytes]:
    return document_bytes(seed_tests(), raw=[_read(EXAMPLES / "busy-pool.test.yaml")])


def structured_bytes(seeds: list[Any]) -> st.SearchStrategy[bytes]:
    """A tree-mutated seed written as JSON: well-formed, so the reader's checks behind the
    parser (the models, the simulator) get the hostile values."""
    trees = st.one_of(tree_mutated(seeds, max_ops=2), tree_mutated(seeds, pinpoint=True))
    return st.builds(dump_document, trees, st.sampled_from(["json", "json-pretty"]))


@functools.cache
def structured_pool_bytes() -> st.SearchStrategy[bytes]:
    return structured_bytes(seed_pools())


@functools.cache
def pool_bytes() -> st.SearchStrategy[bytes]:
    return document_bytes(seed_pools(), raw=[_read(EXAMPLES / "pool.json"),
                                             _read(EXAMPLES / "fixed-pool.json")])


@functools.cache
def csv_bytes() -> st.SearchStrategy[bytes]:
    seeds = seed_csv()
    return st.one_of(mutated(st.sampled_from(seeds), CSV_TOKENS + NUMBERS + TIMES + DURATIONS
                             + TEXT_ODDITIES, others=seeds), garbage())


@functools.cache
def swf_bytes() -> st.SearchStrategy[bytes]:
    seeds = seed_swf()
    return st.one_of(mutated(st.sampled_from(seeds), SWF_TOKENS + NUMBERS + TEXT_ODDITIES,
                             others=seeds), garbage())


@functools.cache
def workload_doc_bytes() -> st.SearchStrategy[bytes]:
    return document_bytes(seed_workload_docs(), raw=[_read(EXAMPLES / "generator.yaml")])


@functools.cache
def structured_workload_doc_bytes() -> st.SearchStrategy[bytes]:
    return structured_bytes(seed_workload_docs())


@st.composite
def workload_file(draw) -> tuple[str, bytes]:
    """(file name, content) of a workload in any format, sometimes gzip'd (or misnamed)."""
    kind = draw(st.sampled_from(["csv", "csv", "swf", "json", "json", "yaml", "yml"]))
    data = draw({"csv": csv_bytes(), "swf": swf_bytes()}.get(kind, st.one_of(
        structured_workload_doc_bytes(), structured_workload_doc_bytes(), workload_doc_bytes())))
    name = "workload." + kind
    packing = draw(st.sampled_from(["plain"] * 6 + ["gz", "gz-truncated", "gz-misnamed",
                                                    "odd-name"]))
    if packing == "gz":
        data, name = gzip.compress(data, mtime=0), name + ".gz"
    elif packing == "gz-truncated":
        data, name = gzip.compress(data, mtime=0)[:-draw(st.integers(1, 12))], name + ".gz"
    elif packing == "gz-misnamed":
        name = name + ".gz"
    elif packing == "odd-name":
        name = draw(st.sampled_from(["workload", "workload.txt", "workload.CSV", "w.tar.gz"]))
    return name, data
