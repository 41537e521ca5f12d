"""CSV injection: a cell a spreadsheet would run as a formula gets a leading apostrophe, also when
the formula character is a full-width or small form (＝＋－＠, ﹦﹢﹣﹫, the minus sign −) or hides
behind zero-width or other invisible characters. Ordinary text, numbers and dates are left alone."""

import csv
import io

import pytest

from rag.csv_export import csv_lines, neutralise

FORMULAS = [
    "=1+1",
    "+1",
    "-1",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    '＝HYPERLINK("http://evil.example")',
    "＋1",
    "－1",
    "＠SUM(A1)",
    "﹦1",
    "﹢1",
    "﹣1",
    "﹫SUM(A1)",
    "−1",
    "\u200b=1",  # zero-width space
    "\u200c\u200d=1",  # zero-width non-joiner and joiner
    "\ufeff=1",  # byte order mark
    "\u200e\u200f+1",  # direction marks
    "\u2066@SUM(A1)\u2069",  # directional isolates
    "\u00ad-1",  # soft hyphen
    "\u00a0=1",  # no-break space
    "\u3000＝1",  # ideographic space, then full-width equals
    " =1",
    "\n=1",
    "\u2028=1",  # line separator
    "\u034f=1",  # combining grapheme joiner
    "\u3164=1",  # Hangul filler
    "\u2800=1",  # blank Braille pattern
]
LEFT_ALONE = [
    "",
    "How is the budget reviewed?",
    "a=b",
    "Budget - review",
    "2026-11-30T10:00:00+00:00",
    "\u200bhello",  # invisible, but no formula behind it
    "日本語のテキスト",
    "x＝1",
]


@pytest.mark.parametrize("value", FORMULAS)
def test_formula_starts_are_neutralised(value):
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", LEFT_ALONE)
def test_ordinary_text_is_left_alone(value):
    assert neutralise(value) == value


def test_numbers_and_none_are_cells_as_written():
    assert (neutralise(42), neutralise(None), neutralise(True)) == ("42", "", "True")


def test_csv_lines_write_the_neutralised_cells_and_they_read_back():
    body = "".join(csv_lines(["question"], [[value] for value in FORMULAS + LEFT_ALONE]))
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"), newline="")))
    assert [row[0] for row in rows[1:]] == ["'" + v for v in FORMULAS] + LEFT_ALONE
