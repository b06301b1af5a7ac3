"""The LALR tables of ``grammar/autoscale.lark``, shipped in the package as plain JSON.

Why: building the tables from the grammar costs ~45 ms per process, a sixth of ``poolscale
eval``. Lark's own answer is a pickle cache under the user's cache folder or the shared
temporary directory, and Lark unpickles it before checking anything, so whoever can write
there runs code in every poolscale process (a planted pickle did, silently). The tables are
instead generated once by the developer and shipped beside the grammar as JSON, which can
only ever decode to data, and loaded in ~2 ms; poolscale never writes or reads a cache.

``python -m poolscale.formula.grammar_tables`` writes ``grammar/autoscale.tables.json``
(``generated_text()``); the test suite requires the shipped file to equal it, so a
grammar edit or a Lark upgrade that changes the tables cannot go unnoticed. At run time,
``load_tables()`` returns None when the file does not belong to the grammar next to it or to
the installed Lark (the parser then builds the tables from the grammar: slower, never wrong).

Lark's serialised form is JSON apart from three details restored here: integer dictionary
keys (parser states, token indices, the memo), the actions' ``(kind, argument)`` pairs, and
the lexer class, which is poolscale's own token feed and is written as a placeholder.
"""

from __future__ import annotations

import json
import os
from typing import Any

FORMAT = 2
TABLES_FILE = "autoscale.tables.json"
GRAMMAR_FILE = "autoscale.lark"
_LEXER_PLACEHOLDER = "poolscale.formula.parser._Feed"


def _grammar_file(name: str) -> str:
    """A file of the ``poolscale.grammar`` package. Read beside the package's own file rather
    than through importlib.resources, whose import alone costs ~3 ms of every ``eval``; the
    package is installed as files (pip never installs it zipped)."""
    import poolscale.grammar

    return os.path.join(os.path.dirname(poolscale.grammar.__file__), name)


def grammar_text() -> str:
    with open(_grammar_file(GRAMMAR_FILE), encoding="utf-8") as f:
        return f.read()


def tables_document(lark_parser: Any, grammar: str) -> dict:
    """The JSON document of a Lark LALR parser built from ``grammar``."""
    import lark
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    data, memo = lark_parser.memo_serialize([TerminalDef, Rule])
    data["options"] = {**data["options"], "lexer": _LEXER_PLACEHOLDER}
    frontend = data["parser"]
    frontend["lexer_conf"] = {**frontend["lexer_conf"], "lexer_type": _LEXER_PLACEHOLDER}
    frontend["parser"] = _canonical_table(frontend["parser"])
    return {"format": FORMAT, "grammar": grammar,
            "lark_version": lark.__version__, "data": data,
            "memo": [[key, value] for key, value in memo.items()]}


def _canonical_table(table: dict) -> dict:
    """The parse table with states numbered depth-first from the start state and
    tokens in name order. Lark numbers both in an order that varies from run to run (it
    follows object hashing), so without this every regeneration would rewrite the file."""
    names = table["tokens"]
    states = {state: {names[token]: action for token, action in actions.items()}
              for state, actions in table["states"].items()}
    order: dict[int, int] = {}
    queue = [*table["start_states"].values(), *table["end_states"].values(), *sorted(states)]
    while queue:
        state = queue.pop(0)
        if state in order:
            continue
        order[state] = len(order)
        queue[:0] = [arg for name, (kind, arg) in sorted(states[state].items()) if kind == 0]
    token_index = {name: i for i, name in enumerate(sorted(set(names.values())))}

    def action(kind: int, arg: Any) -> list:
        return [kind, order[arg] if kind == 0 else arg]

    return {
        **table,
        "tokens": [[i, name] for name, i in token_index.items()],
        "states": [[order[state], [[token_index[name], action(*states[state][name])]
                                   for name in sorted(states[state])]]
                   for state in sorted(states, key=order.__getitem__)],
        "start_states": {k: order[v] for k, v in table["start_states"].items()},
        "end_states": {k: order[v] for k, v in table["end_states"].items()},
    }


def load_tables(grammar: str, lexer: type) -> tuple[dict, dict] | None:
    """``(data, memo)`` for ``Lark._load_from_dict``, or None when the shipped tables were
    made from another grammar, by another Lark, or in another format."""
    import lark

    try:
        with open(_grammar_file(TABLES_FILE), "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if not (isinstance(doc, dict) and doc.get("format") == FORMAT
            and doc.get("grammar") == grammar
            and doc.get("lark_version") == lark.__version__):
        return None
    data = doc["data"]
    data["options"]["lexer"] = lexer
    frontend = data["parser"]
    frontend["lexer_conf"]["lexer_type"] = lexer
    table = frontend["parser"]
    table["states"] = {state: {token: tuple(action) for token, action in actions}
                       for state, actions in table["states"]}
    table["tokens"] = dict(table["tokens"])
    return data, dict(doc["memo"])


def generated_text() -> str:
    """The file's text for the grammar and the Lark installed."""
    from .parser import build_from_grammar

    grammar = grammar_text()
    doc = tables_document(build_from_grammar(grammar, transformer=None), grammar)
    return json.dumps(doc, separators=(",", ":")) + "\n"


def shipped_path() -> str:
    return _grammar_file(TABLES_FILE)


if __name__ == "__main__":  # pragma: no cover - a developer's command, after editing the grammar
    with open(shipped_path(), "w", encoding="utf-8") as out:
        out.write(generated_text())
    print(shipped_path())
