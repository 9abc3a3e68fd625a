"""``whet serve``: from command-line arguments to a running uvicorn server.

Everything a user can get wrong (config, model directories, key files, a taken port) is
checked here, before a model loads, and reported as one line.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
from pathlib import Path
from typing import Any

from whet.errors import ConfigError, ModelError
from whet.models.saved_model import read_info
from whet.serve.model_kinds import ModelKind, kind_of
from whet.serve.shared_bases import check_name
from whet.serve.settings import ServeConfig, load_serve_config

log = logging.getLogger("whet.serve")

# Command-line options -> config keys (None values are options not given).
OPTION_KEYS = {"host": "host", "port": "port", "api_keys": "auth.api_keys_file", "admin_keys": "auth.admin_keys_file",
               "adapter_dir": "adapter_dir", "max_batch_size": "batching.max_batch_size",
               "max_wait_ms": "batching.max_wait_ms", "timeout": "limits.timeout_s",
               "cors_origins": "cors_origins", "rate_limit": "rate_limit.requests_per_second", "precision": "precision"}


def model_specs(specs: list[str]) -> dict[str, str]:
    """``NAME=DIR`` or ``DIR`` -> {name: dir}; a bare DIR is named after itself, or after its run
    directory when it is a run's ``model/`` (``runs/intents/model`` serves as ``intents``)."""
    models: dict[str, str] = {}
    for spec in specs:
        name, sep, directory = spec.partition("=")
        if not sep:
            path = Path(spec).expanduser().resolve()
            name, directory = (path.parent.name if path.name == "model" else path.name), spec
        check_name(name)
        if name in models:
            raise ConfigError(f"two models are named {name!r}; name them with NAME=DIR")
        models[name] = str(Path(directory).expanduser().resolve())
    return models


def build_config(specs: list[str], config_path: Path | None, options: dict[str, Any], overrides: list[str],
                 kinds: tuple[ModelKind, ...] = ()) -> ServeConfig:
    """The serve config from a file, the options, ``--set`` overrides and the model arguments;
    a model directory of one of ``kinds`` is checked by its kind, any other must be a whet model."""
    for key in ("api_keys", "admin_keys", "adapter_dir"):
        if options.get(key) is not None:  # relative to where the command runs, not to the config file
            options[key] = str(Path(options[key]).expanduser().resolve())
    from_options = [f"{OPTION_KEYS[k]}={json.dumps(v)}" for k, v in options.items() if v is not None and k in OPTION_KEYS]
    if options.get("no_batching"):
        from_options.append("batching.enabled=false")
    config = load_serve_config(config_path, from_options + list(overrides))
    for name, directory in model_specs(specs).items():
        if name in config.models:
            raise ConfigError(f"model {name!r} is named both in the config and on the command line; rename one")
        config.models[name] = directory
    for name, directory in config.models.items():
        check_name(name)
        kind = kind_of(kinds, Path(directory))
        if kind is not None:
            kind.check(Path(directory))
        else:
            read_info(Path(directory))  # exists and is a whet model; the weights load once serving
    if not config.models and config.adapter_dir is None:
        raise ConfigError("nothing to serve: give model directories (whet serve runs/NAME/model) or --adapter-dir")
    if config.adapter_dir is not None and not Path(config.adapter_dir).is_dir():
        raise ModelError(f"adapter directory {config.adapter_dir} does not exist")
    return config


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ConfigError(f"cannot listen on {host}:{port} ({err.strerror}); choose another --port or --host") from None


def serve(config: ServeConfig, kinds: tuple[ModelKind, ...] = ()) -> None:
    """Run the server until SIGINT/SIGTERM; in-flight requests finish first."""
    import uvicorn

    from whet.serve.access_log import setup_json_logging
    from whet.serve.app import create_app
    from whet.serve.auth import load_keys

    keys = load_keys(config.auth.api_keys_file, config.auth.admin_keys_file)
    check_port_free(config.host, config.port)
    setup_json_logging(config.log_level)
    if not keys.api and config.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s without API keys: anyone who can reach it can use it", config.host)
    # torch's OpenMP threads busy-wait between operations by default, taking the cores the event
    # loop needs; read when torch loads, just below.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import whet.predict  # noqa: F401  torch and transformers load here, not in the first worker thread

    app = create_app(config, keys, kinds=kinds)
    server = uvicorn.Server(uvicorn.Config(
        app, host=config.host, port=config.port, log_config=None, access_log=False, server_header=False,
        # Long enough for a request admitted just before SIGTERM to finish.
        timeout_graceful_shutdown=math.ceil(config.limits.timeout_s) + 5))
    server.run()
