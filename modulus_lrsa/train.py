# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""``python -m modulus_lrsa.train``: the same as ``lrsa-train`` (and what torchrun launches).

    torchrun --nproc_per_node=2 -m modulus_lrsa.train data=darcy training.batch_size=8
"""

from modulus_lrsa.training.train import main

if __name__ == "__main__":
    main()
