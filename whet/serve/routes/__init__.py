"""HTTP routes, one module per resource.

``ROUTERS`` is what the app includes. A new kind of endpoint is a new module here, with a
batch queue of its own kind if it batches differently (``ServerState.generation_lane``
shows how one is started), plus one line below.
"""

from whet.serve.routes import admin, generate, health, models, playground, predict

ROUTERS = [health.router, models.router, predict.router, generate.router, admin.router, playground.router]
