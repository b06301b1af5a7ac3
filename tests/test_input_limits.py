"""Every input file has a size and a cost bound, checked before the work (docs/limits.md).

Each case was measured before the bound existed: a 14 MB formula cost `check` ~30 s and
2.7 GB; 600 bytes of YAML anchors hung `check`; /dev/zero was read until MemoryError; JSON
nested 100,000 deep and integers of 5,000 digits ended in tracebacks; 18 series of
`1x9999999` took 8 GB. Now each is one message naming the file and the limit, exit 2.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from poolscale.metrics import limits
from poolscale.metrics.inputfile import inflate, read_file, read_stream
from poolscale.metrics.jsonyaml import check_json_nesting, json_like_loader, load_json
from poolscale.metrics.limits import InputLimitError
from poolscale.runtime import scenario as scenario_module
from poolscale.runtime.cli import main
from poolscale.runtime.repl import ReplSession

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FORMULA = "$TargetDedicatedNodes = 1;\n"

#: nine aliases to the level below, eight times: 490 million nodes in 342 bytes
BILLION_LAUGHS = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
                  + "".join(f"{chr(98 + i)}: &{chr(98 + i)} ["
                            + ",".join(["*" + chr(97 + i)] * 9) + "]\n" for i in range(8)))
ALIAS_MESSAGE = ("its aliases expand to 490,329,036 more nodes; a YAML input may add at most "
                 "1,000,000 (docs/limits.md)")
DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEPTH_MESSAGE = "nested more than 64 levels deep, the limit for any JSON or YAML input (docs/limits.md)"
DIGITS_MESSAGE = "an integer of more than 4,300 digits (docs/limits.md)"


def run(argv, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def formula(tmp_path) -> Path:
    path = tmp_path / "f.formula"
    path.write_text(FORMULA, encoding="utf-8")
    return path


# -------------------------------------------------------------------------- reading bounded


def test_read_stream_stops_one_byte_past_the_limit():
    with open("/dev/zero", "rb") as zero:
        with pytest.raises(InputLimitError) as e:
            read_stream(zero, limit=1000, source="/dev/zero", kind="a test input")
    assert str(e.value) == ("/dev/zero: larger than 1,000 bytes, the limit for a test input "
                            "(docs/limits.md)")


def test_read_file_takes_a_file_of_exactly_the_limit(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"a" * 1024)
    assert read_file(path, limit=1024, kind="x") == b"a" * 1024
    with pytest.raises(InputLimitError, match="larger than 1,023 bytes"):
        read_file(path, limit=1023, kind="x")


def test_inflate_stops_a_gzip_bomb_at_the_limit():
    bomb = gzip.compress(b"0" * (8 << 20))        # 8 MiB of zeros in ~8 KB
    assert len(bomb) < 16_000
    with pytest.raises(InputLimitError) as e:
        inflate(bomb, limit=1 << 20, source="w.csv.gz", kind="a workload file")
    assert str(e.value) == ("w.csv.gz: inflates to more than 1 MiB, the limit for a workload "
                            "file (docs/limits.md)")
    assert inflate(gzip.compress(b"abc") * 2, limit=6, source="x", kind="x") == b"abcabc"


@pytest.mark.parametrize("argv", [
    ["eval", "/dev/zero"], ["check", "/dev/zero"], ["fmt", "--check", "/dev/zero"],
    ["explain", "/dev/zero"],
])
def test_dev_zero_as_a_formula(argv, capsys):
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, "")
    assert err == "poolscale: /dev/zero: larger than 1 MiB, the limit for a formula file (docs/limits.md)\n"


def test_dev_zero_as_a_scenario(formula, capsys):
    code, _, err = run(["eval", formula, "--scenario", "/dev/zero"], capsys)
    assert code == 2
    assert err == ("poolscale: scenario: /dev/zero: larger than 16 MiB, the limit for a scenario "
                   "file (docs/limits.md)\n")


def test_dev_zero_as_a_pool_and_a_workload(tmp_path, capsys):
    code, _, err = run(["simulate", "--pool", "/dev/zero", "--workload", EXAMPLES / "workload.csv"],
                       capsys)
    assert code == 2
    assert err == ("poolscale: /dev/zero: larger than 16 MiB, the limit for a pool file "
                   "(docs/limits.md)\n")
    workload = tmp_path / "zero.csv"
    os.symlink("/dev/zero", workload)
    code, _, err = run(["simulate", "--pool", EXAMPLES / "pool.json", "--workload", workload],
                       capsys)
    assert code == 2
    assert err == (f"poolscale: {workload}: larger than 64 MiB, the limit for a workload file "
                   "(docs/limits.md)\n")


def test_a_gzip_workload_that_inflates_past_the_limit(tmp_path, capsys, monkeypatch):
    from poolscale.scheduler import documents

    monkeypatch.setattr(documents, "WORKLOAD_BYTES", 1 << 20)
    monkeypatch.setattr(documents.read_text, "__kwdefaults__",
                        {"limit": 1 << 20, "kind": "a workload file"})
    rows = "".join(f"{i},60\n" for i in range(200_000))
    workload = tmp_path / "w.csv.gz"
    workload.write_bytes(gzip.compress(rows.encode()))
    code, _, err = run(["simulate", "--pool", EXAMPLES / "pool.json", "--workload", workload],
                       capsys)
    assert code == 2
    assert err == (f"poolscale: {workload}: inflates to more than 1 MiB, the limit for a "
                   "workload file (docs/limits.md)\n")


def test_a_test_file_naming_dev_zero_as_its_formula(tmp_path, capsys):
    test = tmp_path / "t.test.yaml"
    test.write_text("formula_file: /dev/zero\ntests: []\n", encoding="utf-8")
    code, out, err = run(["test", test], capsys)
    assert code == 2
    assert "/dev/zero: larger than 1 MiB, the limit for a formula file (docs/limits.md)" in out + err


def test_repl_formula_command_reads_within_the_limit():
    reply = ReplSession().handle(":formula /dev/zero")
    assert reply.failed
    assert reply.lines == ["error: /dev/zero: larger than 1 MiB, the limit for a formula file "
                           "(docs/limits.md)"]


# -------------------------------------------------------------------------- formula length


def test_formula_length_is_checked_before_lexing(tmp_path, capsys):
    """Just under the file limit: AutoScaleFormulaTooLong (exit 1), in well under the ~3 s
    lexing a megabyte costs; the same answer from every command that reads formulas."""
    big = tmp_path / "big.formula"
    big.write_text("x = 1 + 2;\n" * 95_000, encoding="utf-8")
    for argv in (["eval", big], ["check", big], ["fmt", "--check", big], ["explain", big]):
        start = time.perf_counter()
        code, out, err = run(argv, capsys)
        assert time.perf_counter() - start < 1.0, argv
        assert code == 1, argv
        assert "the formula has 1045000 characters; at most 8192 are allowed" in out + err
    start = time.perf_counter()
    reply = ReplSession().handle(f":formula {big}")
    assert time.perf_counter() - start < 1.0
    assert reply.lines[0] == ("error: AutoScaleFormulaTooLong: Line 745, Col 9: the formula has "
                              "1045000 characters; at most 8192 are allowed")


def test_a_14_mb_formula_is_refused_by_size(tmp_path):
    """The issue's reproducer, in a process of its own: before, 30 s and 2.7 GB."""
    big = tmp_path / "big.formula"
    big.write_text("x = 1 + 2;\n" * 1_300_000, encoding="utf-8")
    for command in ("check", "fmt"):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "poolscale.runtime.cli", command, str(big)],
                              capture_output=True, text=True, timeout=60)
        assert time.perf_counter() - start < 10
        assert done.returncode == 2
        assert done.stderr == (f"poolscale: {big}: larger than 1 MiB, the limit for a formula "
                               "file (docs/limits.md)\n")


# -------------------------------------------------------------------------- YAML aliases


def test_billion_laughs_costs_nothing_in_check(tmp_path, capsys):
    path = tmp_path / "pool.yaml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    start = time.perf_counter()
    code, _, err = run(["check", path], capsys)
    assert time.perf_counter() - start < 1.0
    assert code == 2
    assert err == f"poolscale: {path}: {ALIAS_MESSAGE}\n"


@pytest.mark.parametrize("kind", ["scenario", "test", "pool", "workload"])
def test_billion_laughs_in_every_yaml_input(kind, tmp_path, formula, capsys):
    path = tmp_path / f"{kind}.yaml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    argv = {
        "scenario": ["eval", formula, "--scenario", path],
        "test": ["test", path],
        "pool": ["simulate", "--pool", path, "--workload", EXAMPLES / "workload.csv"],
        "workload": ["simulate", "--pool", EXAMPLES / "pool.json", "--workload", path],
    }[kind]
    code, out, err = run(argv, capsys)
    assert code == 2
    assert ALIAS_MESSAGE in out + err
    assert "Traceback" not in out + err


def test_aliases_within_the_limit_still_work():
    doc = "base: &b {x: 1, y: [1, 2]}\none: *b\ntwo:\n  <<: *b\n  z: 3\n"
    import yaml

    assert yaml.load(doc, Loader=json_like_loader()) == {
        "base": {"x": 1, "y": [1, 2]}, "one": {"x": 1, "y": [1, 2]},
        "two": {"x": 1, "y": [1, 2], "z": 3}}


def test_an_alias_inside_its_own_anchor_is_refused():
    import yaml

    with pytest.raises(InputLimitError) as e:
        yaml.load("a: &x [1, *x]\n", Loader=json_like_loader())
    assert e.value.line == 1
    assert e.value.detail == "a YAML alias refers to a node that contains it (its expansion never ends)"


# -------------------------------------------------------------------------- nesting depth


def test_nesting_is_measured_on_the_text():
    check_json_nesting("[" * 64 + "]" * 64)
    with pytest.raises(InputLimitError) as e:
        check_json_nesting('{"a":\n' + "[" * 65 + "]" * 65 + "}")
    assert (e.value.line, e.value.detail) == (2, DEPTH_MESSAGE)
    # brackets in strings do not count; an escaped quote does not end a string
    check_json_nesting(json.dumps({"s": "[" * 500, "t": '\\"' + "{" * 500}))
    with pytest.raises(InputLimitError):
        check_json_nesting(json.dumps(["\\", [[[[]]]]]) .replace("[[[[]]]]", "[" * 70 + "]" * 70))


def test_yaml_nesting_is_bounded_too():
    import yaml

    doc = "".join(" " * i + "a:\n" for i in range(70)) + " " * 70 + "1\n"
    with pytest.raises(InputLimitError) as e:
        yaml.load(doc, Loader=json_like_loader())
    assert e.value.detail == DEPTH_MESSAGE


#: flow and block YAML 100,000 levels deep: PyYAML 6.0.3's libyaml composer recursed once per
#: level in C and the process died of SIGSEGV (CI, exit 139); 6.0.4's scanner stops at 10,000
DEEP_YAML = {"flow": "[" * 100_000 + "]" * 100_000, "block": "- " * 100_000 + "x\n"}


def test_yaml_nesting_is_counted_on_events_before_composing():
    from poolscale.metrics.jsonyaml import check_yaml_nesting

    check_yaml_nesting("a:\n" + "".join(" " * i + "- b:\n" for i in range(1, 30)))
    for text in DEEP_YAML.values():
        with pytest.raises(InputLimitError) as e:
            check_yaml_nesting(text)
        assert (e.value.line, e.value.detail) == (1, DEPTH_MESSAGE)
    check_yaml_nesting("a: [1, 2\n")  # a syntax error is the load's to report


@pytest.mark.parametrize("style", sorted(DEEP_YAML))
@pytest.mark.parametrize("kind", ["scenario", "pool", "test", "check"])
def test_yaml_nested_100000_deep_in_a_separate_process(kind, style, tmp_path, formula):
    """In a child process, so that a crash of the YAML library fails this test, not the run."""
    path = tmp_path / f"{kind}.yaml"
    path.write_text(DEEP_YAML[style], encoding="utf-8")
    argv = {
        "scenario": ["eval", formula, "--scenario", path],
        "pool": ["simulate", "--pool", path, "--workload", EXAMPLES / "workload.csv"],
        "test": ["test", path],
        "check": ["check", path],
    }[kind]
    done = subprocess.run([sys.executable, "-m", "poolscale.runtime.cli", *map(str, argv)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{path}:1: {DEPTH_MESSAGE}" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("kind", ["scenario", "pool", "workload", "check"])
def test_json_nested_100000_deep(kind, tmp_path, formula, capsys):
    path = tmp_path / f"{kind}.json"
    path.write_text(DEEP_JSON, encoding="utf-8")
    argv = {
        "scenario": ["eval", formula, "--scenario", path],
        "pool": ["simulate", "--pool", path, "--workload", EXAMPLES / "workload.csv"],
        "workload": ["simulate", "--pool", EXAMPLES / "pool.json", "--workload", path],
        "check": ["check", path],
    }[kind]
    code, out, err = run(argv, capsys)
    assert code == 2
    assert f"{path}:1: {DEPTH_MESSAGE}" in err
    assert "Traceback" not in out + err


def test_repl_samples_json_list_nested_deep():
    reply = ReplSession().handle(":samples $PendingTasks " + "[" * 1000 + "]" * 1000)
    assert reply.lines == [f"error: :samples: {DEPTH_MESSAGE}"]


# -------------------------------------------------------------------------- integer digits


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_integers_of_5000_digits(suffix, tmp_path, formula, capsys):
    number = "1" * 5000
    scenario = tmp_path / f"s{suffix}"
    scenario.write_text('{"pool": {"currentDedicatedNodes": %s}}' % number, encoding="utf-8")
    code, _, err = run(["eval", formula, "--scenario", scenario], capsys)
    assert (code, err) == (2, f"poolscale: scenario: {scenario}:1: {DIGITS_MESSAGE}\n")

    pool = json.loads((EXAMPLES / "pool.json").read_text())
    text = json.dumps(pool, indent=1).replace('"taskSlotsPerNode": 4',
                                              f'"taskSlotsPerNode": {number}')
    path = tmp_path / f"pool{suffix}"
    path.write_text(text, encoding="utf-8")
    code, _, err = run(["simulate", "--pool", path, "--workload", EXAMPLES / "workload.csv"],
                       capsys)
    line = text[:text.index(number)].count("\n") + 1
    assert (code, err) == (2, f"poolscale: {path}:{line}: {DIGITS_MESSAGE}\n")

    test = tmp_path / f"t{suffix}"
    test.write_text(f"formula: '$TargetDedicatedNodes = 1;'\ntests:\n  - name: big\n"
                    f"    time: 2026-03-02T10:00:00Z\n    pool: {{currentDedicatedNodes: {number}}}\n",
                    encoding="utf-8")
    if suffix == ".yaml":
        code, out, err = run(["test", test], capsys)
        assert code == 2
        assert f"{test}:5: {DIGITS_MESSAGE}" in out + err


def test_load_json_keeps_other_value_errors():
    with pytest.raises(json.JSONDecodeError):
        load_json("[1,")
    assert load_json("[" + "9" * 4300 + "]") == [int("9" * 4300)]


# -------------------------------------------------------------------------- samples


def test_many_long_series_are_refused_before_expanding(tmp_path, formula, capsys):
    """Before: 18 series of 1x9999999 took 8 GB."""
    names = ["$PendingTasks", "$ActiveTasks", "$RunningTasks", "$CPUPercent", "$MemoryBytes",
             "$SucceededTasks", "$FailedTasks", "$DiskBytes"]
    scenario = tmp_path / "s.yaml"
    scenario.write_text("samples:\n" + "".join(f"  {n}: 1x9999999\n" for n in names))
    start = time.perf_counter()
    code, _, err = run(["eval", formula, "--scenario", scenario], capsys)
    assert time.perf_counter() - start < 1.0
    assert (code, err) == (2, "poolscale: scenario: samples: '$PendingTasks': 10,000,000 samples "
                              "would make 10,000,000 in all; a scenario or a test file may hold "
                              "at most 2,000,000 (docs/limits.md)\n")


def test_the_sample_limit_is_over_all_series(monkeypatch):
    monkeypatch.setattr(scenario_module, "SCENARIO_SAMPLES", 10)
    ok = scenario_module.scenario_from_dict({"samples": {"$PendingTasks": "1x4",
                                                         "$ActiveTasks": [1, 2, 3, None, 5]}})
    assert sum(map(len, ok.samples.values())) == 10
    with pytest.raises(scenario_module.ScenarioError) as e:
        scenario_module.scenario_from_dict({"samples": {"$PendingTasks": "1x4",
                                                        "$ActiveTasks": [1, 2, 3, None, 5, 6]}})
    assert str(e.value) == ("scenario: samples: '$ActiveTasks': 6 samples would make 11 in all; "
                            "a scenario or a test file may hold at most 10 (docs/limits.md)")


def test_a_test_files_tests_share_the_sample_limit(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(scenario_module, "SCENARIO_SAMPLES", 10)
    from poolscale.runtime import testfile

    monkeypatch.setattr(testfile, "SCENARIO_SAMPLES", 10)
    test = tmp_path / "t.test.yaml"
    case = ("  - name: {0}\n    time: 2026-03-02T10:00:00Z\n    samples: {{$PendingTasks: 1x5}}\n"
            "    expect: {{$TargetDedicatedNodes: 1}}\n")
    test.write_text("formula: '$TargetDedicatedNodes = 1;'\ntests:\n" + case.format("a")
                    + case.format("b"), encoding="utf-8")
    code, out, err = run(["test", test], capsys)
    assert code == 2
    assert ("samples: '$PendingTasks': 6 samples would make 12 in all; a scenario or a test file "
            "may hold at most 10 (docs/limits.md)") in out + err


def test_repl_samples_share_the_limit(monkeypatch):
    from poolscale.runtime import repl

    monkeypatch.setattr(repl, "SCENARIO_SAMPLES", 10)
    session = ReplSession()
    assert not session.handle(":samples $PendingTasks 1x5").failed
    assert not session.handle(":samples $PendingTasks 1x9").failed   # replaces the 6
    reply = session.handle(":samples $ActiveTasks [1]")
    assert reply.lines == ["error: :samples: 1 samples would make 11 in all; a scenario may hold "
                           "at most 10 (docs/limits.md)"]


def test_the_documented_limits_are_the_codes():
    page = (ROOT / "docs" / "limits.md").read_text(encoding="utf-8")
    for text in ("1 MiB", "16 MiB", "64 MiB", "64 levels", "1,000,000", "4,300", "2,000,000",
                 "8,192", "100 statements"):
        assert text in page, text
    assert limits.size_text(limits.FORMULA_FILE_BYTES) == "1 MiB"
    assert limits.size_text(limits.DOCUMENT_BYTES) == "16 MiB"
    assert limits.size_text(limits.WORKLOAD_BYTES) == "64 MiB"
    assert (limits.NESTING_DEPTH, limits.YAML_ALIAS_NODES, limits.NUMBER_DIGITS,
            limits.SCENARIO_SAMPLES) == (64, 1_000_000, 4300, 2_000_000)


# -------------------------------------------------------------------------- REPL line mode


def test_repl_line_mode_refuses_a_line_without_end(monkeypatch, capsys):
    """Before: 50 MB of NUL bytes piped to `repl --plain` took 166 s and 8.3 GB."""
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\0" * (3 << 20))))
    start = time.perf_counter()
    code, out, err = run(["repl", "--plain"], capsys)
    assert time.perf_counter() - start < 2.0
    assert (code, out) == (2, "")
    assert err == ("poolscale: <stdin>: a line longer than 1 MiB, the limit for a line of REPL "
                   "input (docs/limits.md)\n")


def test_repl_line_mode_bounds_a_statement_that_never_ends():
    from poolscale.runtime.repl import InputLineError, bounded_lines, run_lines

    lines = ["x = 1" + " + 1" * 3000 + "\n", "y = 2;\n"]
    written: list[str] = []
    assert run_lines(ReplSession(), bounded_lines(byte_stream(lines)), written.append) == 1
    assert written == [
        "error: AutoScaleFormulaTooLong: Line 1, Col 8193: the formula has 12013 characters; "
        "at most 8192 are allowed\n"]
    with pytest.raises(InputLineError) as e:
        run_lines(ReplSession(), bounded_lines(byte_stream(["x = 1 +\n" * 200_000])),
                  written.append)
    assert str(e.value) == ("<stdin>: a statement longer than 1 MiB, the limit for a statement "
                            "of REPL input (docs/limits.md)")


def test_repl_line_mode_a_statement_past_1_mib_is_a_usage_error(monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x = 1 +\n" * 200_000)))
    code, out, err = run(["repl", "--plain"], capsys)
    assert (code, out) == (2, "")
    assert err == ("poolscale: <stdin>: a statement longer than 1 MiB, the limit for a "
                   "statement of REPL input (docs/limits.md)\n")


def byte_stream(lines):
    import io

    return io.BytesIO("".join(lines).encode())


def test_repl_line_mode_refuses_a_line_that_is_not_utf8(monkeypatch, capsys):
    """Under a UTF-8 locale, a byte 0xFF on standard input ended the session with a traceback."""
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x = 1;\n\xff\n"),
                                                       encoding="utf-8", errors="strict"))
    code, out, err = run(["repl", "--plain"], capsys)
    assert (code, out, err) == (2, "x=1\n", "poolscale: <stdin>: line 2 is not UTF-8 (byte 1)\n")


def test_a_test_name_with_a_control_character_is_refused(tmp_path, capsys):
    """Names are printed as they are; ESC in one would reach the terminal or the CI log."""
    test = tmp_path / "t.test.yaml"
    test.write_text('formula: "$TargetDedicatedNodes = 1;"\ntests:\n  - name: "a\\e[31mred"\n'
                    '    time: 2026-03-02T10:00:00Z\n', encoding="utf-8")
    code, out, err = run(["test", test], capsys)
    assert code == 2
    assert err == f"poolscale: {test}:3: test 1: name: 'a\\x1b[31mred' holds a control character\n"
    assert "\x1b" not in out + err


def test_a_long_source_line_is_shown_clipped_around_the_column(tmp_path, capsys):
    """A 600 KB one-line formula printed 608 KB for one message: the line whole, 8 KB of spaces."""
    big = tmp_path / "big.formula"
    big.write_text("x = 1;" * 100_000, encoding="utf-8")
    code, out, err = run(["check", big], capsys)
    assert code == 1
    head, shown, marks = out.splitlines()
    assert head == (f"{big}:1:8193: AutoScaleFormulaTooLong the formula has 600000 characters; "
                    "at most 8192 are allowed")
    assert shown == "…" + ("x = 1;" * 100_000)[8192 - 80:8192 + 80] + "…"
    assert marks == " " * 81 + "^"
    assert err == "1 file, 1 error, 0 warnings\n"
    from poolscale.formula import FormulaError, compile_formula

    with pytest.raises(FormulaError) as e:
        compile_formula("x = 1;" * 100_000)
    assert len(e.value.render("big.formula")) < 500


# -------------------------------------------------------------------------- explicit YAML tags


@pytest.mark.parametrize("doc, tag, column", [
    ("a: !!int x\n", "!!int", 4), ("!!set {a, b}\n", "!!set", 1), ("a: !!float x\n", "!!float", 4),
    ("a: !!timestamp x\n", "!!timestamp", 4), ("a: !!binary aGVsbG8=\n", "!!binary", 4),
    ("- !!omap [a: 1]\n", "!!omap", 3), ("a: !!bool x\n", "!!bool", 4),
])
def test_an_explicit_tag_is_a_yaml_error_at_its_line(doc, tag, column, tmp_path, formula, capsys):
    """PyYAML raised ValueError, KeyError or TypeError for these (a traceback in every reader)."""
    message = (f"explicit tag {tag}: poolscale reads YAML as JSON's types, so the only explicit "
               f"tag it takes is !!str")
    for kind, argv in {
        "scenario": ["eval", formula, "--scenario", tmp_path / "s.yaml"],
        "test": ["test", tmp_path / "s.yaml"],
        "check": ["check", tmp_path / "s.yaml"],
        "pool": ["simulate", "--pool", tmp_path / "s.yaml", "--workload", EXAMPLES / "workload.csv"],
    }.items():
        (tmp_path / "s.yaml").write_text(doc, encoding="utf-8")
        code, out, err = run(argv, capsys)
        assert code == 2, kind
        assert message in out + err, kind
        assert "Traceback" not in out + err


def test_str_tags_and_plain_values_are_still_read():
    import yaml

    doc = "a: !!str 1\nb: 2026-03-02T10:00:00Z\nc: 1e3\nd: '1'\ne: null\n"
    assert yaml.load(doc, Loader=json_like_loader()) == {
        "a": "1", "b": "2026-03-02T10:00:00Z", "c": 1000.0, "d": "1", "e": None}
