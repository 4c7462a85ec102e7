"""Reading the Lua scripts: includes are pasted in, and no script is left with one unexpanded."""

from __future__ import annotations

from importlib import resources

from horus import scripts


def _names() -> list[str]:
    return [path.name.removesuffix(".lua") for path in resources.files("horus").joinpath("lua").iterdir()]


def test_an_include_is_replaced_by_the_named_script() -> None:
    text = scripts.source("wf_cancel")
    assert "--! include" not in text
    assert scripts.source("wf_lib") in text
    assert text.index("local function stop_open_steps") < text.index("stop_open_steps(KEYS[1]")


def test_no_script_keeps_an_include_line() -> None:
    for name in _names():
        assert "--! include" not in scripts.source(name), name
