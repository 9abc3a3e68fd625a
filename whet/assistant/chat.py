"""``whet assistant chat``: talk to the assistant in the terminal, each reply with its action and why."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape

from whet.assistant.assistant import Assistant, MessageError

QUIT = ("/quit", "/exit", "/q")


def chat(assistant: Assistant, *, session_id: str | None = None, explain: bool = True,
         read: Callable[[str], str] = input, console: Console | None = None) -> str:
    """Read messages until end of input or /quit; returns the session id (``--session`` resumes it)."""
    console = console or Console(highlight=False)
    session_id = session_id or uuid.uuid4().hex[:12]
    console.print(f"[dim]session {session_id} · /quit to leave[/dim]")
    console.print(f"[bold]assistant:[/bold] {escape(assistant.config.greeting)}")
    while True:
        try:
            text = read("you: ")
        except (EOFError, KeyboardInterrupt):
            break
        if text.strip() in QUIT:
            break
        if not text.strip():
            continue
        try:
            reply = assistant.reply(session_id, text)
        except MessageError as err:
            console.print(f"[red]{escape(str(err))}[/red]")
            continue
        console.print(f"[bold]assistant:[/bold] {escape(reply['reply'])}")
        if explain:
            intent = f" · {reply['intent']}" if reply["intent"] else ""
            console.print(f"  [dim]{reply['action']}{intent} · confidence {reply['confidence']:.2f} · "
                          f"{escape('; '.join(reply['why']))}[/dim]")
            for source in reply["sources"]:
                console.print(f"  [dim]source: {escape(source['source'])} ({source['score']:.2f})[/dim]")
    return session_id
