"""One case per call: a CLI command line with its files, or a library call sequence.

A :class:`Case` is what ``poolscale ...`` is given (argv, the files it names, standard input);
a :class:`LibCase` names a library target of ``hostile_runner`` and its inputs. There is one
strategy per command and per library target (:data:`CLI_CASES`, :data:`LIB_CASES`). Each case
attacks one input at a time (its *focus*) and gives the others as a user would, so that most
cases get past the first check and reach the code behind it. :func:`reproducer` prints a case
as files plus a command line.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
import shlex
from typing import Any, Callable

from hypothesis import strategies as st

from hostile_data import (ARM_TEMPLATE, CSV_TOKENS, DURATIONS, EXAMPLES, FORMULA_TOKENS,
                          NOTATIONS, NUMBERS, TEXT_ODDITIES, TIMES, document_bytes, dump_document,
                          formula_bytes, formula_text, garbage, grammar_formulas, mutated,
                          pool_bytes, scenario_bytes, seed_csv, seed_formulas, seed_pools,
                          seed_scenarios, seed_swf, seed_tests, seed_workload_docs,
                          structured_pool_bytes, testfile_bytes, workload_file)


@dataclasses.dataclass
class Case:
    """One CLI call. In ``argv`` an item ``@name`` is the path of ``files[name]`` (written in a
    fresh directory), ``@@`` that directory itself; ``stdin`` is standard input's bytes."""

    argv: list[str]
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    stdin: bytes = b""

    @property
    def command(self) -> str:
        return self.argv[0]

    def size(self) -> int:
        return sum(map(len, self.files.values())) + len(self.stdin) + sum(map(len, self.argv))

    def __repr__(self) -> str:  # hypothesis prints the failing case: keep it readable
        return reproducer(self, 300)

    def _repr_pretty_(self, printer, cycle) -> None:   # hypothesis's pretty printer
        printer.text(repr(self))


@dataclasses.dataclass
class LibCase:
    """One library call sequence: ``target`` names a function of :data:`LIB_TARGETS`,
    ``args`` its inputs (file contents are bytes, written to a fresh directory)."""

    target: str
    args: dict[str, Any]

    @property
    def command(self) -> str:
        return "lib:" + self.target

    def size(self) -> int:
        return sum(len(v) if isinstance(v, (bytes, str)) else 8 for v in self.args.values())

    def __repr__(self) -> str:
        return reproducer(self, 300)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


# special paths any file argument may be replaced by
_SPECIAL_PATHS = ["/dev/null", "@missing.txt", "@@", "/nonexistent/dir/file"]
_RARE_PATHS = ["/dev/zero", "/dev/urandom"]   # unbounded files: one case in a hundred


# --------------------------------------------------------------------------- mild inputs
# A case attacks one input at a time (its *focus*) and gives the others as a user would, so
# that most cases get past the first check and reach the code behind it.

@functools.cache
def mild_formula_bytes() -> st.SearchStrategy[bytes]:
    """Formulas that compile: the shipped examples and the example pool's."""
    texts = [p.read_bytes() for p in sorted(EXAMPLES.glob("*.formula"))]
    texts.append(json.loads((EXAMPLES / "pool.json").read_bytes())["autoScaleFormula"].encode())
    return st.sampled_from(texts)


@functools.cache
def sane_formula_bytes() -> st.SearchStrategy[bytes]:
    """Formulas as a user writes them, right or wrong: shipped or grammar-shaped."""
    return st.one_of(st.sampled_from(seed_formulas()), grammar_formulas()).map(str.encode)


def _json_doc(seeds: list[Any]) -> st.SearchStrategy[bytes]:
    return st.builds(dump_document, st.sampled_from(seeds),
                     st.sampled_from(["json", "json-pretty"]))


@functools.cache
def mild_scenario_bytes() -> st.SearchStrategy[bytes]:
    return _json_doc(seed_scenarios())


@functools.cache
def mild_pool_bytes() -> st.SearchStrategy[bytes]:
    return _json_doc(seed_pools())


@functools.cache
def mild_workload_file() -> st.SearchStrategy[tuple[str, bytes]]:
    return st.one_of(
        st.sampled_from(seed_csv()).map(lambda b: ("workload.csv", b)),
        st.sampled_from(seed_swf()).map(lambda b: ("workload.swf", b)),
        _json_doc(seed_workload_docs()).map(lambda b: ("workload.json", b)),
    )


@st.composite
def _path_arg(draw, name: str, content: st.SearchStrategy[bytes], files: dict) -> str:
    """``@name`` with content drawn into ``files``, or now and then a special path."""
    roll = draw(st.integers(0, 99))
    if roll < 3:
        return draw(st.sampled_from(_SPECIAL_PATHS))
    if roll < 4:
        return draw(st.sampled_from(_RARE_PATHS))
    files[name] = draw(content)
    return "@" + name


def _mild_path(name: str, content: st.SearchStrategy[bytes], files: dict) -> str:
    """What a user passes: a file that is there."""
    files[name] = content
    return "@" + name


@functools.cache
def _time_arg() -> st.SearchStrategy[str]:
    return st.sampled_from(TIMES + [b"", b"x", b"\xc3\xa9", b"2026-03-02T10:00:00Z"]) \
        .map(lambda b: b.decode())


@functools.cache
def _scenario_name() -> st.SearchStrategy[str]:
    return st.sampled_from(["s.json", "s.yaml", "s.yml", "s.txt", "s"])


@st.composite
def _document_arg(draw, stem: str, content: st.SearchStrategy[bytes], files: dict,
                  extensions: tuple[str, ...] = (".json", ".yaml")) -> str:
    """A JSON/YAML document named for what it holds (JSON text ``.json``, else ``.yaml``),
    misnamed one time in eight, or a special path."""
    path = draw(_path_arg(stem, content, files))
    if path != "@" + stem:
        return path
    data = files.pop(stem)
    json_like = data.lstrip()[:1] in (b"{", b"[")
    ext = draw(st.sampled_from(extensions)) if draw(st.integers(0, 7)) == 0 else \
        extensions[0] if json_like else extensions[1]
    files[stem + ext] = data
    return "@" + stem + ext


def _focus(draw, *inputs: str) -> str:
    """Which input this case attacks (``all``: every one at once)."""
    return draw(st.sampled_from([*inputs, *inputs, "all"]))


def _pick(draw, focus: str, name: str, hostile, mild):
    return draw(hostile if focus in (name, "all") else mild)


# --------------------------------------------------------------------------- CLI cases

@st.composite
def eval_case(draw, command: str = "eval") -> Case:
    focus = _focus(draw, "formula", "formula", "scenario", "time")
    files: dict[str, bytes] = {}
    argv = [command]
    stdin = b""
    if focus in ("formula", "all"):
        if draw(st.integers(0, 9)) == 0:
            stdin = draw(formula_bytes())
            argv.append("-")
        else:
            argv.append(draw(_path_arg("f.formula", formula_bytes(), files)))
    else:
        argv.append(_mild_path("f.formula", draw(sane_formula_bytes()), files))
    if focus in ("scenario", "all"):
        argv += ["--scenario", draw(_document_arg("s", scenario_bytes(), files,
                                                  (".json", ".yaml", ".yml", ".txt", "")))]
    elif draw(st.booleans()):
        argv += ["--scenario", _mild_path("s.json", draw(mild_scenario_bytes()), files)]
    if focus in ("time", "all"):
        argv += ["--time", draw(_time_arg())]
    elif "--scenario" not in argv or draw(st.booleans()):
        argv += ["--time", "2026-03-02T10:00:00Z"]
    if draw(st.booleans()):
        argv.append("--json")
    return Case(argv, files, stdin)


def explain_case() -> st.SearchStrategy[Case]:
    return eval_case("explain")


@st.composite
def check_case(draw) -> Case:
    files: dict[str, bytes] = {}
    argv = ["check"]
    stdin = b""
    for k in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["formula", "formula", "pool", "arm", "test", "dir", "stdin"]))
        if kind == "formula":
            argv.append(draw(_path_arg(f"f{k}.formula", formula_bytes(), files)))
        elif kind == "pool":
            argv.append(draw(_document_arg(f"p{k}", pool_bytes(), files)))
        elif kind == "arm":
            argv.append(draw(_document_arg(f"arm{k}", arm_bytes(), files)))
        elif kind == "test":
            files["busy-pool.formula"] = draw(sane_formula_bytes())
            argv.append(draw(_path_arg(f"t{k}.test.yaml", testfile_bytes(), files)))
        elif kind == "dir":
            files[f"d{k}/.keep"] = b""
            for j in range(draw(st.integers(0, 3))):
                files[f"d{k}/sub/g{j}.formula"] = draw(formula_bytes())
            argv.append(f"@d{k}")
        elif "-" not in argv:
            stdin = draw(formula_bytes())
            argv.append("-")
    if draw(st.booleans()):
        argv += ["--format", draw(st.sampled_from(["text", "json", "github", "sarif"]))]
    if draw(st.booleans()):
        argv.append("--strict")
    return Case(argv, files, stdin)


@functools.cache
def arm_bytes() -> st.SearchStrategy[bytes]:
    return document_bytes([ARM_TEMPLATE])


@st.composite
def test_case(draw) -> Case:
    focus = _focus(draw, "file", "file", "formula", "options")
    files = {"busy-pool.formula": _pick(draw, focus, "formula", formula_bytes(),
                                        sane_formula_bytes())}
    argv = ["test"]
    for k in range(draw(st.integers(1, 2))):
        if focus in ("file", "all"):
            argv.append(draw(_path_arg(f"t{k}.test.yaml", testfile_bytes(), files)))
        else:
            argv.append(_mild_path(f"t{k}.test.yaml", draw(mild_testfile_bytes()), files))
    hostile = focus in ("options", "all")
    if draw(st.integers(0, 3)) == 0:
        argv += ["--run", draw(st.sampled_from(["(", "[", "*", "(a+)+$", "\\", "(?P<"] if hostile
                                               else ["a", "", "queue|pool", "^the"]))]
    if draw(st.integers(0, 3)) == 0:
        argv += ["--junit", draw(st.sampled_from(["@@", "/nonexistent/j.xml"] if hostile
                                                 else ["@out/junit.xml"]))]
    if draw(st.booleans()):
        argv.append("--coverage")
    if draw(st.integers(0, 3)) == 0:
        argv += ["--coverage-threshold", draw(st.sampled_from(
            ["-1", "101", "1e999", "nan", "abc", "9" * 5000] if hostile else ["50", "100", "0"]))]
    if draw(st.booleans()):
        argv.append("--no-explain")
    if any(a.startswith("@out/") for a in argv):
        files["out/.keep"] = b""
    return Case(argv, files)


@functools.cache
def mild_testfile_bytes() -> st.SearchStrategy[bytes]:
    return st.builds(dump_document, st.sampled_from(seed_tests()),
                     st.sampled_from(["yaml", "json"]))


@st.composite
def fmt_case(draw) -> Case:
    files: dict[str, bytes] = {}
    argv = ["fmt"]
    stdin = b""
    mode = draw(st.sampled_from(["in-place", "in-place", "--check", "--diff"]))
    if mode != "in-place":
        argv.append(mode)
    for k in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["file", "file", "file", "dir", "stdin"]))
        if kind == "file":
            argv.append(draw(_path_arg(f"f{k}.formula", formula_bytes(), files)))
        elif kind == "dir":
            files[f"d{k}/.keep"] = b""
            for j in range(draw(st.integers(0, 2))):
                files[f"d{k}/g{j}.formula"] = draw(formula_bytes())
            argv.append(f"@d{k}")
        elif "-" not in argv:
            stdin = draw(formula_bytes())
            argv.append("-")
    if draw(st.integers(0, 5)) == 0:
        argv += ["--width", draw(st.sampled_from(["0", "1", "-1", "40", "100000", "9" * 30,
                                                  "abc", "1e3"]))]
    return Case(argv, files, stdin)


_META = [":help", ":time", ":time now", ":time 2026-03-02T10:00:00Z", ":time 0001-01-01T00:00:00Z",
         ":time 9999-12-31T23:59:59.9999999Z", ":time x", ":samples", ":samples $PendingTasks",
         ":samples $PendingTasks \"0+1x20\"", ":samples CPUPercent [1, null, 3]",
         ":samples $PendingTasks \"1x9999999\"", ":samples $PendingTasks \"\"",
         ":samples $Bogus 1", ":samples $PendingTasks [1e999]", ":samples $PendingTasks [" +
         "1," * 5000 + "1]", ":pool", ":pool currentDedicatedNodes=3",
         ":pool targetDedicatedNodes=none", ":pool taskSlotsPerNode=1e308", ":pool x=1", ":seed",
         ":seed 7", ":seed none", ":seed " + "9" * 5000, ":period", ":period PT1S",
         ":period P99999999D", ":period PT0S", ":delay PT1H", ":delay x", ":scenario", ":vars",
         ":results", ":explain", ":type 1 + 1", ":type $PendingTasks",
         ":type " + "-" * 8000 + "1", ":type", ":lint", ":source", ":undo", ":reset",
         ":save @saved.formula", ":save /nonexistent/x.formula", ":save @@", ":load @s.json",
         ":load /dev/null", ":load @missing.json", ":bogus", ":", ":1", ":quit"]


@st.composite
def repl_case(draw) -> Case:
    focus = _focus(draw, "input", "input", "options")
    files: dict[str, bytes] = {}
    argv = ["repl", "--plain", "--no-history"]
    hostile = focus in ("options", "all")
    if draw(st.integers(0, 3)) == 0:
        argv += ["--scenario", draw(_path_arg("s.json", scenario_bytes(), files)) if hostile
                 else _mild_path("s.json", draw(mild_scenario_bytes()), files)]
    if draw(st.booleans()):
        argv += ["--time", draw(_time_arg()) if hostile else "2026-03-02T10:00:00Z"]
    if draw(st.integers(0, 3)) == 0:
        argv += ["--seed", draw(st.sampled_from(["-1", "9" * 30, "x"] if hostile else ["0", "7"]))]
    if draw(st.integers(0, 3)) == 0:
        argv += ["--formula", draw(_path_arg("start.formula", formula_bytes(), files)) if hostile
                 else _mild_path("start.formula", draw(mild_formula_bytes()), files)]
    lines = []
    statements = formula_bytes() if focus in ("input", "all") else sane_formula_bytes()
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(_META)).encode())
        else:
            lines.append(draw(statements)[:20_000])
    if any(b"@s.json" in ln for ln in lines) and "s.json" not in files:
        files["s.json"] = draw(scenario_bytes())
    stdin = b"\n".join(lines)
    if focus in ("input", "all") and draw(st.integers(0, 5)) == 0:
        stdin = draw(mutated(st.just(stdin), FORMULA_TOKENS + TEXT_ODDITIES, max_ops=3))
    return Case(argv, files, stdin)


def _sim_focus(draw) -> str:
    """Mostly the pool or the workload: what the simulator itself is fed."""
    return draw(st.sampled_from(["pool"] * 3 + ["workload"] * 3 + ["formula"] * 2
                                + ["options", "all"]))


_HORIZONS = [d.decode() for d in DURATIONS] + ["0", "-5", "nan", "inf", "1e308", "9" * 5000]


@st.composite
def _sim_common(draw, command: str, files: dict, focus: str) -> list[str]:
    argv = [command]
    if focus in ("pool", "all"):
        content = st.one_of(structured_pool_bytes(), structured_pool_bytes(), pool_bytes())
        path = draw(_document_arg("pool", content, files, (".json", ".yaml", ".yml", "")))
        if path[1:] in files and draw(st.integers(0, 5)) == 0:   # a gzip'd pool
            data = files.pop(path[1:])
            path += ".gz"
            files[path[1:]] = gzip.compress(data, mtime=0)
    else:
        path = _mild_path("pool.json", draw(mild_pool_bytes()), files)
    argv += ["--pool", path]
    name, data = draw(workload_file() if focus in ("workload", "all") else mild_workload_file())
    files[name] = data
    argv += ["--workload", draw(st.sampled_from(["@" + name] * 30 + _SPECIAL_PATHS))
             if focus in ("workload", "all") else "@" + name]
    hostile = focus in ("options", "all")
    if draw(st.integers(0, 3)) == 0:
        argv += ["--start", draw(_time_arg()) if hostile else "2026-03-02T00:00:00Z"]
    horizon = draw(st.sampled_from(_HORIZONS if hostile else ["PT6H", "PT6H", "PT1H", "none"]))
    if horizon != "none":
        argv += ["--horizon", horizon]
    if draw(st.integers(0, 3)) == 0:
        argv += ["--seed", draw(st.sampled_from(["-1", "9" * 40, "x"] if hostile else ["0", "2"]))]
    argv.append("--no-progress")
    return argv


@st.composite
def simulate_case(draw) -> Case:
    focus = _sim_focus(draw)
    files: dict[str, bytes] = {}
    argv = draw(_sim_common("simulate", files, focus))
    if focus in ("formula", "all"):
        argv += ["--formula", draw(_path_arg("f.formula", formula_bytes(), files))]
    elif draw(st.booleans()):
        argv += ["--formula", _mild_path("f.formula", draw(mild_formula_bytes()), files)]
    hostile = focus in ("options", "all")
    outputs = ["@@", "/nonexistent/"] if hostile else ["@out/"]
    for option, name in (("--report-json", "r.json"), ("--timeline", "t.csv")):
        if draw(st.booleans()):
            where = draw(st.sampled_from(outputs))
            argv += [option, where + name if where.endswith("/") else where]
    if draw(st.integers(0, 19)) == 0:
        argv += ["--plot", draw(st.sampled_from(["@out/p.png", "@out/p.svg", "@out/p.txt"]))]
    if draw(st.booleans()):
        argv.append("--json")
    if any(a.startswith("@out/") for a in argv):
        files["out/.keep"] = b""
    return Case(argv, files)


@st.composite
def compare_case(draw) -> Case:
    focus = _sim_focus(draw)
    files: dict[str, bytes] = {}
    argv = draw(_sim_common("compare", files, focus))
    for k in range(draw(st.integers(1, 3))):
        argv += ["--formula", draw(_path_arg(f"f{k}.formula", formula_bytes(), files))
                 if focus in ("formula", "all") else
                 _mild_path(f"f{k}.formula", draw(mild_formula_bytes()), files)]
    if draw(st.booleans()):
        argv.append("--json")
    return Case(argv, files)


#: the pool of the run cases that reach the engine: no start task (a seed pool's start task is
#: a real command line, e.g. ``sudo apt-get``), one node of two slots
_RUN_POOL = {"id": "fuzz", "vmSize": "STANDARD_D2_v3", "taskSlotsPerNode": 2,
             "targetDedicatedNodes": 1}
#: command lines a run case's tasks may run: harmless ones, and odd ones the split, the
#: executor and the report must survive (quotes, a missing program, a NUL, a huge argument)
_RUN_COMMANDS = ["/bin/true", "/bin/false", "/bin/sh -c 'exit 3'", "/bin/sh -c 'kill -9 $$'",
                 "/bin/echo \u00e9 \U0001F600", "'unbalanced", "\\", '"', "/nonexistent/program",
                 "true", "/bin/true\x00x", "/bin/true " + "x" * 5000, "", "   "]
#: field values of a run case's tasks, valid ones first; never a far submit time, an unlimited
#: retry count or a dependency, which make a real run wait as long as asked (by design, not a
#: finding)
_RUN_FIELDS = {
    "submitTime": ([0, 0.05, "PT0.1S", "2026-01-05T00:00:00Z"], [-1, "x", None]),
    "requiredSlots": ([1, 2, 3], [0, -1, "x"]),
    "duration": ([600], ["x"]),
    "exitCodes": ([[1, 0]], ["x"]),
    "constraints": ([{"maxTaskRetryCount": 1}, {"maxWallClockTime": "PT0.1S"}],
                    [{"maxTaskRetryCount": "x"}, {"maxWallClockTime": "x"}]),
}


@st.composite
def _run_jobs(draw) -> bytes:
    """A jobs file whose tasks run harmless command lines; one case in three breaks a field."""
    broken = draw(st.integers(0, 2)) == 0
    tasks = []
    for i in range(draw(st.integers(0, 4))):
        ids = [f"t{i}"] * 6 + (["", "a b", "t0", "x" * 70] if broken else [])
        task: dict[str, Any] = {"id": draw(st.sampled_from(ids))}
        if not broken or draw(st.integers(0, 7)):
            task["commandLine"] = draw(st.sampled_from(_RUN_COMMANDS))
        for name, (valid, invalid) in _RUN_FIELDS.items():
            if draw(st.integers(0, 3)) == 0:
                task[name] = draw(st.sampled_from(valid + (invalid if broken else [])))
        tasks.append(task)
    job_ids = ["job"] + (["", "j" * 70] if broken else [])
    doc: Any = {"jobs": [{"id": draw(st.sampled_from(job_ids)), "tasks": tasks}]}
    if draw(st.integers(0, 5)) == 0:
        doc = {"tasks": tasks}
    return json.dumps(doc).encode()


@st.composite
def run_case(draw) -> Case:
    """``run`` executes its tasks: only the jobs of :func:`_run_jobs` (harmless command lines)
    on :data:`_RUN_POOL` may reach the engine. A hostile pool, or a jobs file from the
    simulator's fuzzing (whose tasks have no command line, so it is refused before anything
    runs), is the focus of the other cases."""
    focus = draw(st.sampled_from(["pool", "jobs", "jobs", "options", "options"]))
    files: dict[str, bytes] = {}
    argv = ["run"]
    if focus == "pool":
        content = st.one_of(structured_pool_bytes(), pool_bytes())
        argv += ["--pool", draw(_document_arg("pool", content, files))]
        name, data = draw(mild_workload_file())
        files[name] = data
        argv += ["--jobs", "@" + name]
    else:
        argv += ["--pool", _mild_path("pool.json", json.dumps(_RUN_POOL).encode(), files)]
        if focus == "jobs" and draw(st.integers(0, 3)) == 0:
            name, data = draw(workload_file())
            files[name] = data
            argv += ["--jobs", draw(st.sampled_from(["@" + name] * 10 + _SPECIAL_PATHS))]
        else:
            argv += ["--jobs", draw(_document_arg("jobs", _run_jobs(), files))]
    if focus == "options":
        if draw(st.booleans()):
            argv += ["--scale", draw(st.sampled_from(
                ["0", "-1", "nan", "inf", "1e-300", "0.001", "1000", "x", "", "0.01"]))]
        if draw(st.booleans()):
            argv += ["--data", draw(st.sampled_from(["@@", "/dev/null", "@missing/dir",
                                                     "@pool.json", "/nonexistent/dir/file"]))]
        if draw(st.booleans()):
            argv += ["--report-json", draw(st.sampled_from(["@@", "@out/r.json", "/nonexistent/"]))]
        if draw(st.booleans()):
            argv += ["--formula", draw(_path_arg("f.formula", formula_bytes(), files))]
        if draw(st.booleans()):
            argv += ["--seed", draw(st.sampled_from(["-1", "9" * 40, "x", "0"]))]
    if draw(st.booleans()):
        argv.append("--json")
    argv.append("--no-progress")
    if any(a.startswith("@out/") for a in argv):
        files["out/.keep"] = b""
    return Case(argv, files)


#: options of ``serve`` that refuse to start (a server that starts runs until stopped, so every
#: case carries one of these; the others around it are drawn as a user would give them)
_SERVE_REFUSED = [
    ["--port", "-1"], ["--port", "70000"], ["--port", "x"], ["--port", ""],
    ["--host", "0.0.0.0"], ["--host", "203.0.113.9"], ["--host", "::"],
    ["--account", "abc"], ["--key", "QUJD"], ["--account", "A!", "--key", "QUJD"],
    ["--account", "abc", "--key", "not base64!"], ["--account", "abc", "--key", ""],
    ["--account", "x" * 30, "--key", "QUJD"], ["--account", "abc", "--key", "\u00e9\u00e9"],
    ["--min-evaluation-interval", "PT1H"], ["--min-evaluation-interval", "x"],
    ["--min-evaluation-interval", "nan"], ["--min-evaluation-interval", "-5"],
    ["--min-evaluation-interval", "0"], ["--min-evaluation-interval", ""],
    ["--dedicated-core-quota", "-1"], ["--low-priority-core-quota", "x"],
    ["--data", "/dev/null"], ["--data", "@pool.json"], ["--provider", "dask"],
    ["--storage-connection-string", "garbage"],
]
_SERVE_ACCEPTED = [["--port", "0"], ["--min-evaluation-interval", "PT10S"],
                   ["--dedicated-core-quota", "0"], ["--host", "127.0.0.1"]]


@st.composite
def serve_case(draw) -> Case:
    """``serve`` with at least one option it refuses: it must exit 2 with one line, before
    listening (or at once after, for a data directory it cannot use)."""
    files: dict[str, bytes] = {"pool.json": json.dumps(_RUN_POOL).encode()}
    options = draw(st.lists(st.sampled_from(_SERVE_ACCEPTED), max_size=2))
    options.append(draw(st.sampled_from(_SERVE_REFUSED)))
    options = draw(st.permutations(options))
    argv = ["serve", "--data", "@data"] + [arg for option in options for arg in option]
    files["data/.keep"] = b""
    return Case(argv, files)


CLI_CASES: dict[str, Callable[[], st.SearchStrategy[Case]]] = {
    "eval": eval_case, "explain": explain_case, "check": check_case, "test": test_case,
    "fmt": fmt_case, "repl": repl_case, "simulate": simulate_case, "compare": compare_case,
    "run": run_case, "serve": serve_case,
}


# --------------------------------------------------------------------------- library cases

#: evaluation instants in ticks (100 ns since 0001-01-01): the ends of the range included
_TICKS = [0, 1, 10**17, 638_764_200_000_000_000, 638_764_200_000_000_000, 864_000_000_000,
          3_155_378_975_999_999_999, 315_537_897_600_000_000, 10**10]


@st.composite
def lib_formula_case(draw) -> LibCase:
    return LibCase("formula", {
        "text": draw(formula_text()), "strict": draw(st.booleans()),
        "now": draw(st.sampled_from(_TICKS)), "width": draw(st.sampled_from([100, 100, 40, 1, 0])),
        "scenario": draw(st.sampled_from(range(len(seed_scenarios())))),
    })


_MAPPING_KEYS = ["$PendingTasks", "CPUPercent", "pendingtasks", "$pendingTasks", "$Bogus", "",
                 "$", "TargetDedicatedNodes", " $PendingTasks"]


@st.composite
def lib_store_case(draw) -> LibCase:
    value = st.one_of(st.sampled_from([n.decode() for n in NOTATIONS] + ["1 2 _ 4", "0+1x20"]),
                      st.lists(st.one_of(st.none(), st.floats(), st.integers(-10**20, 10**20),
                                         st.booleans(), st.text(max_size=3)), max_size=20),
                      st.sampled_from([None, 1, 1.5, {}, b"1 2"]))
    mapping = draw(st.dictionaries(st.sampled_from(_MAPPING_KEYS), value, max_size=4))
    return LibCase("store", {
        "mapping": mapping, "csv": draw(store_csv_bytes()),
        "end": draw(st.sampled_from(_TICKS + [-1, -10**18])),
        "period": draw(st.sampled_from([300_000_000, 300_000_000, 1, 0, -1, 10**18, 2**63])),
        "delay": draw(st.sampled_from([0, 0, 1, -1, 10**18, 10**30])),
    })


@functools.cache
def store_csv_bytes() -> st.SearchStrategy[bytes]:
    seed = (b"timestamp,$PendingTasks,CPUPercent\n2026-03-02T10:00:00Z,1,2\n"
            b"2026-03-02T10:00:30Z,,3\n2026-03-02T10:01:00+01:00,4,\n")
    return st.one_of(mutated(st.just(seed), CSV_TOKENS + NUMBERS + TIMES + TEXT_ODDITIES),
                     garbage())


@st.composite
def lib_scenario_case(draw) -> LibCase:
    return LibCase("scenario", {"name": draw(_scenario_name()), "data": draw(scenario_bytes()),
                                "now": draw(st.sampled_from(_TICKS))})


@st.composite
def lib_testfile_case(draw) -> LibCase:
    focus = _focus(draw, "file", "formula")
    return LibCase("testfile", {
        "data": _pick(draw, focus, "file", testfile_bytes(), mild_testfile_bytes()),
        "formula": _pick(draw, focus, "formula", formula_bytes(), sane_formula_bytes())})


@st.composite
def lib_sim_case(draw) -> LibCase:
    focus = _sim_focus(draw)
    name, data = _pick(draw, focus, "workload", workload_file(), mild_workload_file())
    hostile = focus in ("options", "all")
    return LibCase("sim", {
        "pool_name": "pool.json" if focus not in ("pool", "all") else
        draw(st.sampled_from(["pool.json", "pool.yaml"])),
        "pool": _pick(draw, focus, "pool", pool_bytes(), mild_pool_bytes()),
        "workload_name": name, "workload": data,
        "formula": _pick(draw, focus, "formula", st.one_of(st.none(), formula_text()),
                         st.one_of(st.none(), mild_formula_bytes().map(bytes.decode))),
        "horizon": draw(st.sampled_from(["PT1H", None, 0, 3600.0, "P400D", 1e308, float("nan"),
                                         -1, "1e308", float("inf")] if hostile else
                                        ["PT6H", 3600.0, None])),
        "start": draw(st.sampled_from([None, "0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z",
                                       0, 2**70, -1, "x"] if hostile else
                                      [None, "2026-03-02T00:00:00Z"])),
        "seed": draw(st.sampled_from([None, 0, -1, 2**80] if hostile else [None, 0, 5])),
    })


LIB_CASES: dict[str, Callable[[], st.SearchStrategy[LibCase]]] = {
    "lib:formula": lib_formula_case, "lib:store": lib_store_case,
    "lib:scenario": lib_scenario_case, "lib:testfile": lib_testfile_case, "lib:sim": lib_sim_case,
}


# ============================================================================ reproducers

def reproducer(case: Case | LibCase, limit: int = 2000) -> str:
    """How to run ``case`` again: the files (shown up to ``limit`` bytes each) and the
    command line, or the library call."""
    def show(data: bytes) -> str:
        head = repr(data[:limit])
        return head + (f" ... ({len(data):,} bytes in all)" if len(data) > limit else "")

    if isinstance(case, LibCase):
        args = {k: (show(v) if isinstance(v, (bytes, str)) else repr(v))
                for k, v in case.args.items()}
        return f"library target {case.target}:\n" + "\n".join(f"  {k} = {v}"
                                                             for k, v in args.items())
    lines = [f"  {name}: {show(data)}" for name, data in case.files.items()]
    if case.stdin:
        lines.append(f"  <stdin>: {show(case.stdin)}")
    cmd = "poolscale " + " ".join(shlex.quote(a) for a in case.argv)
    return "files (@name is the file's path, @@ their directory):\n" + "\n".join(lines) + \
        f"\ncommand: {cmd}" + (" < stdin" if case.stdin else "")
