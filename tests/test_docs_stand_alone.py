"""The documentation stands alone: a user has only the clone.

Three promises, each checked against the repository as it is:

* nothing tracked refers to files outside the repository: the folder the project was
  written in, the specifications kept beside the clone there, and their numbered sections,
  which a user of the clone cannot open (this file spells those forms in pieces, so that it is
  checked like every other file);
* every link to a heading (``docs/language.md#window-arithmetic`` in a comment, ``[x](#y)`` or
  ``[x](limits.md#files)`` in a page, ``doc: "#e7-..."`` in the compliance corpus) names a
  heading that exists, under GitHub's anchor rules, so renaming a heading cannot strand a link;
* docs/language.md describes every name the checker knows and every error and lint code, with
  the lists taken from the code, so adding a function or an error code without documenting it
  fails here.
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import yaml

from poolscale.formula import builtins, lints, parser
from poolscale.formula import functions  # noqa: F401  (importing it registers every function)
from poolscale.formula import methods  # registers every series method; DEFAULT_PCT
from poolscale.formula.errors import ERROR_MESSAGES

ROOT = Path(__file__).resolve().parent.parent
LANGUAGE = ROOT / "docs" / "language.md"

# -- what a tracked file may not mention ------------------------------------------------------

#: The pieces of the forbidden forms. Spelt apart, so that this file holds none of them whole
#: and the check needs no exception for the file that makes it.
PIECES = {"up": "." * 2, "shared": "sha" + "red", "ws": "work" + "space", "work": "wo" + "rk",
          "bm": "batch" + "-model", "sign": "\u00a7"}

#: References that only make sense where the project was written: the files beside the clone,
#: and the numbered sections of the specifications there, which the project's docs replace.
OUTSIDE = re.compile("|".join([
    re.escape("{up}/{shared}".format(**PIECES)),
    re.escape("{shared}/spec".format(**PIECES)),
    r"\bspec " + PIECES["sign"],
    r"\b" + PIECES["ws"] + r"\b",
    re.escape("/{work}/".format(**PIECES)),
    re.escape(PIECES["bm"]),
    PIECES["sign"] + r"\s*\d",
]), re.IGNORECASE)


@functools.cache
def tracked_files() -> tuple[str, ...]:
    """The files a clone holds: ``git ls-files``, or the tree without build output when the
    checkout has no git metadata (an unpacked source archive)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        names = [n for n in out.stdout.decode("utf-8").split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "build", "dist", "__pycache__"}
        names = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*")
                 if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
                 and not p.name.endswith(".egg-info")]
    return tuple(sorted(n for n in names if (ROOT / n).is_file()))


def text_of(name: str) -> str | None:
    try:
        return (ROOT / name).read_text(encoding="utf-8")
    except UnicodeDecodeError:  # a binary file
        return None


def outside_references(name: str) -> list[str]:
    text = text_of(name) or ""
    return [f"{name}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1)
            if OUTSIDE.search(line)]


def test_no_tracked_file_refers_outside_the_repository():
    found = [hit for name in tracked_files() for hit in outside_references(name)]
    assert found == []


def test_the_outside_pattern_catches_what_it_must():
    """The forbidden forms, as they were written before the reference existed."""
    for line in ("The complete semantics are in `{up}/{shared}/spec/language.md`",
                 "the error code of spec {sign}12", "(the spec ({shared}/spec/language.md) as data)",
                 "in the project {ws}", "see /{work}/{shared}/spec/{bm}.md",
                 "({bm}.md {sign}2–{sign}4)", "({bm} {sign}6.1: exitCodes ...)",
                 "({sign}4.5 ranking)", "the {sign}11 invariants",
                 "language.md {sign}14.2: truncate", "{sign} 7.3"):
        assert OUTSIDE.search(line.format(**PIECES)), line
    for line in ("see docs/language.md#error-codes", "GITHUB_WORKSPACE", "a Batch pool spec",
                 "(docs/simulation-model.md#which-nodes-leave-on-scale-down)", "a {sign} sign"):
        assert not OUTSIDE.search(line.format(**PIECES)), line


# -- anchors ------------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


@functools.cache
def anchors_of(page: Path) -> frozenset[str]:
    """Every anchor of a Markdown page; repeated headings get ``-1``, ``-2``, … as on GitHub.
    Lines inside fenced code blocks are not headings."""
    seen: dict[str, int] = {}
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        m = None if fenced else _HEADING.match(line)
        if m:
            slug = github_anchor(m.group(2))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            if n:
                seen.setdefault(f"{slug}-{n}", 1)
    return frozenset(seen)


def test_github_anchor_rules():
    assert github_anchor("Logic, laziness and stop()") == "logic-laziness-and-stop"
    assert github_anchor("E7. A window below the minimum") == "e7-a-window-below-the-minimum"
    assert github_anchor("The formula language: poolscale's reference") == (
        "the-formula-language-poolscales-reference")
    assert github_anchor("`poolscale check`") == "poolscale-check"


#: ``[text](page.md#anchor)`` or ``[text](#anchor)`` in Markdown
_MD_LINK = re.compile(r"\]\((?P<page>[^)\s#]*)#(?P<anchor>[^)\s]+)\)")
#: a bare ``docs/page.md#anchor`` (or ``page.md#anchor``) in code, comments and YAML
_BARE = re.compile(r"(?<!\]\()(?<![\w/.-])(?P<page>(?:docs/)?[\w-]+\.md)#(?P<anchor>[\w-]+)")


def _target(source: str, page: str, markdown_link: bool) -> Path:
    here = (ROOT / source).parent
    if markdown_link:
        return (here / page).resolve() if page else (ROOT / source)
    if page.startswith("docs/"):
        return ROOT / page
    # a bare ``language.md#x`` names a page of docs/ (or a sibling when the source is in docs/)
    return here / page if (here / page).exists() else ROOT / "docs" / page


def this_file() -> str:
    return Path(__file__).resolve().relative_to(ROOT).as_posix()


@functools.cache
def anchor_links() -> tuple[tuple[str, int, Path, str], ...]:
    """(source file, line, page, anchor) for every heading link written in the repository."""
    links = []
    for name in tracked_files():
        text = text_of(name)
        if text is None or name == this_file():
            continue  # its links are examples of the forms, not links
        for n, line in enumerate(text.splitlines(), 1):
            for m in _MD_LINK.finditer(line):
                links.append((name, n, _target(name, m["page"], True), m["anchor"]))
            for m in _BARE.finditer(line):
                links.append((name, n, _target(name, m["page"], False), m["anchor"]))
    return tuple(links)


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def corpus_doc_links() -> list[tuple[str, str, Path, str]]:
    """``doc: "#anchor, #anchor"`` of each compliance case: sections of docs/language.md."""
    links = []
    for path in sorted((ROOT / "tests" / "compliance").glob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
        for case in data.get("cases") or []:
            doc = str(case.get("doc", ""))
            anchors = re.findall(r"#([\w-]+)", doc)
            assert anchors, f"{path.name}: case {case.get('name')!r} names no section in doc"
            links += [(path.name, case.get("name"), LANGUAGE, a) for a in anchors]
    return links


def test_the_repository_links_headings():
    links = anchor_links()
    # not vacuous: the scan finds the links the code, the pages and the tests make
    sources = {name.split("/")[0] for name, _, page, _ in links if page == LANGUAGE}
    assert {"formula", "metrics", "runtime", "docs", "tests"} <= sources
    model = ROOT / "docs" / "simulation-model.md"
    sources = {name.split("/")[0] for name, _, page, _ in links if page == model}
    assert {"scheduler", "tests", "docs"} <= sources


def test_every_heading_link_names_a_heading_that_exists():
    broken = []
    for source, where, page, anchor in [*anchor_links(), *corpus_doc_links()]:
        shown = page.relative_to(ROOT) if page.is_relative_to(ROOT) else page
        if not page.is_file():
            broken.append(f"{source}:{where}: {shown} does not exist")
        elif anchor not in anchors_of(page):
            broken.append(f"{source}:{where}: {shown}#{anchor} is no heading")
    assert broken == []


# -- the reference covers what the code knows ---------------------------------------------------

@functools.cache
def sections() -> dict[str, str]:
    """docs/language.md by anchor: each heading's text up to the next heading of any level."""
    out: dict[str, list[str]] = {}
    current = None
    fenced = False
    for line in LANGUAGE.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if m:
            current = github_anchor(m.group(2))
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def documented(anchor: str) -> set[str]:
    """The names written in code font in the first column of the section's tables."""
    names = set()
    for line in sections()[anchor].splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


def test_every_error_code_and_its_message_is_documented():
    table = sections()["error-codes"]
    row = re.compile(r"^\| `(\w+)` \|[^|]*\|[^|]*\| `([^`]*)` \|", re.M)
    rows = {m[1]: m[2] for m in row.finditer(table)}
    assert set(rows) == set(ERROR_MESSAGES)
    assert rows == ERROR_MESSAGES


def test_every_lint_code_is_documented():
    assert documented("lint-warnings") == set(lints.CODES)


def test_every_function_is_documented():
    assert documented("functions") == {f.canonical for f in builtins.FUNCTIONS.values()}


def _signature(form) -> re.Pattern:
    """``(doubleVec v, double i) → double`` for a form: each parameter's type, optionally
    followed by its name, in order; ``list`` for a doubleVecList; "no value" for stop()."""
    params = ", ".join(rf"{re.escape(str(p))}(?: \w+)?" for p in form.params)
    result = "no value" if str(form.result) == "none" else re.escape(str(form.result))
    return re.compile(rf"\({params}\) → {result}\b")


def test_every_form_of_every_function_is_documented():
    row = re.compile(r"^\| `(\w+)` \| ([^|]*) \|", re.M)
    rows = {m[1]: m[2] for m in row.finditer(sections()["functions"])}
    missing = [f"{fn.canonical}: {_signature(form).pattern}" for fn in builtins.FUNCTIONS.values()
               for form in fn.forms if not _signature(form).search(rows.get(fn.canonical, ""))]
    assert missing == []


def test_every_series_method_and_each_of_its_forms_is_documented():
    assert documented("series-methods") == {m.canonical for m in builtins.METHODS.values()}
    forms = [row for row in sections()["series-methods"].splitlines()
             if row.startswith("| `GetSample` |")]
    window_forms = len(builtins.METHODS["getsample"].forms) - 1  # all but GetSample(n)
    # one row for the count form; one per window shape, with the percent optional ([, double pct])
    assert len(forms) == 1 + window_forms // 2


def test_every_variable_constant_member_and_keyword_is_documented():
    assert documented("series-variables") == set(builtins.SERIES.values())
    assert documented("read-only-scalars") == set(builtins.SCALARS.values())
    targets = set()
    for line in sections()["targets-and-the-deallocation-option"].splitlines():
        if line.startswith("| `"):
            targets.update(re.findall(r"`(\$\w+)`", "|".join(line.split("|")[1:3])))
    assert targets == {t.canonical for t in builtins.TARGETS.values()}
    assert documented("time-interval-constants") == {c for c, _ in builtins.CONSTANTS.values()}
    assert documented("timestamp-members") == set(builtins.MEMBERS.values())
    assert documented("deallocation-options") == {k for k, _ in builtins.KEYWORDS.values()}


def test_the_limits_and_the_default_percent_are_the_codes():
    limits = sections()["limits"]
    assert f"at most {parser.MAX_LENGTH} code points" in limits
    assert f"at most {parser.MAX_STATEMENTS} non-empty statements" in limits
    assert f"pct is {methods.DEFAULT_PCT:g} when it is left out" in sections()["series-methods"]
