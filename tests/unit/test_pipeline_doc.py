"""docs/pipeline.md and apps/pipeline.py must not drift apart.

The tables of docs/pipeline.md are generated from ``PIPELINE`` (``python -m apps.pipeline
--update docs/pipeline.md``); these tests fail when the document was not regenerated after a
change to the declaration, or when any document names a table by a number or name the
declaration does not have.
"""
import pathlib
import re

import pytest

from apps import pipeline as pl

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "pipeline.md"
DECLARED = {(t.number, t.name) for t in pl.PIPELINE}
#: a Markdown table row starting "| 20 | l2_lookup |" or "| 20 l2_lookup |"
ROW = re.compile(r"^\|\s*(\d+)\s*(?:\|\s*`?|\s+)([a-z_][a-z0-9_]*)`?\s*\|", re.MULTILINE)


def rows(text):
    return {(int(number), name) for number, name in ROW.findall(text)}


def test_generated_part_is_current():
    text = DOC.read_text(encoding="utf-8")
    assert pl.update_document(text) == text, \
        "docs/pipeline.md is stale: run python -m apps.pipeline --update docs/pipeline.md"


def test_every_declared_table_is_documented_and_no_other():
    assert rows(DOC.read_text(encoding="utf-8")) == DECLARED


@pytest.mark.parametrize("doc", sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"],
                         ids=lambda p: p.name)
def test_documents_name_tables_by_their_declared_numbers(doc):
    names = {name for _, name in DECLARED}
    named = {(number, name) for number, name in rows(doc.read_text(encoding="utf-8"))
             if name in names}
    assert named <= DECLARED


def test_each_mode_documents_the_tables_it_uses():
    text = DOC.read_text(encoding="utf-8")
    for mode in pl.MODES:
        section = text.split(f"### {mode.capitalize()} mode", 1)[1].split("###", 1)[0]
        used = {(t.number, t.name) for t in pl.PIPELINE if getattr(t, mode) is not None}
        assert rows(section) == used, mode


def test_update_rewrites_only_the_generated_part():
    stale = f"intro\n{pl.DOC_BEGIN}\n| 3 | old_table | x |\n{pl.DOC_END}\noutro\n"
    updated = pl.update_document(stale)
    assert updated.startswith(f"intro\n{pl.DOC_BEGIN}\n") and updated.endswith(
        f"{pl.DOC_END}\noutro\n")
    assert "old_table" not in updated and rows(updated) >= DECLARED
