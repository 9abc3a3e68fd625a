"""Continual-learning strategies: each module is one strategy, a plain object with the hooks
of :class:`whet.continual.strategies.base.Strategy` it needs.

A module exposes ``build(plan) -> strategy``, which takes its settings from the plan. A plan
joins names with '+' to combine strategies.
"""

from whet.registry import Registry

STRATEGIES = Registry("strategy")
STRATEGIES.register("naive", "whet.continual.strategies.naive:build")
STRATEGIES.register("joint", "whet.continual.strategies.joint:build")
STRATEGIES.register("replay", "whet.continual.strategies.replay:build")
STRATEGIES.register("ewc", "whet.continual.strategies.ewc:build")
STRATEGIES.register("lwf", "whet.continual.strategies.lwf:build")
STRATEGIES.register("adapters", "whet.continual.strategies.per_task_adapters:build")
