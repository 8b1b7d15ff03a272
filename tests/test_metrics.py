# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Validation errors: per-field relative L2 and the force coefficients over a family of cases."""

import numpy as np
import pytest
import torch

from modulus_lrsa.forces import ForceCoefficients
from modulus_lrsa.training.metrics import FieldErrorMeter, ForceErrorMeter


def test_field_error_meter_is_the_mean_over_samples_of_each_fields_relative_l2():
    target = torch.tensor([[[1.0, 2.0], [1.0, 2.0]], [[3.0, 0.0], [4.0, 0.0]]])
    prediction = target.clone()
    prediction[0, :, 0] = 2.0  # field a of sample 0: |1 - 2| everywhere, relative L2 1
    valid = torch.ones_like(target, dtype=torch.bool)
    valid[1, :, 1] = False  # field b is not defined in sample 1
    meter = FieldErrorMeter(["a", "b"], torch.device("cpu"))
    meter.update(prediction, target, valid)
    results = meter.results()
    assert results["rel_l2/a"] == pytest.approx(0.5)  # (1 + 0) / 2 samples
    assert results["rel_l2/b"] == pytest.approx(0.0)  # sample 0 only


def _meter(pairs):
    meter = ForceErrorMeter()
    for (cd_pred, cd_true), (cl_pred, cl_true) in pairs:
        meter.update(ForceCoefficients(lift=cl_pred, drag=cd_pred), ForceCoefficients(lift=cl_true, drag=cd_true))
    return meter


def test_force_errors_over_cases_match_hand_computed_values():
    cd = [(0.30, 0.32), (0.35, 0.34), (0.41, 0.40), (0.37, 0.45)]
    cl = [(0.10, 0.12), (0.05, 0.02), (-0.01, 0.0), (0.2, 0.2)]
    results = _meter(zip(cd, cl)).results("val/")
    predicted, true = np.array(cd).T
    assert results["val/Cd_abs_error"] == pytest.approx(np.abs(predicted - true).mean())
    assert results["val/Cd_rel_error"] == pytest.approx((np.abs(predicted - true) / true).mean())
    expected_r2 = 1 - ((predicted - true) ** 2).sum() / ((true - true.mean()) ** 2).sum()
    assert results["val/Cd_r2"] == pytest.approx(expected_r2)
    # Ranks of the predictions: 1 2 4 3 against the truth's 1 2 3 4.
    assert results["val/Cd_spearman"] == pytest.approx(1 - 6 * (0 + 0 + 1 + 1) / (4 * (16 - 1)))
    assert results["val/Cl_abs_error"] == pytest.approx(np.mean([0.02, 0.03, 0.01, 0.0]))
    assert "Cs_abs_error" not in {key.removeprefix("val/") for key in results}  # 2D: no side force


def test_force_errors_split_drag_in_3d_and_a_perfect_ranking_scores_one():
    meter = ForceErrorMeter()
    for k in range(5):
        true = ForceCoefficients(lift=0.1 * k, drag=0.3 + 0.01 * k, side=0.0, drag_pressure=0.25 + 0.01 * k,
                                 drag_viscous=0.05, reference_area=0.11)
        predicted = ForceCoefficients(lift=0.1 * k, drag=0.3 + 0.02 * k, side=0.001, drag_pressure=0.25 + 0.02 * k,
                                      drag_viscous=0.05, reference_area=0.11)
        meter.update(predicted, true)
    results = meter.results()
    assert results["Cd_spearman"] == pytest.approx(1.0)
    assert results["Cd_r2"] < 1.0  # monotone but twice the slope: ranked right, valued wrong
    assert results["Cs_abs_error"] == pytest.approx(0.001)
    assert results["Cd_pressure_abs_error"] == pytest.approx(results["Cd_abs_error"])
    assert results["Cd_viscous_abs_error"] == pytest.approx(0.0)
    assert "reference_area_abs_error" not in results


def test_force_correlations_need_three_cases_that_differ():
    assert "Cd_r2" not in _meter([((0.3, 0.31), (0.1, 0.1)), ((0.4, 0.42), (0.1, 0.1))]).results()
    same = _meter([((0.3, 0.31), (0.1, 0.1))] * 4).results()
    assert "Cd_r2" not in same and "Cd_spearman" not in same
    assert same["Cd_abs_error"] == pytest.approx(0.01)
    assert ForceErrorMeter().results() == {}


def test_each_cases_coefficients_are_kept_by_case_id_in_case_order():
    meter = ForceErrorMeter()
    for case_id, cd in (("case_2", 0.30), ("case_0", 0.35), ("case_1", 0.33)):
        meter.update(ForceCoefficients(lift=0.1, drag=cd + 0.01), ForceCoefficients(lift=0.12, drag=cd), case_id=case_id)
    cases = meter.per_case()
    assert [case["case_id"] for case in cases] == ["case_0", "case_1", "case_2"]
    assert cases[0]["true"]["Cd"] == pytest.approx(0.35) and cases[0]["predicted"]["Cd"] == pytest.approx(0.36)
    assert cases[2]["predicted"]["Cl"] == pytest.approx(0.1)
