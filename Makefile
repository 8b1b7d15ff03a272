# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
# Both create the virtual environment they need.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
LEGACY_VENV ?= .venv-legacy
LEGACY_PY := $(LEGACY_VENV)/bin/python
# pytest -n is not used: the suite is sized for 2 cores run serially.
PYTEST_ARGS ?=

.PHONY: venv test lint test-legacy demo demo-darcy openfoam bench gpu-bundle clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff (from the dev extra): pycodestyle, pyflakes, import order, bugbear, pyupgrade; see pyproject.toml.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check modulus_lrsa tests benchmarks examples

# The legacy host (nvidia-modulus 0.9, `import modulus`) pins numpy<1.25, so it lives in a
# venv of its own: CPU torch 2.13.0 from local disk, modulus without its heavy extras.
$(LEGACY_VENV)/.installed: pyproject.toml
	test -x $(LEGACY_PY) || $(PYTHON) -m venv $(LEGACY_VENV)
	$(LEGACY_PY) -m pip install -q --upgrade pip
	$(LEGACY_PY) -m pip install -q torch==2.13.0 "numpy<1.25" pytest jaxtyping
	$(LEGACY_PY) -m pip install -q --no-deps nvidia-modulus==0.9.0
	$(LEGACY_PY) -m pip install -q importlib-metadata requests termcolor treelib fsspec s3fs tqdm
	$(LEGACY_PY) -m pip install -q --no-deps -e .
	touch $@

test-legacy: $(LEGACY_VENV)/.installed
	$(LEGACY_PY) -m pytest -p no:cacheprovider tests/legacy $(PYTEST_ARGS)

# The main job: OpenFOAM airfoils in, a trained LRSA surrogate and its predictions out.
demo: $(VENV)/.installed openfoam
	$(PY) -m modulus_lrsa.demos.airfoil

demo-darcy: $(VENV)/.installed
	$(PY) -m modulus_lrsa.demos.darcy

# The 3D job: OpenFOAM Ahmed bodies in, a trained surrogate, its predictions and a new STL's forces out (docs/demo_3d.md).
.PHONY: demo-3d
demo-3d: $(VENV)/.installed openfoam
	$(PY) -m modulus_lrsa.demos.ahmed

# OpenFOAM v1912 from Debian; only installed when simpleFoam is not already available.
openfoam:
	@if command -v simpleFoam >/dev/null 2>&1 || ls /usr/lib/openfoam/*/bin/simpleFoam >/dev/null 2>&1 || ls /usr/bin/simpleFoam >/dev/null 2>&1; then \
		echo "OpenFOAM already installed"; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "OpenFOAM is missing: run 'sudo apt-get update && sudo apt-get install -y openfoam openfoam-examples' (or put simpleFoam on PATH)"; exit 1; \
	else \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y openfoam openfoam-examples; \
	fi

bench: $(VENV)/.installed
	$(PY) benchmarks/throughput.py

# The wheels the offline GPU machine's image lacks (PhysicsNeMo, Warp, OmegaConf, ...), for its
# Python 3.12, packed into .gpu_bundle/partN folders that each fit one 64 MiB call beside the working
# tree; benchmarks/gpu/run.sh installs them there and runs the GPU checks (docs/gpu.md).
gpu-bundle: $(VENV)/.installed
	$(PY) benchmarks/gpu/bundle.py build

clean:
	rm -rf $(VENV) $(LEGACY_VENV) outputs build *.egg-info
