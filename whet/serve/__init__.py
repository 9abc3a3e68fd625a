"""``whet serve``: an HTTP service (FastAPI on uvicorn) for models saved by whet.

Layout, one job per module:
    run.py       command-line options -> checked config -> uvicorn
    settings.py  the serve config (YAML, validated)
    app.py       the app: middleware, routes, error answers, lifespan (models load after start)
    routes/      one module per resource: predict, models, health (+ metrics), admin, playground
    deps.py      route dependencies: state, API key / admin key checks, rate limit
    loaded_models.py  the served models: loading, shared LoRA bases, the blocking predict call
    shared_bases.py   adding a whet LoRA model directory to a shared base (safetensors only)
    batch_queue.py    dynamic batching: a queue, a worker coroutine and a worker thread per model or base
    inputs.py         request inputs turned into the task's examples once, checked against the limits
    auth.py, limits.py, prometheus.py, access_log.py   keys, limits, Prometheus metrics, JSON logs
"""
