"""docs/simulation-model.md stands alone: it explains every name a user can write in a pool or
workload file and every state, option, code and figure the simulator can report.

The lists are taken from the code — the pydantic models and the readers' tables, the engine's
constants, the strings the engine logs and records — not copied here, so a field, state or code
added to the simulator fails this test until the page explains it. A name counts as explained
when the page shows it as code (between backticks), which is how the page writes every name a
user types or reads.
"""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from poolscale.formula.values import Option
from poolscale.metrics.variables import SERIES_VARIABLES
from poolscale.scheduler import kernel, nodes, pool, tasks
from poolscale.scheduler.models import PoolSpec, Workload
from poolscale.scheduler.sampler import TIMELINE_COLUMNS
from poolscale.scheduler.simulate import simulate
from poolscale.scheduler.workload import CSV_COLUMNS, _generator_models
from test_docs_stand_alone import OUTSIDE

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "simulation-model.md"
SCHEDULER = ROOT / "scheduler"


# -- what the page shows as code --------------------------------------------------------------


def _code_names(text: str) -> set[str]:
    """Every name the page writes as code: each backticked span whole, and the identifiers in
    it (`simulation.samples.period` explains `period`; `{"kind": "uniform"}` explains both)."""
    names: set[str] = set()
    spans = re.findall(r"`([^`\n]+)`", text)
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        spans.extend(block.splitlines())
    for span in spans:
        names.add(span.strip())
        names.update(re.findall(r"\$?[A-Za-z_][A-Za-z0-9_.]*[A-Za-z0-9_]|\$?[A-Za-z_]", span))
        for dotted in re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", span):
            names.update(dotted.split("."))
    return names


@pytest.fixture(scope="module")
def shown() -> set[str]:
    return _code_names(DOC.read_text(encoding="utf-8"))


def _missing(names, shown_names: set[str]) -> list[str]:
    return sorted(n for n in set(names) if n not in shown_names)


# -- the file fields the readers accept ---------------------------------------------------------


def _models_in(annotation) -> typing.Iterator[type[BaseModel]]:
    """The models a field's type refers to, through Optional, Union, list and Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _accepted_fields(model: type[BaseModel], seen: set | None = None) -> set[str]:
    """Every key a file may write for ``model`` and the models under it: the camelCase name of
    each field and the REST properties a section accepts and ignores (``IGNORED``)."""
    seen = set() if seen is None else seen
    if model in seen:
        return set()
    seen.add(model)
    names = set(getattr(model, "IGNORED", ()))
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
        for sub in _models_in(info.annotation):
            names |= _accepted_fields(sub, seen)
    return names


def test_every_pool_file_field_is_explained(shown):
    fields = _accepted_fields(PoolSpec) | {"pool", "simulation"}   # and load_pool's envelope
    assert {"taskSlotsPerNode", "maxNodesPerKind", "lossRate", "recoveryTime", "stddev",
            "MaxTasksPerVM", "odata.metadata"} <= fields          # the walk reaches them all
    assert _missing(fields, shown) == []


def test_every_workload_file_field_is_explained(shown):
    fields = _accepted_fields(Workload) | {"tasks", "generator"}     # load_workload's envelopes
    assert {"submitTime", "exitCodes", "memoryMB", "taskIdRanges", "coordinationCommandLine",
            "killJobOnCompletion", "exitCodeRanges", "dependencyAction"} <= fields
    assert _missing(fields, shown) == []


def test_every_csv_column_and_generator_key_is_explained(shown):
    generator = _accepted_fields(_generator_models())
    assert {"ratePerHour", "peakHour", "every", "weights"} <= generator
    assert _missing(set(CSV_COLUMNS) | generator, shown) == []


def test_every_distribution_kind_is_explained(shown):
    from poolscale.scheduler import models

    kinds = {kind for m in (models.Constant, models.Uniform, models.Exponential, models.Normal,
                            models.LogNormal, models.Triangular)
             for kind in typing.get_args(m.model_fields["kind"].annotation)}
    assert len(kinds) == 6
    assert _missing(kinds, shown) == []


# -- the states, options and codes the engine produces ----------------------------------------


def _module_strings(module, names) -> set[str]:
    return {getattr(module, n) for n in names if isinstance(getattr(module, n), str)}


def test_every_node_state_and_kind_is_explained(shown):
    states = _module_strings(nodes, nodes.__all__)
    assert {"creating", "waitingforstarttask", "leavingpool", "unusable", "removed"} <= states
    assert _missing(states | set(nodes.KIND_NAMES), shown) == []


def test_every_pool_task_and_job_state_is_explained(shown):
    pool_states = _module_strings(pool, pool.__all__)
    task_and_job = _module_strings(tasks, tasks.__all__)
    assert {"steady", "resizing", "stopping"} == pool_states
    assert {"preparing", "terminating", "disabled", "pending"} <= task_and_job
    assert _missing(pool_states | task_and_job, shown) == []


def test_every_deallocation_option_is_explained(shown):
    options = {o.value for o in Option}
    assert len(options) == 4
    assert _missing(options, shown) == []


def _scheduler_trees():
    for path in sorted(SCHEDULER.glob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def _error_codes() -> set[str]:
    """The codes the engine records: resize errors, failureInfo codes and categories, job
    termination reasons, and the service error codes its file errors name. A code is a string
    the engine writes that reads as one CamelCase word (``TaskEnded``, ``JMComplete``) or begins
    a message as ``Code:``; names of the package's own classes are not codes."""
    classes = {n.name for _, t in _scheduler_trees() for n in ast.walk(t)
               if isinstance(n, ast.ClassDef)}
    word = re.compile(r"[A-Z][A-Za-z]*[a-z][A-Za-z]*")
    codes: set[str] = set()
    for _, tree in _scheduler_trees():
        attribute_names = {id(n.args[1]) for n in ast.walk(tree) if isinstance(n, ast.Call)
                           and getattr(n.func, "id", "") in ("getattr", "hasattr")
                           and len(n.args) > 1}         # getattr(yaml, "CSafeLoader") is no code
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in attribute_names:
                text = node.value
                if word.fullmatch(text) and sum(c.isupper() for c in text) >= 2:
                    codes.add(text)
                codes.update(re.findall(r"^([A-Z][A-Za-z]+[A-Z][A-Za-z]+): ", text))
            elif isinstance(node, ast.Tuple) and len(node.elts) == 2 and all(
                    isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
                category = node.elts[0].value
                if category.endswith("error"):          # a failureInfo (category, code)
                    codes.add(category)
    return codes - classes


def test_every_error_code_the_scheduler_records_is_explained(shown):
    codes = _error_codes()
    assert {"AccountCoreQuotaReached", "AccountLowPriorityCoreQuotaReached", "AllocationTimedout",
            "TaskEnded", "FailureExitCode", "usererror", "servererror", "JMComplete",
            "MaxWallClockTimeExpiry", "AllTasksComplete", "TaskFailed",
            "InvalidAutoScaleEvaluationInterval"} <= codes
    assert _missing(codes, shown) == []


def _strings(expr) -> set[str]:
    return {n.value for n in ast.walk(expr) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


def _called(func: ast.expr) -> str:
    """The name a call calls: ``f`` of ``f(...)`` and of ``self.f(...)``."""
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _logged() -> tuple[set[str], set[str]]:
    """The event kinds the engine logs (the second item of every ``_log((now, kind, ...))``
    tuple: a string, either string of a conditional, or the strings passed for a parameter of
    the function that logs it) and the labels of its random streams (the first argument of
    every draw)."""
    kinds: set[str] = set()
    labels: set[str] = set()
    relayed: set[tuple[str, int]] = set()       # (function, index of the parameter it logs)
    calls: list[ast.Call] = []
    for _, tree in _scheduler_trees():
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            params = [a.arg for a in fn.args.args]
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and _called(node.func) in ("_log", "log") \
                        and node.args and isinstance(node.args[0], ast.Tuple):
                    kind = node.args[0].elts[1]
                    kinds |= _strings(kind)
                    if isinstance(kind, ast.Name) and kind.id in params:
                        relayed.add((fn.name, params.index(kind.id) - (params[0] == "self")))
        calls += [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    for node in calls:
        name = _called(node.func)
        for fn_name, i in relayed:
            if name == fn_name and len(node.args) > i:
                kinds |= _strings(node.args[i])
        if name in ("rng", "uniform", "seed_of") and node.args:
            labels |= _strings(node.args[0])
        elif name == "_draw" and len(node.args) >= 2:
            labels |= _strings(node.args[1])
    return kinds, labels


def test_every_event_kind_and_random_stream_is_explained(shown):
    kinds, labels = _logged()
    assert {"node", "node.deallocate", "pool.resize_error", "task.recover", "release.skip",
            "autoscale", "sample"} <= kinds
    assert {"allocation", "boot", "starttask", "preemption", "failure", "recovery", "repair",
            "preparation", "sampleloss", "rand"} <= labels
    assert _missing(kinds | labels, shown) == []


def test_every_series_and_timeline_column_is_explained(shown):
    assert _missing(set(SERIES_VARIABLES) | set(TIMELINE_COLUMNS) | {"timestamp"}, shown) == []


def _keys(value) -> set[str]:
    """Every key of a nested dict."""
    out: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            out.add(k)
            out |= _keys(v)
    return out


def test_every_report_key_is_explained(shown):
    pool_file = {"id": "p", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 1,
                 "simulation": {"prices": {"dedicated": 0.1}}}
    report = simulate(pool_file, {"tasks": [{"id": "t", "duration": 60}]}).report
    keys = _keys(report) - {"p"}          # the job-state counts are keyed by state
    assert {"wait_seconds", "node_hours", "utilization", "resize_errors", "p95"} <= keys
    assert _missing(keys, shown) == []


def test_the_kernel_ranks_are_explained(shown):
    assert _missing(kernel.RANK_NAMES, shown) == []


# -- the page stands alone, and its anchors hold -------------------------------------------------


def test_the_simulation_pages_refer_to_nothing_outside_the_repository():
    for page in ("simulation-model.md", "simulate.md"):
        text = (ROOT / "docs" / page).read_text(encoding="utf-8")
        # the forbidden forms are test_docs_stand_alone's, which every tracked file must pass;
        # these pages have no use for a section sign at all
        found = OUTSIDE.findall(text) + (["\N{SECTION SIGN}"] if "\N{SECTION SIGN}" in text else [])
        assert found == [], f"docs/{page} refers outside the repository: {found}"


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    headings = re.findall(r"^#{1,6} (.+)$", text, re.M)
    anchors = {_slug(h) for h in headings}
    assert len(anchors) == len(headings), f"two headings of {page.name} share an anchor"
    return anchors


def test_links_into_and_out_of_the_model_page_resolve():
    """Others link to the page's sections, and the page links to simulate.md's: every such
    anchor is a heading of its page."""
    docs = ROOT / "docs"
    links = [("simulation-model.md", "simulation-model.md", a)
             for a in re.findall(r"\]\(#([^)]+)\)", DOC.read_text(encoding="utf-8"))]
    for page in sorted(docs.glob("*.md")) + [ROOT / "README.md"]:
        for a in re.findall(r"simulation-model\.md#([^)\s]+)", page.read_text(encoding="utf-8")):
            links.append((page.name, "simulation-model.md", a))
    for target, a in re.findall(r"\]\(([a-z-]+\.md)#([^)]+)\)", DOC.read_text(encoding="utf-8")):
        links.append(("simulation-model.md", target, a))
    assert len(links) > 50
    broken = [link for link in links if link[2] not in _anchors(docs / link[1])]
    assert broken == []
