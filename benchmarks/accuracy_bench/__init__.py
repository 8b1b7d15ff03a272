# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Test accuracy of LRSA vs PhysicsNeMo's Transolver and FLARE on Darcy and airfoil RANS, trained by lrsa-train.

Every run goes through the project's own trainer (:func:`run_training` with Hydra
overrides), so the numbers measure the product: the same AdamW (lr 1e-3, weight decay
1e-5), schedule (OneCycle on Darcy, warm-up + cosine on the airfoils), relative-L2 loss
on normalized targets, gradient clipping, batch size, epochs, data and seeds for every
model. Each run is a fresh child process,
so its peak memory and wall time are its own.

    .venv/bin/python benchmarks/accuracy.py --protocol reduced --jobs 2   # CPU, about an hour
    .venv/bin/python benchmarks/accuracy.py --protocol airfoil --jobs 2   # CPU: OpenFOAM data, then training
    .venv/bin/python benchmarks/accuracy.py --protocol paper              # GPU: Darcy 85x85, 500 epochs
    .venv/bin/python benchmarks/accuracy.py --protocol reduced --report --figures --update-docs

Protocols: ``reduced``, ``paper`` and ``paper-large`` on Darcy (every study); ``airfoil``
on OpenFOAM RANS cases made by ``lrsa-data airfoil`` (needs OpenFOAM: ``make openfoam``),
main comparison and timing only, with per-field errors for volume cells and wall faces
and the lift/drag errors integrated from the predicted surface fields. The test split
doubles as validation, as in the Darcy benchmark. ``airfoil-large`` is the same at the
1.2M-parameter class (width 128, head width 16), one seed. ``airfoil-heldout`` tunes LRSA
(and compares its ablations) without the test cases: part of the airfoil training cases
validate.

Confirmation protocols: every protocol on the seed-0 airfoil dataset (``airfoil``,
``airfoil-large``) has a twin ``<name>-seed<N>`` on the dataset ``lrsa-data airfoil --seed N``
draws (other flow parameters, another train/test split); ``-seed1`` is registered, and
``--protocol <name> --dataset-seed N`` names the twin on any seed. A twin runs the same
studies minus those that choose settings (``tuning``, ``latents``; ``airfoil-heldout`` has
no twin), with its own results file (``accuracy_<name>_seed<N>.json``) and outputs. Every
run, and the file (``dataset`` at the top), records the dataset's ``role`` (``selection``:
settings are chosen on it; ``confirmation``: never), ``generator_seed`` and ``path``; the
report names them in its first line.

Studies:

* ``main``: LRSA, Transolver (use_te=False), FLARE (and GeoTransolver on the airfoils) at matched parameter counts (within
  10%, asserted), fp32, every seed of the protocol.
* ``precision``: LRSA and Transolver in fp32, bf16 and fp16 (GradScaler), seed 0; a
  run that stops on NaN/Inf losses is recorded as diverged.
* ``latents``: LRSA's error against the number of latent tokens M.
* ``ablation``: the paper's ablations (:mod:`modulus_lrsa.models.ablations`): tied
  compression/reconstruction, and an MLP in place of the latent self-attention; all seeds.
* ``tuning``: LRSA under other settings (embedding frequencies, initial logit scale).
* ``loss`` (``ahmed-heldout``: 12 of the 48 Ahmed training bodies validate, the test bodies
  unused): LRSA with the force-consistency term (``training.loss.force_weight`` 1 and 4) and
  with the wall weighted by face area, against the plain loss, seed 0; the report adds each
  run's drag bias (mean predicted minus true Cd over the validation bodies).
* ``raw-targets``: the main models on physical-unit targets (``data.free_stream=null``),
  seed 0, to show what free-stream scaling buys.
* ``tuned``: LRSA with settings chosen by another protocol's ``tuning`` study (never on
  this protocol's test split), every seed, as an extra row of the main comparison.
* ``timing``: after the training runs, alone, the compared models take turns (one
  training epoch each per round) in one process, so machine-load changes hit them alike.
* ``wall-clock`` (``airfoil``, ``airfoil-large`` and their twins): every model gets the same
  training seconds instead of the same epochs. A fresh side-by-side timing plans it: the
  budget is the protocol's epochs of the fastest model, every other model trains the most
  whole epochs that fit, each run's schedule laid out over its own epochs. The runs are
  interleaved, taking turns in time slices, and resume after an interruption. Stored under
  ``wall_clock`` (``epoch_timing``, ``plan``, ``slices``, ``runs``: each run's errors with its
  ``train_seconds``); the report's equal wall-clock table gives each model's planned epochs,
  training seconds against the budget and errors against the best peer and Transolver.

Results are written to ``benchmarks/results/accuracy_<protocol>.json`` after every run;
runs already there are skipped, and an interrupted run resumes from the trainer's
checkpoints in ``outputs/benchmarks/accuracy/<protocol>/<run>/``. ``--report`` prints the
tables from that JSON without training; ``--figures`` draws ``docs/figures/accuracy_*.png``
and ``--update-docs`` rewrites the generated block of ``docs/benchmarks.md``. Runs with forces
store each test case's coefficients (``test_cases``); ``--backfill-cases`` adds them to runs
stored before, from each run's last checkpoint.

Reported per run: the test relative L2 per field after the last epoch (not the best
epoch: the test split is also the validation split, so picking the best would select on
the test set), the median training time per epoch (validation excluded), and peak
memory (``torch.cuda.max_memory_allocated`` on a GPU; on a CPU the rise of the resident
set's high-water mark over its level just before training).

Modules: :mod:`.protocols` (models, protocols, the runs of each study) on
:mod:`.datasets` (Darcy, airfoil, Ahmed, held-out view); :mod:`.configs` (a run's lrsa-train
config); :mod:`.child` (one run, or the side-by-side timing, in its own process);
:mod:`.runner` (data, parameter match, parallel runs); :mod:`.storage` (the results
JSON); :mod:`.summary`, :mod:`.tables`, :mod:`.figures` and :mod:`.docs` (the report);
:mod:`.cli` (the command line of ``benchmarks/accuracy.py``); :mod:`.paths`.
"""
