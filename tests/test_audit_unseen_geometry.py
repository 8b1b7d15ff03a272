# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""``lrsa-predict --sample-volume`` on 2D walls the model's domain cannot hold (user audit, session 5).

Found on pitzDaily (simpleFoam, 2D): the training case's own ``upperWall``/``lowerWall``,
given as a new geometry, were sampled "outside" the channel, all 12,225 query points in
the step's solid, and predicted with only an open-ends warning. The 3D check of the body
against the training domain did not run in 2D. Here a tiny model of the synthetic 2D
cylinder cases is given walls like that, without OpenFOAM.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import vtk
from synthetic_cfd_cases import SPAN, write_vtk
from test_predict_hostile import cylinder_model  # noqa: F401  (a fixture: a tiny model of the 2D cylinder cases)

from modulus_lrsa.inference.predict import main


def _ring_wall(path: Path, radius: float, centre=(0.0, 0.0), segments: int = 48) -> Path:
    """A closed circle of ``radius`` as a one-cell-thick ribbon of quads, like an OpenFOAM 2D wall patch."""
    theta = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    points = vtk.vtkPoints()
    for z in (0.0, SPAN):
        for t in theta:
            points.InsertNextPoint(centre[0] + radius * np.cos(t), centre[1] + radius * np.sin(t), z)
    quads = vtk.vtkCellArray()
    for j in range(segments):
        k = (j + 1) % segments
        quads.InsertNextCell(4, [j, k, k + segments, j + segments])
    wall = vtk.vtkPolyData()
    wall.SetPoints(points)
    wall.SetPolys(quads)
    write_vtk(wall, path)
    return path


def test_walls_that_fill_a_2d_domain_are_refused_not_sampled_where_there_is_no_fluid(cylinder_model, tmp_path, capsys):
    model, *_ = cylinder_model
    # The training cells reach a radius of about 3: a circle of radius 3.2 encloses the domain, as a
    # channel's walls enclose its fluid. Before: sampled in the box's corners, outside it, and written.
    wall = _ring_wall(tmp_path / "channel_walls.vtp", radius=3.2)
    out = tmp_path / "out"
    assert main([str(model), str(wall), "--sample-volume", "--condition", "U=12", "--condition", "aoa_deg=-3",
                 "-o", str(out)]) == 1
    message = capsys.readouterr().err.strip().splitlines()
    assert len(message) == 1 and "the wall spans the whole training domain" in message[0]
    assert "no outside to sample" in message[0] and "predict on the case's mesh" in message[0]
    assert not out.exists()


def test_a_2d_wall_outside_the_domain_or_far_too_large_is_refused_in_one_line(cylinder_model, tmp_path, capsys):
    model, *_ = cylinder_model
    far = _ring_wall(tmp_path / "far.vtp", radius=0.5, centre=(100.0, 0.0))
    assert main([str(model), str(far), "--sample-volume", "--condition", "U=12", "--condition", "aoa_deg=-3",
                 "-o", str(tmp_path / "far_out")]) == 1
    message = capsys.readouterr().err
    assert "leaves the training domain" in message and "along x" in message
    # The cylinder in millimetres beside a domain in metres: refused, not sampled inside it.
    huge = _ring_wall(tmp_path / "huge.vtp", radius=500.0)
    assert main([str(model), str(huge), "--sample-volume", "--condition", "U=12", "--condition", "aoa_deg=-3",
                 "-o", str(tmp_path / "huge_out")]) == 1
    assert "too large for the model's domain" in capsys.readouterr().err
    assert not (tmp_path / "far_out").exists() and not (tmp_path / "huge_out").exists()


def test_a_2d_body_that_fits_the_domain_still_predicts(cylinder_model, tmp_path):
    model, *_ = cylinder_model
    wall = _ring_wall(tmp_path / "cylinder.vtp", radius=0.5)
    assert main([str(model), str(wall), "--sample-volume", "500", "--condition", "U=12", "--condition", "aoa_deg=-3",
                 "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "quantities.json").is_file()
