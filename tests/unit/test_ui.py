"""The dashboard's pieces that need no server: event framing, the Workflows link's check, and the
page's files (tests/integration/test_dashboard*.py run them against real servers and a browser)."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from horus.errors import ConfigError
from horus.ui.routes import _STATIC, coordinator_link, sse


def test_an_event_is_its_fields_then_a_blank_line() -> None:
    assert sse("hello") == b"data: hello\n\n"
    assert sse("done", "end", "5-0") == b"event: end\nid: 5-0\ndata: done\n\n"


def test_line_breaks_in_data_become_data_lines() -> None:
    # A reader joins data lines with \n: the text arrives whole, and cannot forge an event.
    assert sse("a\r\nb\rc\nevent: end") == b"data: a\ndata: b\ndata: c\ndata: event: end\n\n"
    assert sse("") == b"data: \n\n"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "ftp://host/", "http://", "/relative"])
def test_the_workflows_link_must_be_http(url: str) -> None:
    with pytest.raises(ConfigError, match="--coordinator-url must be an http"):
        coordinator_link(url)


def test_the_workflows_link_is_optional() -> None:
    assert coordinator_link(None) is None and coordinator_link("") is None
    assert coordinator_link("https://coordinator.example:8090/ui/") == "https://coordinator.example:8090/ui/"


def test_the_page_loads_only_files_the_package_ships() -> None:
    static = resources.files("horus.ui") / "static"
    assert sorted(p.name for p in static.iterdir()) == sorted(_STATIC)
    page = (static / "index.html").read_text()
    assert set(re.findall(r'(?:src|href)="([^"#]+)"', page)) == {"static/app.js", "static/style.css"}


def test_the_script_never_writes_html() -> None:
    script = (resources.files("horus.ui") / "static" / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
