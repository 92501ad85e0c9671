"""Page tabs are registered like every other extension (a name once; plugins through entry
points), and page handlers become Gradio handlers through one binding."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest

from embedscope.errors import RegistrationError, UsageError
from tests.ui.conftest import Built


def test_the_built_in_tabs_register_in_their_places() -> None:
    from embedscope.ui.tabs import TABS, page_tabs

    assert [t.name for t in page_tabs()][:3] == ["search", "explore", "report"]
    assert TABS.group == "embedscope.ui_tabs" and set(TABS.names()) >= {"search", "explore", "report"}
    with pytest.raises(RegistrationError, match="page tab 'explore' is already registered"):
        TABS.add("explore", TABS.get("explore"))
    with pytest.raises(RegistrationError, match="page tab name 'Not OK' is not valid"):
        TABS.add("Not OK", TABS.get("explore"))


@pytest.fixture
def notes_tab() -> Iterator[str]:
    """A tab registered by the test, between Search and Explore."""
    from embedscope.ui.tabs import TABS, TabContext, TabHandles, register_tab

    @register_tab("notes", place=15)
    def build(ctx: TabContext) -> TabHandles:
        import gradio as gr

        with gr.Tab("Notes", id="notes"):
            gr.Markdown("notes", elem_id="notes-text")
        return TabHandles()

    yield "notes"
    TABS.remove("notes")


def test_a_registered_tab_is_on_the_page_in_its_place(built: Built, session_on, notes_tab: str) -> None:
    from embedscope.ui.app import build_app
    from embedscope.ui.tabs import page_tabs, register_tab

    assert [t.name for t in page_tabs()][:4] == ["search", "notes", "explore", "report"]
    with pytest.raises(RegistrationError, match="already registered"):
        register_tab("notes")(lambda ctx: None)  # type: ignore[arg-type,return-value]
    config = build_app(session_on(built)).get_config_file()
    tabs = [c["props"].get("id") for c in config["components"] if c.get("type") == "tabitem"]
    assert tabs[:4] == ["search", "notes", "explore", "report"]


def test_bind_names_outputs_guards_errors_and_passes_event_data() -> None:
    import gradio as gr

    from embedscope.ui.binding import Selected, bind

    box, status = object(), object()
    components = {"box": box, "status": status}

    def picked(prefix: str, choice: str, evt: Selected) -> dict:
        if choice == "bad":
            raise UsageError("pick another one.")
        return {"box": f"{prefix}{choice}@{evt.index}"}

    handler = bind(picked, components, ">")
    assert list(inspect.signature(handler).parameters) == ["choice", "evt"]
    assert handler.__annotations__ == {"evt": gr.SelectData}  # Gradio passes its event data there
    event = type("Event", (), {"index": 3})()
    assert handler("a", event) == {box: ">a@3", status: ""}
    with pytest.warns(UserWarning):
        assert handler("bad", event) == {status: "⚠️ pick another one."}

    def counted(n: int) -> Iterator[dict]:
        for i in range(n):
            yield {"box": i}

    assert list(bind(counted, components)(2)) == [{box: 0}, {box: 1}]
    assert inspect.isgeneratorfunction(bind(counted, components))  # Gradio streams it
