"""HTTP routes, one module per resource.

``ROUTERS`` is what the app includes. A new kind of endpoint (text generation for causal
LMs, say) is a new module here that submits to the same batch queues, plus one line below.
"""

from whet.serve.routes import admin, health, models, playground, predict

ROUTERS = [health.router, models.router, predict.router, admin.router, playground.router]
