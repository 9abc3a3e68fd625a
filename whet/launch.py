"""``whet train --processes N``: run the same command data-parallel in N local processes.

torch.distributed's own launcher (``torchrun``) starts the processes; accelerate inside
each one picks up the rank and world size from the environment (gloo on CPUs, nccl on
GPUs). Each process gets an equal share of the CPU threads, so N processes on N cores do
not oversubscribe them.
"""

from __future__ import annotations

import os
import subprocess
import sys


def launch(arguments: list[str], processes: int) -> int:
    """Run ``python -m whet.cli ARGUMENTS`` in ``processes`` processes; return the exit code."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "whet.cli", *arguments]
    return subprocess.run(command, env=env).returncode


def is_distributed_child() -> bool:
    return "LOCAL_RANK" in os.environ
