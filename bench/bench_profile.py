"""cProfile of the two hot paths: evaluating the 6-statement formula and compiling
the 8 KB one. Profiler overhead inflates small functions, so read these for
*where* the time goes and the timing tables for *how much*."""

from __future__ import annotations

import cProfile
import io
import os
import pstats

from bench_formulas import big_formula


#: (label, file suffix, function) whose cumulative time says which part dominates
_EVAL_PARTS = [
    ("Formula.evaluate (everything)", "formula/formula.py", "evaluate"),
    ("statements (closures)", "formula/formula.py", "_run"),
    ("  SampleStore.window (searchsorted, Window)", "metrics/store.py", "window"),
    ("  np.add.accumulate (avg's sequential sum)", "~", "<method 'accumulate' of 'numpy.ufunc' objects>"),
    ("  max()/min() (argmax)", "formula/functions.py", "_extreme"),
    ("RunState()", "formula/state.py", "__init__"),
    ("_package (AutoScaleRun)", "formula/formula.py", "_package"),
]
_COMPILE_PARTS = [
    ("compile_formula (everything)", "formula/formula.py", "compile_formula"),
    ("parse", "formula/parser.py", "parse"),
    ("  tokenize", "formula/lexer.py", "tokenize"),
    ("  Lark LALR feed_token (incl. AST callbacks)", "lark/parsers/lalr_parser_state.py", "feed_token"),
    ("check", "formula/checker.py", "check"),
    ("compile_program (closures)", "formula/compiler.py", "compile_program"),
    ("_shape (printed names, depth)", "formula/formula.py", "_shape"),
]


def _parts(profile: cProfile.Profile, parts) -> dict[str, float]:
    stats = pstats.Stats(profile).stats
    out = {}
    for label, suffix, func in parts:
        total = sum(ct for (filename, _line, name), (_cc, _nc, _tt, ct, _) in stats.items()
                    if name == func and filename.replace(os.sep, "/").endswith(suffix))
        out[label] = total
    return out


def _top(profile: cProfile.Profile, limit: int) -> tuple[str, list[dict]]:
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime")
    rows = []
    for (filename, line, func), (cc, nc, tt, ct, _) in list(stats.stats.items()):
        rows.append({"function": f"{_short(filename)}:{line}({func})", "ncalls": nc,
                     "tottime_s": tt, "cumtime_s": ct})
    rows.sort(key=lambda r: -r["tottime_s"])
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(limit)
    return text.getvalue(), rows[:limit]


def _short(filename: str) -> str:
    for marker in ("site-packages" + os.sep, "main" + os.sep):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def run(*, evaluations: int = 20_000, compiles: int = 50, limit: int = 15) -> dict:
    import bench_eval
    from poolscale.formula import compile_formula

    formula, store, _arrays, now, pool = bench_eval.setup()
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(evaluations):
        formula.evaluate(store, now=now, pool=pool)
    profile.disable()
    eval_text, eval_rows = _top(profile, limit)
    eval_parts = _parts(profile, _EVAL_PARTS)

    text = big_formula()
    compile_formula(text)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(compiles):
        compile_formula(text)
    profile.disable()
    compile_text, compile_rows = _top(profile, limit)
    compile_parts = _parts(profile, _COMPILE_PARTS)
    return {"evaluate": {"runs": evaluations, "top_tottime": eval_rows, "text": eval_text,
                         "parts_s": eval_parts},
            "compile": {"runs": compiles, "top_tottime": compile_rows, "text": compile_text,
                        "parts_s": compile_parts}}
