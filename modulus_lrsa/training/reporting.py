# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""How ``lrsa-train`` ends on the command line: launch errors, Ctrl-C and SIGTERM as one message and an exit status.

Errors the user can act on (config, data, a folder in use, a checkpoint of another run)
print as one line without a traceback, on rank 0 only; an interrupt prints how to
resume. ``HYDRA_FULL_ERROR=1`` lets the exception through, traceback and all.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig

from modulus_lrsa.distributed import launch_rank
from modulus_lrsa.errors import LaunchError, MeshDataError
from modulus_lrsa.training.checkpoint import newest_saved_epoch
from modulus_lrsa.training.data import in_config_terms
from modulus_lrsa.training.resume import CHECKPOINTS_NAME

#: Errors whose message says all a user needs: printed without a traceback.
REPORTED_ERRORS = (LaunchError, MeshDataError)


def _print_on_rank_zero(message: str) -> None:
    # Every rank raises the same launch errors (checks, lock and resume are collective),
    # so one copy of the message is enough.
    if launch_rank() == 0:
        print(message, file=sys.stderr, flush=True)


def _resume_hint(output_dir: Path) -> str:
    epoch = newest_saved_epoch(output_dir / CHECKPOINTS_NAME)
    if epoch is None:
        return "lrsa-train: interrupted before the first checkpoint; launching the same command again starts over"
    return (
        f"lrsa-train: interrupted; launch the same command again to resume from the checkpoint of epoch "
        f"{epoch} in {output_dir / CHECKPOINTS_NAME}"
    )


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a scheduler's preemption or time limit), handled like Ctrl-C."""


@contextmanager
def reported_errors(cfg: DictConfig) -> Iterator[None]:
    """Turn launch errors, Ctrl-C and SIGTERM into one message on stderr and an exit status.

    Exit status 1 after an error, 130 after Ctrl-C, 143 after SIGTERM (which the run's
    handler raises as :class:`Terminated`). ``HYDRA_FULL_ERROR=1`` lets the exception
    through instead, traceback and all (Hydra's own switch for the same thing).
    """
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        yield
        return
    try:
        yield
    except REPORTED_ERRORS as error:
        _print_on_rank_zero(f"lrsa-train: error: {in_config_terms(str(error))}")
        sys.exit(1)
    except KeyboardInterrupt as interrupt:
        _print_on_rank_zero(_resume_hint(Path(str(cfg.output_dir))))
        sys.exit(128 + signal.SIGTERM if isinstance(interrupt, Terminated) else 130)
