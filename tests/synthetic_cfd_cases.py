# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Tiny synthetic CFD cases laid out like the OpenFOAM airfoil data, for training and prediction tests.

A case is a one-cell-thick polar mesh around a cylinder (so the datapipes treat it as
2D): ``internal.vtu`` with hexahedra carrying cell fields U (3 components), p and nut,
``wall.vtp`` with the wall quads carrying p and wallShearStress (3 components), and a
``case.json`` with the free stream (``U``, ``aoa_deg``), the file names and, for solved
cases, ``results``. Fields follow potential flow so that cases differ smoothly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import vtk
from vtk.util.numpy_support import numpy_to_vtk

N_THETA, N_RADIAL, SPAN, CYLINDER_RADIUS = 16, 3, 0.1, 0.5


def add_cell_array(dataset, name, values):
    array = numpy_to_vtk(np.ascontiguousarray(values, dtype=np.float32), deep=True)
    array.SetName(name)
    dataset.GetCellData().AddArray(array)


def write_vtk(dataset, path):
    writer = vtk.vtkXMLUnstructuredGridWriter() if path.suffix == ".vtu" else vtk.vtkXMLPolyDataWriter()
    writer.SetFileName(str(path))
    writer.SetInputData(dataset)
    assert writer.Write() == 1


def cylinder_case(folder: Path, speed: float, aoa_deg: float, with_results: bool = True) -> None:
    """A one-cell-thick polar mesh around a cylinder, laid out like the OpenFOAM airfoil cases.

    ``internal.vtu`` holds hexahedra with cell fields U (3), p and nut; ``wall.vtp`` the
    quads of the cylinder wall with p and wallShearStress (3). Fields follow potential
    flow at the case's free stream so that cases differ smoothly.
    """
    folder.mkdir(parents=True)
    theta = np.linspace(0.0, 2 * np.pi, N_THETA, endpoint=False)
    radii = CYLINDER_RADIUS * 2.0 ** np.arange(N_RADIAL + 1)
    ring = [(r * np.cos(t), r * np.sin(t)) for r in radii for t in theta]
    points = vtk.vtkPoints()
    for z in (0.0, SPAN):
        for x, y in ring:
            points.InsertNextPoint(x, y, z)
    offset = len(ring)
    grid = vtk.vtkUnstructuredGrid()
    grid.SetPoints(points)
    centres = []
    for i in range(N_RADIAL):
        for j in range(N_THETA):
            a, b = i * N_THETA + j, i * N_THETA + (j + 1) % N_THETA
            c, d = b + N_THETA, a + N_THETA
            ids = [a, b, c, d, a + offset, b + offset, c + offset, d + offset]
            grid.InsertNextCell(vtk.VTK_HEXAHEDRON, 8, ids)
            centres.append(np.mean([ring[k] for k in (a, b, c, d)], axis=0))
    centres = np.asarray(centres)
    angle = np.radians(aoa_deg)
    free_stream = speed * np.array([np.cos(angle), np.sin(angle)])
    radius2 = (centres**2).sum(1)
    velocity = free_stream * (1 - CYLINDER_RADIUS**2 / radius2)[:, None]
    if with_results:
        add_cell_array(grid, "U", np.concatenate([velocity, np.zeros((len(centres), 1))], axis=1))
        add_cell_array(grid, "p", 0.5 * (speed**2 - (velocity**2).sum(1)))
        add_cell_array(grid, "nut", 1e-5 * (1 + radius2))
    write_vtk(grid, folder / "internal.vtu")

    wall = vtk.vtkPolyData()
    wall_points = vtk.vtkPoints()
    for z in (0.0, SPAN):
        for t in theta:
            wall_points.InsertNextPoint(CYLINDER_RADIUS * np.cos(t), CYLINDER_RADIUS * np.sin(t), z)
    quads = vtk.vtkCellArray()
    for j in range(N_THETA):
        k = (j + 1) % N_THETA
        quads.InsertNextCell(4, [j, k, k + N_THETA, j + N_THETA])
    wall.SetPoints(wall_points)
    wall.SetPolys(quads)
    mid = theta + np.pi / N_THETA
    if with_results:
        tangential = 2 * speed * np.sin(mid - angle)
        add_cell_array(wall, "p", 0.5 * (speed**2 - tangential**2))
        shear = 1e-3 * speed * np.stack([-np.sin(mid), np.cos(mid), np.zeros(N_THETA)], axis=1)
        add_cell_array(wall, "wallShearStress", shear)
    write_vtk(wall, folder / "wall.vtp")
    case = {"params": {"U": speed, "aoa_deg": aoa_deg}, "files": {"volume": "internal.vtu", "surface": "wall.vtp"}}
    if with_results:
        case["results"] = {"Cl": 0.0, "Cd": 0.0}
    (folder / "case.json").write_text(json.dumps(case))


def cylinder_dataset(root: Path, n_cases: int = 6, n_test: int = 2) -> Path:
    """``n_cases`` solved cases under ``root/cases`` with a manifest; the last ``n_test`` are the test split."""
    cases = []
    for index in range(n_cases):
        case_id = f"case_{index:04d}"
        cylinder_case(root / "cases" / case_id, speed=10.0 + 2 * index, aoa_deg=-4.0 + 2.0 * index)
        cases.append({"id": case_id, "status": "ok", "split": "test" if index >= n_cases - n_test else "train"})
    (root / "manifest.json").write_text(json.dumps({"cases": cases}))
    return root
