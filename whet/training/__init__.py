"""Training: the loop, checkpoints and the pieces that ``whet train``, ``whet continual`` and few-shot
training share."""
