"""cardsmith.toml: every value checked against its type and range, named with file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import ConfigError, load_config
from pipeline.cli import cli

#: A settings file -> the message that must name what is wrong with it.
WRONG = {
    "root_deck = 5": "'root_deck' must be a string, not 5 (an integer)",
    'root_deck = "  "': "root_deck must not be empty",
    'root_deck = "a::::b"': "root_deck 'a::::b' has an empty deck name between '::'",
    'titles = "x"': "'titles' must be a table of strings, not 'x' (a string)",
    '[titles]\n"a.md" = 3': "'titles.\"a.md\"' must be a string, not 3 (an integer)",
    '[aliases]\n"什么是GIL？" = 5': "'aliases.\"什么是GIL？\"' must be a string, not 5",
    # Keys below a [table] header belong to it: a setting written at the end of the file.
    '[aliases]\n"x" = "csAAAA"\nroot_deck = 5': "'root_deck' is inside the table [aliases]: "
    "TOML puts every key below a [table] header into that table; move 'root_deck' above "
    "'[aliases]'",
    '[aliases]\nroot_deck = "面试题"': "'root_deck' is inside the table [aliases]",
    "default_language = []": "'default_language' must be a string, not an array",
    'default_language = "pyhton"': "default_language 'pyhton' is no language the highlighter "
    "knows; did you mean python",
    "formats = []": "formats must name at least one of json, apkg, pdf",
    'include_unanswered = "no"': "'include_unanswered' must be true or false, not 'no' (a string)",
    "include_unanswered = 0": "'include_unanswered' must be true or false, not 0 (an integer)",
    "aliases = 1.5": "'aliases' must be a table of strings, not 1.5 (a number)",
    "package_name = false": "'package_name' must be a string, not False (a boolean)",
    'package_name = "collection"': "would make Anki replace the whole collection",
    'package_name = "a/b"': "must be a file name, not a path",
    'package_name = " "': "package_name must not be empty",
    '[titles]\n"a.md" = ""': "the title of 'a.md' must not be empty",
    '[pdf]\ncolumns = "2"': "'pdf.columns' must be an integer, not '2' (a string)",
    "[pdf]\ncolumns = true": "'pdf.columns' must be an integer, not True (a boolean)",
    "[pdf]\ncolumns = 3": "pdf columns must be 1 or 2, not 3",
    '[pdf]\npaper = "a5"': "paper must be 'a4' or 'us-letter', not 'a5'",
    "[pdf]\ntitle = {}": "'pdf.title' must be a string, not a table",
    '[pdf]\ntodo = "yes"': "'pdf.todo' must be true or false, not 'yes' (a string)",
    "[pdf]\nfonts = 5": "'pdf.fonts' must be a string or a list of strings, not 5 (an integer)",
    '[pdf]\nmono_fonts = ["a", 1]': "'pdf.mono_fonts' must be a string or a list of strings",
    "[pdf]\nfonts = []": "pdf fonts must name at least one font",
    "question_level = 7": "question_level must be 0 (detect) or a heading level 1-6, not 7",
    'question_level = "3"': "'question_level' must be an integer, not '3' (a string)",
    'question_style = "bullets"': "question_style must be one of auto, heading, list, bold, qa",
    'question_pattern = "(Q"': "question_pattern '(Q' is not a regular expression",
    "pdf = 1": "unknown key 'pdf'",
    "colour = 'red'": "unknown key 'colour'",
    "root_deck = ": "cardsmith.toml: Invalid value",
    # tomllib's own words, with what they mean (the thirty-sixth trial).
    'root_deck = "a"\nroot_deck = "b"': "Cannot overwrite a value (at line 2, column 16): a key "
    "is set twice",
    "[pdf]\ncolumns = 1\n[pdf]": "Cannot declare ('pdf',) twice (at line 3, column 5): a table is "
    "declared twice",
}


@pytest.mark.parametrize("text", WRONG, ids=list(WRONG))
def test_a_wrong_value_is_a_usage_error_naming_file_and_key(tmp_path: Path, text: str) -> None:
    (tmp_path / "cardsmith.toml").write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'cardsmith.toml'}: ")
    assert WRONG[text] in str(caught.value)
    result = CliRunner().invoke(cli, ["check", "--content", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("cardsmith: error: ")
    assert len(result.output.splitlines()) == 1 and "Traceback" not in result.output


def test_a_settings_file_that_is_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "cardsmith.toml").mkdir()
    result = CliRunner().invoke(cli, ["check", "--content", str(tmp_path)])
    assert result.exit_code == 2
    assert "cannot read" in result.output and "cardsmith.toml" in result.output


def test_a_format_named_twice_is_built_once(tmp_path: Path) -> None:
    (tmp_path / "cardsmith.toml").write_text('formats = ["json", "apkg", "json"]\n', "utf-8")
    assert load_config(tmp_path).formats == ("json", "apkg")
    assert load_config(tmp_path, formats=("pdf", "json", "pdf")).formats == ("pdf", "json")


def test_every_right_type_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "cardsmith.toml").write_text(
        'root_deck = "面试题"\ndefault_language = "python"\ninclude_unanswered = true\n'
        'package_name = "deck"\nquestion_level = 3\nquestion_style = "heading"\n'
        'question_pattern = "^Q\\\\d+"\n[titles]\n"a.md" = "A"\n[aliases]\n"问" = "csAAAAAAAAAA"\n'
        '[pdf]\ncolumns = 1\npaper = "us-letter"\ntitle = "T"\ntodo = false\n'
        'fonts = "Noto Sans CJK SC"\nmono_fonts = ["DejaVu Sans Mono"]\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path)
    assert (config.columns, config.fonts, config.include_unanswered) == (
        1,
        ("Noto Sans CJK SC",),
        True,
    )
