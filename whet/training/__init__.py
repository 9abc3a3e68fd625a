"""Training, shared by ``whet train``, ``whet continual`` and few-shot training.

``setup`` (task defaults, tokenizer and window length, the model, the method applied),
``batches`` (the sampler and the optimizer steps, counted once), ``fit`` (the loop with what
happens between its steps) over ``loop`` (the loop itself, a generator), ``optimizer`` (AdamW
and its schedule), ``evaluation`` (scoring a dev or test set), ``checkpoints``, ``progress``,
``interrupt`` (``STOP`` and Ctrl-C), ``gradient_checkpointing``, ``trackers`` (TensorBoard and
MLflow, as ``output.trackers`` lists), and ``finish`` (a run's reports and saved model).
"""
