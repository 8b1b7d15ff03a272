# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Plot the surface pressure coefficient of an lrsa-predict airfoil result against the CFD.

    python examples/cfd/airfoil/plot_pressure_coefficient.py predictions/naca2412

Reads ``surface.vtp`` and ``quantities.json`` from the prediction folder and writes
``pressure_coefficient.png`` there: Cp = p / (0.5 U^2) (simpleFoam's kinematic pressure,
free-stream pressure 0) along the chord, upper and lower surfaces, predicted and (when
the case was solved) from OpenFOAM, with lift and drag coefficients in the title.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import vtk  # noqa: E402
from vtk.util.numpy_support import vtk_to_numpy  # noqa: E402


def read_surface(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Face centres (n, 3) and cell arrays of the predicted wall patch."""
    reader = vtk.vtkXMLPolyDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    surface = reader.GetOutput()
    if surface.GetNumberOfCells() == 0:
        raise SystemExit(f"{path}: no surface faces (was the model trained with surface fields?)")
    centres = vtk.vtkCellCenters()
    centres.SetInputData(surface)
    centres.Update()
    positions = vtk_to_numpy(centres.GetOutput().GetPoints().GetData())
    data = surface.GetCellData()
    arrays = {data.GetArrayName(i): vtk_to_numpy(data.GetArray(i)) for i in range(data.GetNumberOfArrays())}
    return positions, arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prediction", type=Path, help="output folder of lrsa-predict for one airfoil case")
    args = parser.parse_args(argv)
    positions, arrays = read_surface(args.prediction / "surface.vtp")
    quantities = json.loads((args.prediction / "quantities.json").read_text())
    if "Cp_predicted" not in arrays:
        raise SystemExit(f"{args.prediction}/surface.vtp has no Cp_predicted: the model was trained without forces")

    # One-cell-thick 2D meshes have each wall face once; order faces by chord position
    # on each side of the chord line (y above or below the line from nose to tail).
    x, y = positions[:, 0], positions[:, 1]
    nose, tail = positions[np.argmin(x)], positions[np.argmax(x)]
    chord_line_y = nose[1] + (x - nose[0]) * (tail[1] - nose[1]) / (tail[0] - nose[0])
    upper = y >= chord_line_y
    chord = tail[0] - nose[0]

    figure, axis = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    for side, name, line in ((upper, "upper", "-"), (~upper, "lower", "--")):
        order = np.argsort(x[side])
        station = (x[side][order] - nose[0]) / chord
        if "Cp" in arrays:
            axis.plot(station, arrays["Cp"][side][order], "k" + line, lw=1.2, label=f"OpenFOAM ({name})")
        axis.plot(station, arrays["Cp_predicted"][side][order], "o", ms=3, label=f"LRSA ({name})")
    axis.invert_yaxis()  # aerodynamic convention: suction up
    axis.set_xlabel("x / c")
    axis.set_ylabel("Cp")
    forces = quantities.get("forces", {})
    title = f"{quantities['case']}: Cl {forces['predicted']['Cl']:.3f}, Cd {forces['predicted']['Cd']:.4f} (LRSA)"
    if "from_cfd_fields" in forces:
        cfd = forces["from_cfd_fields"]
        title += f"\nOpenFOAM: Cl {cfd['Cl']:.3f}, Cd {cfd['Cd']:.4f}"
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    output = args.prediction / "pressure_coefficient.png"
    figure.savefig(output, dpi=110)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
