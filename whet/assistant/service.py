"""Building a running assistant from its config: ``whet assistant serve`` and ``chat``."""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

from whet.assistant.assistant import Assistant, load_models
from whet.assistant.checks import assistant_problems
from whet.assistant.settings import AssistantConfig, load_assistant_config
from whet.assistant.store import ConversationStore
from whet.config import check_problems

log = logging.getLogger("whet.assistant")


def checked_config(path: Path, overrides: list[str] | None = None) -> AssistantConfig:
    """The config, once it and every file it names are free of problems (all reported at once)."""
    check_problems(path, assistant_problems(path, overrides))
    return load_assistant_config(path, overrides)


@contextlib.contextmanager
def running_assistant(config: AssistantConfig) -> Iterator[Assistant]:
    """An assistant with its database open and, with a webhook, ticket delivery running."""
    from whet.assistant.handoff import ticket_delivery

    # The database first: a locked or read-only file is reported before the models load.
    store = ConversationStore(config.conversations.database)
    delivery = None
    try:
        models = load_models(config)
        handoff = config.handoff
        if handoff.webhook is not None:
            delivery = ticket_delivery(store, handoff.webhook, max_attempts=handoff.max_attempts,
                                       backoff_s=handoff.backoff_seconds, timeout_s=handoff.timeout_seconds).start()
        yield Assistant(config, models, store, on_ticket=delivery.wake if delivery else None)
    finally:
        if delivery is not None:
            delivery.stop()
        store.close()


def serve(config: AssistantConfig) -> None:
    """Run the assistant's HTTP service until SIGINT/SIGTERM."""
    import uvicorn

    from whet.assistant.routes import Replies, router
    from whet.serve.access_log import setup_json_logging
    from whet.serve.app import create_app
    from whet.serve.auth import load_keys
    from whet.serve.run import check_port_free
    from whet.serve.settings import ServeConfig

    server = config.server
    serve_config = ServeConfig(host=server.host, port=server.port, auth=server.auth, rate_limit=server.rate_limit,
                               access_log=server.access_log)
    # A message over the size limit gets the assistant's own 413, which names the setting.
    serve_config.limits.max_body_bytes = max(serve_config.limits.max_body_bytes,
                                             8 * config.conversations.max_message_chars + 4096)
    keys = load_keys(server.auth.api_keys_file, server.auth.admin_keys_file)
    check_port_free(server.host, server.port)
    setup_json_logging("info")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see whet.serve.run.serve
    with running_assistant(config) as assistant:
        app = create_app(serve_config, keys, routers=(router,), title="whet assistant")
        app.state.assistant = assistant
        app.state.assistant_replies = Replies(app.state.whet.metrics.registry)
        log.info("assistant ready: chat page at http://%s:%d/chat", server.host, server.port)
        uvicorn.Server(uvicorn.Config(app, host=server.host, port=server.port, log_config=None, access_log=False,
                                      server_header=False,
                                      timeout_graceful_shutdown=math.ceil(serve_config.limits.timeout_s) + 5)).run()
