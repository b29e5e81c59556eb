"""Checks: every fixture folder in fixtures/check has the diagnostics it must produce beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import check, load_config
from pipeline.validate import bigrams, normalise_question, similar_pairs
from tests.conftest import FIXTURES, SEEDS, golden

CASES = sorted(p for p in (FIXTURES / "check").iterdir() if p.is_dir())


def _diagnostics(folder: Path) -> str:
    result = check(load_config(folder))
    return "".join(f"{d}\n" for d in result.collection.diagnostics)


@pytest.mark.parametrize("folder", CASES, ids=[p.name for p in CASES])
def test_fixture_reports_expected_diagnostics(folder: Path) -> None:
    actual = _diagnostics(folder)
    assert actual == golden(folder / "expected.txt", actual)


def test_check_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("## s\n#### 1. q\n\na\n", encoding="utf-8")
    check(load_config(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]


@pytest.mark.parametrize(
    ("case", "severity", "code"),
    [
        ("path_outside", "error", "outside-content"),
        ("not_utf8", "error", "encoding"),
        ("unclosed_fence", "error", "unclosed-fence"),
        ("missing_image", "warning", "missing-image"),
        ("python_syntax", "warning", "code-syntax"),
        ("json_syntax", "warning", "code-syntax"),
        ("fence_language", "warning", "fence-language"),
        ("duplicates", "warning", "duplicate"),
        ("raw_html", "warning", "raw-html"),
        ("unanswered", "warning", "unanswered"),
        ("fence_list_indent", "warning", "fence-indent"),
        ("fence_unknown_language", "warning", "fence-language"),
        ("unclosed_math", "warning", "unclosed-math"),
        ("remote_image", "warning", "remote-image"),
        ("font_coverage", "error", "font-coverage"),
    ],
)
def test_severity_of_each_check(case: str, severity: str, code: str) -> None:
    diagnostics = check(load_config(FIXTURES / "check" / case)).collection.diagnostics
    assert {d.severity for d in diagnostics if d.code == code} == {severity}


def test_a_closed_fence_inside_a_blockquote_is_fine() -> None:
    # Judged from raw lines, `> ```` was never a closing fence: 19 false errors in one repo.
    assert not check(load_config(FIXTURES / "check" / "fence_blockquote")).collection.diagnostics


def test_not_utf8_names_the_byte_offset() -> None:
    (d,) = check(load_config(FIXTURES / "check" / "not_utf8")).collection.diagnostics
    data = (FIXTURES / "check" / "not_utf8" / "notes.md").read_bytes()
    offset = data.index(bytes([0xFF]))
    assert f"offset {offset}" in d.message
    assert d.line == 4


def _all_pairs(questions: list[str]) -> set[tuple[int, int]]:
    """Near-duplicates by brute force, with the same two thresholds as the check."""
    keys = [normalise_question(q) for q in questions]
    first = {key: i for i, key in reversed(list(enumerate(keys)))}
    found = set()
    for j, b in enumerate(keys):
        for i, a in enumerate(keys[:j]):
            if not a or not b or first[a] != i or first[b] != j:
                continue  # an exact duplicate is reported as one, through its first place
            sa, sb = set(a), set(b)
            if len(sa & sb) / len(sa | sb) >= 0.85:
                ba, bb = bigrams(a), bigrams(b)
                if len(ba & bb) / len(ba | bb) >= 0.4:
                    found.add((i, j))
    return found


def test_near_duplicate_search_finds_every_pair_all_pairs_would() -> None:
    # The seed questions, each also reworded: two characters swapped, one dropped, one added.
    seeds = [c.question for c in check(load_config(SEEDS)).collection.cards]
    questions = list(seeds)
    for q in seeds:
        if len(q) > 6:
            questions += [q[1] + q[0] + q[2:], q[:3] + q[4:], q[:5] + "的" + q[5:]]
    near = {(i, j) for i, j, score in similar_pairs(questions) if score is not None}
    expected = _all_pairs(questions)
    assert len(expected) > 300  # the rewordings really are near-duplicates
    assert near == expected
