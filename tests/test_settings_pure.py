"""settings/ is pure: the options' values resolve from plain values (no pytest object), and
importing the settings loads no pytest (the glue is session/options.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_crucible.settings import OPTIONS, option_named
from pytest_crucible.settings.resolution import BadSetting, Given, resolve_options


def _given(
    root: Path,
    command_line: dict[str, Any] | None = None,
    ini: dict[str, object] | None = None,
    inipath: Path | None = None,
) -> Given:
    written = command_line or {}
    in_ini = ini or {}

    def read_ini(key: str) -> object:
        value = in_ini.get(key)
        if isinstance(value, Exception):
            raise value
        return value

    return Given(root, inipath, written.get, read_ini)


def test_importing_the_settings_loads_no_pytest() -> None:
    probe = (
        "import sys\n"
        "import pytest_crucible.settings, pytest_crucible.settings.resolution\n"
        "import pytest_crucible.settings._docs\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_command_line_beats_the_environment_which_beats_the_ini_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = option_named("crucible_seed")
    ini = {"crucible_seed": "1"}
    monkeypatch.delenv("CRUCIBLE_SEED", raising=False)
    values, outside = resolve_options(_given(tmp_path, ini=ini, inipath=tmp_path / "a.ini"), [seed])
    assert values == {"crucible_seed": 1}
    assert outside == [f"{tmp_path / 'a.ini'}: crucible_seed = 1"]
    monkeypatch.setenv("CRUCIBLE_SEED", "2")
    values, outside = resolve_options(_given(tmp_path, ini=ini), [seed])
    assert values == {"crucible_seed": 2}
    assert outside == ["environment variable CRUCIBLE_SEED=2"]
    values, outside = resolve_options(_given(tmp_path, {"crucible_seed": "3"}, ini), [seed])
    assert (values, outside) == ({"crucible_seed": 3}, [])


def test_defaults_and_relative_paths_resolve_against_the_rootdir_or_the_ini_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for option in OPTIONS:
        monkeypatch.delenv(option.env, raising=False)
    values, outside = resolve_options(_given(tmp_path))
    assert values["crucible_store"] == str(tmp_path / ".crucible/crucible.db")
    assert values["crucible_set"] == [] and values["crucible_compare"] is None
    assert values["crucible"] is False and values["crucible_lease"] == 60.0
    assert outside == []
    ini_folder = tmp_path / "conf"
    given = _given(tmp_path, ini={"crucible_output": "out"}, inipath=ini_folder / "pytest.ini")
    values, _ = resolve_options(given, [option_named("crucible_output")])
    assert values == {"crucible_output": str(ini_folder / "out")}


def test_a_bad_value_names_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRUCIBLE_REPEATS", "zero")
    with pytest.raises(BadSetting, match="environment variable CRUCIBLE_REPEATS=zero: give an"):
        resolve_options(_given(tmp_path), [option_named("crucible_repeats")])
    refused = {"crucible": ValueError("not a bool")}
    given = _given(tmp_path, ini=refused, inipath=tmp_path / "tox.ini")
    monkeypatch.delenv("CRUCIBLE", raising=False)
    with pytest.raises(BadSetting, match=r"tox\.ini: crucible: not a bool; give true or false"):
        resolve_options(given, [option_named("crucible")])
