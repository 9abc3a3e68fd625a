"""Continual learning: train one model on a sequence of experiences without forgetting the earlier
ones, and measure how much it forgets.

plan.py (the plan file), experiences.py (reading experiences, labels per scenario),
heads.py (growing and masking the head), models.py (the model of each step), memory.py
(the replay memory), strategies/ (one module per strategy), runner.py (``whet continual``),
metrics.py and report.py (the score matrix and what is computed from it).
"""
