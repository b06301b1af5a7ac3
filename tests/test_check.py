"""`poolscale check`: formula files, directories, embedded formulas and the four report formats."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from poolscale.runtime.cli import main
from poolscale.runtime.report import Finding, format_github

GUARDED = """pct = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5);
$TargetDedicatedNodes = pct < 70 ? 1 : avg($PendingTasks.GetSample(TimeInterval_Minute * 5));
"""
MISSING_SEMI = "x = 1;\n$TargetDedicatedNodes = x $y = 2;\n"
UNGUARDED = "$TargetDedicatedNodes = avg($PendingTasks.GetSample(TimeInterval_Minute * 5));\n"
UNGUARDED_MSG = ("GetSample on $PendingTasks fails with InsufficientSampleData while less than 70% "
                 "(the default minimum) of its window has samples, as on a new pool; test "
                 "GetSamplePercent first (in a ?: condition, or left of && or ||) or pass a minimum "
                 "percent of 0")


@pytest.fixture
def here(tmp_path, monkeypatch):
    """Work in a temporary folder so that paths in the output are short and exact."""
    monkeypatch.chdir(tmp_path)

    def write(name: str, text: str, newline: str | None = None):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline=newline) as f:
            f.write(text)
        return name
    return write


def check(capsys, *argv):
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- formula files

def test_clean_file_exit_zero_no_stdout(capsys, here):
    here("ok.formula", GUARDED)
    assert check(capsys, "ok.formula") == (0, "", "1 file, 0 errors, 0 warnings\n")


def test_syntax_error_exact_text_with_caret(capsys, here):
    here("bad.formula", MISSING_SEMI)
    code, out, err = check(capsys, "bad.formula")
    assert code == 1
    assert out == ("bad.formula:2:27: AutoScalingFormulaSyntaxError "
                   "';' probably missing before this statement\n"
                   "$TargetDedicatedNodes = x $y = 2;\n"
                   "                          ^^\n")
    assert err == "1 file, 1 error, 0 warnings\n"


def test_validation_error_uses_the_detail_text(capsys, here):
    here("v.formula", "$TargetDedicatedNodes = foo(1);")
    code, out, _ = check(capsys, "v.formula")
    assert code == 1
    assert out == ("v.formula:1:25: AutoScalingFormulaValidationError "
                   "UnknownFunction: 'foo' is not a function\n"
                   "$TargetDedicatedNodes = foo(1);\n"
                   "                        ^^^\n")


def test_warning_exit_zero_and_one_with_strict(capsys, here):
    here("w.formula", UNGUARDED)
    expected = (f"w.formula:1:52: UnguardedGetSample {UNGUARDED_MSG}\n"
                f"{UNGUARDED.rstrip()}\n"
                f"{' ' * 51}^\n")
    assert check(capsys, "w.formula") == (0, expected, "1 file, 0 errors, 1 warning\n")
    assert check(capsys, "--strict", "w.formula") == (1, expected, "1 file, 0 errors, 1 warning\n")


def test_caret_keeps_tabs_and_multiline_tokens_stay_on_their_line(capsys, here):
    here("t.formula", "\tx = 1 /* never\nclosed")
    code, out, _ = check(capsys, "t.formula")
    assert code == 1
    assert out == ("t.formula:1:8: AutoScalingFormulaSyntaxError unterminated comment\n"
                   "\tx = 1 /* never\n"
                   "\t      ^^^^^^^^\n")


def test_stdin(capsys, here, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfx = 1 #")))
    code, out, err = check(capsys, "-")
    assert code == 1
    assert out.splitlines()[0] == "<stdin>:1:7: AutoScalingFormulaSyntaxError unexpected character '#'"
    assert err == "1 file, 1 error, 0 warnings\n"


def test_directory_sorted_recursive_only_formula_files(capsys, here):
    here("pools/b.formula", "$TargetDedicatedNodes = 1 +;")
    here("pools/a/z.formula", GUARDED)
    here("pools/a/y.formula", "$CurrentDedicatedNodes = 1;")
    here("pools/a.formula", UNGUARDED)
    here("pools/notes.txt", "not a formula")
    here("pools/pool.json", "{}")
    code, out, err = check(capsys, "pools")
    assert code == 1
    heads = [line for line in out.splitlines() if line.startswith("pools")]
    assert heads == [
        f"pools/a.formula:1:52: UnguardedGetSample {UNGUARDED_MSG}",
        "pools/a/y.formula:1:1: AutoScalingFormulaValidationError "
        "ReadOnlyVariable: $CurrentDedicatedNodes is read-only",
        "pools/b.formula:1:28: AutoScalingFormulaSyntaxError unexpected ';'",
    ]
    assert err == "4 files, 2 errors, 1 warning\n"


def test_a_file_named_twice_is_checked_once(capsys, here):
    here("d/w.formula", UNGUARDED)
    code, out, err = check(capsys, "d/w.formula", "d", "./d/w.formula")
    assert (code, out.count("UnguardedGetSample"), err) == (0, 1, "1 file, 0 errors, 1 warning\n")


# --------------------------------------------------------------------------- embedded formulas

POOL_JSON = """{
  "id": "busy",
  "vmSize": "standard_d2s_v3",
  "enableAutoScale": true,
  "autoScaleFormula": "$TargetDedicatedNodes = avg($PendingTasks.GetSample(TimeInterval_Minute * 5));",
  "autoScaleEvaluationInterval": "PT5M"
}
"""


def test_pool_json_maps_to_the_host_line_and_column(capsys, here):
    here("pool.json", POOL_JSON)
    code, out, err = check(capsys, "pool.json")
    assert code == 0
    line = POOL_JSON.splitlines()[4]
    column = line.index("GetSample(") + len("GetSample(")
    assert column == 75
    assert out == (f"pool.json:5:75: UnguardedGetSample {UNGUARDED_MSG}\n"
                   f"{line}\n{' ' * 74}^\n")
    assert err == "1 file, 0 errors, 1 warning\n"


def test_pool_json_under_properties_with_newline_escapes_falls_back_to_the_pointer(capsys, here):
    here("pool.json", json.dumps({"properties": {
        "autoScaleFormula": "x = 1;\n$TargetDedicatedNodes = foo(x);"}}, indent=2))
    code, out, _ = check(capsys, "pool.json")
    assert code == 1
    assert out == ("pool.json#/properties/autoScaleFormula:2:25: AutoScalingFormulaValidationError "
                   "UnknownFunction: 'foo' is not a function\n"
                   "$TargetDedicatedNodes = foo(x);\n"
                   "                        ^^^\n")


def test_one_line_json_string_with_escapes_maps_escape_by_escape(capsys, here):
    here("pool.json", '{"autoScaleFormula": "s = \\"\\u00e9\\"; x = 1 \\u00e9;"}')
    code, out, _ = check(capsys, "pool.json")
    assert code == 1
    assert out == ("pool.json:1:45: AutoScalingFormulaSyntaxError unexpected character U+00E9\n"
                   '{"autoScaleFormula": "s = \\"\\u00e9\\"; x = 1 \\u00e9;"}\n'
                   f"{' ' * 44}^^^^^^\n")


ARM = """{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "variables": {
    "formula": "$TargetDedicatedNodes = max(1, $CurrentDedicated);"
  },
  "resources": [
    {
      "type": "Microsoft.Batch/batchAccounts/pools",
      "name": "acct/busy",
      "properties": {
        "scaleSettings": {
          "autoScale": {
            "formula": "$TargetDedicatedNodes = min(10, $PendingTasks.GetSample(1)) $x = 1;",
            "evaluationInterval": "PT5M"
          }
        }
      }
    },
    {
      "type": "Microsoft.Batch/batchAccounts/pools",
      "name": "acct/shared",
      "properties": {"scaleSettings": {"autoScale": {"formula": "[variables('formula')]"}}}
    },
    {
      "type": "Microsoft.Batch/batchAccounts/pools",
      "name": "acct/computed",
      "properties": {"scaleSettings": {"autoScale": {"formula": "[format('{0}', parameters('f'))]"}}}
    }
  ]
}
"""


def test_arm_template_resources_and_variables(capsys, here):
    here("main.json", ARM)
    code, out, err = check(capsys, "main.json")
    assert code == 1
    lines = ARM.splitlines()
    assert lines[13].index("$x") == 84 and lines[4].index("$Current") == 47
    assert out == (
        "main.json:14:85: AutoScalingFormulaSyntaxError ';' probably missing before this statement\n"
        f"{lines[13]}\n{' ' * 84}^^\n"
        "main.json:5:48: DeprecatedName '$CurrentDedicated' is deprecated; use '$CurrentDedicatedNodes'\n"
        f"{lines[4]}\n{' ' * 47}{'^' * len('$CurrentDedicated')}\n")
    assert err == (
        "poolscale: note: main.json#/resources/2/properties/scaleSettings/autoScale/formula: "
        "skipped: an ARM template expression ([format('{0}', parameters('f'))]) has no value offline\n"
        "1 file (2 formulas), 1 error, 1 warning\n")


def test_arm_parameter_default_value_is_followed(capsys, here):
    here("p.json", json.dumps({
        "parameters": {"Formula": {"type": "string", "defaultValue": "$TargetDedicatedNodes = 1 +;"}},
        "resources": [{"properties": {"scaleSettings": {"autoScale": {
            "formula": "[parameters('formula')]"}}}}]}))
    code, out, _ = check(capsys, "--format", "json", "p.json")
    assert code == 1
    finding = json.loads(out)
    assert (finding["path"], finding["line"], finding["column"]) == ("p.json", 1, 91)
    assert finding["message"] == "unexpected ';'"


def test_arm_multiline_raw_string_maps_exactly(capsys, here):
    here("t.json", '{"resources": [{"properties": {"scaleSettings": {"autoScale": {"formula":\n'
                   '"$TargetDedicatedNodes = 1;\n$TargetLowPriorityNodes = max(1,, 2);"}}}}]}\n')
    code, out, _ = check(capsys, "t.json")
    assert code == 1
    assert out == ("t.json:3:33: AutoScalingFormulaSyntaxError unexpected ','\n"
                   '$TargetLowPriorityNodes = max(1,, 2);"}}}}]}\n'
                   f"{' ' * 32}^\n")


TEST_YAML = """# formula tests
formula: |
  pct = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5);
  $TargetDedicatedNodes = pct < 70 ? 1 : avg($PendingTasks.GetSample(TimeInterval_Minute * 5))
  $TargetLowPriorityNodes = 0;
tests: []
"""


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_yaml_block_scalar_maps_to_the_host_lines(capsys, here, newline):
    here("busy.test.yaml", TEST_YAML, newline=newline)
    code, out, err = check(capsys, "busy.test.yaml")
    assert code == 1
    assert out == ("busy.test.yaml:5:3: AutoScalingFormulaSyntaxError "
                   "';' probably missing before this statement\n"
                   "  $TargetLowPriorityNodes = 0;\n"
                   "  ^^^^^^^^^^^^^^^^^^^^^^^\n")
    assert err == "1 file, 1 error, 0 warnings\n"


def test_yaml_plain_scalar_maps_and_folded_scalar_falls_back(capsys, here):
    here("pool.yaml", "properties:\n"
                      f"  autoScaleFormula: {UNGUARDED}"
                      "  other:\n"
                      "    autoScaleFormula: >\n"
                      "      $TargetDedicatedNodes =\n"
                      "      foo(1);\n")
    code, out, _ = check(capsys, "pool.yaml")
    assert code == 1
    assert out.splitlines() == [
        f"pool.yaml:2:72: UnguardedGetSample {UNGUARDED_MSG}",
        f"  autoScaleFormula: {UNGUARDED.rstrip()}",
        f"{' ' * 71}^",
        "pool.yaml#/properties/other/autoScaleFormula:1:25: AutoScalingFormulaValidationError "
        "UnknownFunction: 'foo' is not a function",
        "$TargetDedicatedNodes = foo(1);",
        f"{' ' * 24}^^^",
    ]


def test_test_file_formula_file_is_checked_in_its_place(capsys, here):
    here("tests/busy.formula", UNGUARDED)
    here("tests/busy.test.yaml", "formula_file: busy.formula\ntests: []\n")
    code, out, err = check(capsys, "tests/busy.test.yaml", "tests")
    assert code == 0
    assert out.splitlines()[0] == f"tests/busy.formula:1:52: UnguardedGetSample {UNGUARDED_MSG}"
    assert out.count("UnguardedGetSample") == 1
    assert err == "2 files (1 formula), 0 errors, 1 warning\n"


# --------------------------------------------------------------------------- formats

def two_findings(here):
    here("a.formula", "x = 1 % 2;\n$TargetDedicatedNodes = x;")
    here("pool.json", json.dumps({"autoScaleFormula": "a = 1;\n" + UNGUARDED}))
    return ["a.formula", "pool.json"]


def test_json_format_field_by_field(capsys, here):
    code, out, err = check(capsys, "--format", "json", *two_findings(here))
    assert code == 1
    assert err == ""  # no summary: stdout and stderr stay machine-clean
    first, second = (json.loads(line) for line in out.splitlines())
    assert first == {"path": "a.formula", "line": 1, "column": 7, "end_line": 1, "end_column": 8,
                     "code": "AutoScalingFormulaValidationError", "severity": "error",
                     "message": "TypeError: operator '%' cannot be applied to (double, double)"}
    assert second["path"] == "pool.json#/autoScaleFormula"
    assert (second["line"], second["column"], second["end_line"], second["end_column"]) == (2, 52, 2, 53)
    assert (second["code"], second["severity"], second["message"]) == (
        "UnguardedGetSample", "warning", UNGUARDED_MSG)
    assert list(second) == ["path", "line", "column", "end_line", "end_column", "code", "severity",
                            "message"]


def test_github_format_exact_lines(capsys, here):
    code, out, err = check(capsys, "--format", "github", *two_findings(here))
    assert code == 1
    assert err == ""
    assert out.splitlines() == [
        "::error file=a.formula,line=1,col=7,endLine=1,endColumn=8,"
        "title=AutoScalingFormulaValidationError::"
        "TypeError: operator '%25' cannot be applied to (double, double)",
        # an unmapped embedded formula is annotated at its string in the file itself
        "::warning file=pool.json,line=1,col=22,endLine=1,endColumn=112,title=UnguardedGetSample::"
        # ("%" is escaped as "%25" in workflow commands)
        f"{UNGUARDED_MSG.replace('%', '%25')} (formula at #/autoScaleFormula, line 2, col 52)",
    ]


def test_github_escaping_of_data_and_properties():
    f = Finding("dir,1/a:b%.formula", 3, 4, 3, 5, "Code", "warning", "50% done\r\nnext: a,b")
    assert format_github([f]) == (
        "::warning file=dir%2C1/a%3Ab%25.formula,line=3,col=4,endLine=3,endColumn=5,title=Code::"
        "50%25 done%0D%0Anext: a,b\n")


def test_sarif_format_field_by_field(capsys, here):
    code, out, err = check(capsys, "--format", "sarif", *two_findings(here))
    assert code == 1
    assert err == ""
    log = json.loads(out)
    assert log["version"] == "2.1.0"
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "poolscale"
    assert run["columnKind"] == "unicodeCodePoints"
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["AutoScalingFormulaValidationError", "UnguardedGetSample"]
    assert rules[0]["shortDescription"]["text"] == "The specified auto-scaling formula is not valid."
    assert rules[1]["shortDescription"]["text"].startswith("A window GetSample can fail")
    first, second = run["results"]
    assert first["ruleId"] == "AutoScalingFormulaValidationError"
    assert first["ruleIndex"] == 0
    assert first["level"] == "error"
    assert first["message"]["text"] == "TypeError: operator '%' cannot be applied to (double, double)"
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "a.formula"
    assert location["region"] == {"startLine": 1, "startColumn": 7, "endLine": 1, "endColumn": 8}
    assert second["ruleId"] == "UnguardedGetSample"
    assert second["level"] == "warning"
    assert second["message"]["text"].endswith("(formula at #/autoScaleFormula, line 2, col 52)")
    location = second["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "pool.json"
    assert location["region"] == {"startLine": 1, "startColumn": 22, "endLine": 1, "endColumn": 112}


def test_sarif_with_no_findings_is_a_valid_empty_run(capsys, here):
    here("ok.formula", GUARDED)
    code, out, _ = check(capsys, "--format", "sarif", "ok.formula")
    assert code == 0
    run = json.loads(out)["runs"][0]
    assert (run["results"], run["tool"]["driver"]["rules"]) == ([], [])


# --------------------------------------------------------------------------- usage errors

@pytest.mark.parametrize("name, text, message", [
    ("missing.formula", None, "poolscale: missing.formula: cannot read: No such file or directory\n"),
    ("broken.json", '{"autoScaleFormula": ', "poolscale: broken.json: malformed JSON: "
                                             "Expecting value (line 1, col 22)\n"),
    ("broken.yaml", "a: [\n", "poolscale: broken.yaml: malformed YAML: "
                              "did not find expected node content (line 2, col 1)\n"),
    ("none.json", '{"id": "pool", "autoScaleFormula": null}',
     "poolscale: none.json: no autoscale formula found (looked for autoScaleFormula, "
     "scaleSettings.autoScale.formula and a top-level formula)\n"),
    ("latin1.formula", "x = '\xe9'", None),
    ("ref.test.yaml", "formula_file: nope.formula\n",
     "poolscale: ref.test.yaml: formula_file: nope.formula: cannot read: No such file or directory\n"),
    ("empty", "", "poolscale: no *.formula files under empty\n"),
])
def test_usage_errors_exit_two(capsys, here, tmp_path, name, text, message):
    if name == "empty":
        (tmp_path / name).mkdir()
    elif name == "latin1.formula":
        (tmp_path / name).write_bytes(text.encode("latin-1"))
        message = "poolscale: latin1.formula: not UTF-8 (byte 5)\n"
    elif text is not None:
        here(name, text)
    assert check(capsys, name) == (2, "", message)


def test_no_path_is_a_usage_error(capsys):
    assert main(["check"]) == 2
    assert "the following arguments are required: PATH" in capsys.readouterr().err


def test_one_bad_path_stops_before_any_report(capsys, here):
    here("bad.formula", MISSING_SEMI)
    code, out, err = check(capsys, "bad.formula", "nothere.json")
    assert (code, out, err) == (2, "", "poolscale: nothere.json: cannot read: No such file or directory\n")


# --------------------------------------------------------------------------- as a process

def test_process_text_output_and_exit_status(tmp_path):
    (tmp_path / "bad.formula").write_text(MISSING_SEMI, encoding="utf-8")
    (tmp_path / "ok.formula").write_text(GUARDED, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "poolscale.runtime.cli", "check", "."],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stdout == ("./bad.formula:2:27: AutoScalingFormulaSyntaxError "
                           "';' probably missing before this statement\n"
                           "$TargetDedicatedNodes = x $y = 2;\n"
                           "                          ^^\n")
    assert proc.stderr == "2 files, 1 error, 0 warnings\n"


def test_check_does_not_import_pandas_pydantic_or_yaml_for_formula_files(tmp_path):
    (tmp_path / "f.formula").write_text(UNGUARDED)
    code = ("import sys; from poolscale.runtime.cli import main; "
            f"main(['check', {str(tmp_path / 'f.formula')!r}]); "
            "print(sorted(m for m in ('pandas', 'pydantic', 'yaml', 'prompt_toolkit') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.splitlines()[-1] == "[]"
