"""HTTP routes, one module per resource.

``ROUTERS`` is what the app includes. A new kind of endpoint (text generation for causal
LMs, say) is a new module here, with a batch queue of its own kind if it batches
differently (``ServerState.lane`` shows how one is started), plus one line below.
"""

from whet.serve.routes import admin, health, models, playground, predict

ROUTERS = [health.router, models.router, predict.router, admin.router, playground.router]
