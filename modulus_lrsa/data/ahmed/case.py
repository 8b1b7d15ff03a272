# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""OpenFOAM dictionaries of one Ahmed-body case: blockMesh, snappyHexMesh, simpleFoam (k-omega SST).

The domain is a box around the body (frame of :mod:`.geometry`: nose at x = 0, ground
at z = 0, symmetry plane y = 0), with the ground a no-slip wall (moving with the free
stream when ``moving_ground`` is set), a velocity inlet, a pressure outlet and slip walls
on the sides and the top. snappyHexMesh refines the body surface, a box around the body
and the gap under it, and a wake box behind it; prism layers are optional. simpleFoam
solves steady RANS with k-omega SST and wall functions; ``forceCoeffs`` gives Cd and Cl
on the frontal area ``width * height`` and the body length, ``forces`` the force and
moment vectors (side force and yaw moment, and the pressure and viscous parts).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from .geometry import AhmedBody

#: Kinematic viscosity of air at 20 degC and 1 atm (m^2/s).
NU_AIR = 1.5e-5
#: Patch names. The body patch is named after the STL geometry entry in snappyHexMeshDict.
BODY_PATCH = "body"
GROUND_PATCH = "ground"
INLET_PATCH, OUTLET_PATCH, SIDES_PATCH, TOP_PATCH = "inlet", "outlet", "sides", "top"
STL_NAME = f"{BODY_PATCH}.stl"


@dataclass(frozen=True)
class FlowCase:
    """One case: a body, its free-stream speed and the ground.

    Parameters
    ----------
    body : AhmedBody
    speed : float
        Free-stream (inlet) speed in m/s, > 0.
    nu : float
        Kinematic viscosity in m^2/s.
    moving_ground : bool
        The ground moves with the free stream (rolling road) instead of standing still
        (Ahmed's experiment and AhmedML have a fixed ground).
    """

    body: AhmedBody
    speed: float = 40.0
    nu: float = NU_AIR
    moving_ground: bool = False

    def __post_init__(self) -> None:
        for name in ("speed", "nu"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"FlowCase.{name} must be a positive number, got {value!r}")
            object.__setattr__(self, name, float(value))

    @property
    def reynolds(self) -> float:
        """Reynolds number on the body length."""
        return self.speed * self.body.length / self.nu

    def to_dict(self) -> dict:
        """The ``params`` block of ``case.json``: the body's parameters and the flow's."""
        return {**self.body.to_dict(), "U": self.speed, "nu": self.nu, "Re": self.reynolds,
                "moving_ground": self.moving_ground, "frontal_area": self.body.frontal_area}

    @classmethod
    def from_dict(cls, params: dict) -> FlowCase:
        return cls(AhmedBody.from_dict(params), params["U"], params["nu"], bool(params.get("moving_ground", False)))


@dataclass(frozen=True)
class Preset:
    """Mesh and iteration settings of one resolution.

    Parameters
    ----------
    name : str
    cells_per_length : float
        Background (blockMesh) cells per body length.
    surface_levels : (int, int)
        snappyHexMesh refinement levels on the body (min, max: the max where the surface
        curves by more than the feature angle, and on the feature edges).
    near_level, wake_level, gap_level : int
        Levels in the box around the body, in the wake box and in the gap between the
        underside and the ground.
    layers : int
        Prism layers on the body (0: none).
    max_iterations : int
        SIMPLE iterations; a multiple of ``check_interval``.
    average_window : int
        Last iterations over which Cd, Cl and the other coefficients are averaged.
    check_interval : int
        Iterations between the runner's checks (and field writes).
    settle_tolerance : float
        A case is ``ok`` when the means of Cd and Cl over the two halves of the window
        differ by less than this share of |Cd| (the averages have settled), ...
    oscillation_tolerance : float
        ... their standard deviations over the window are below this share of |Cd|
        (a steady RANS of a bluff body may keep oscillating about a settled mean:
        the mean is the result), ...
    residual_limit : float
        ... and the final initial residuals are below this bound.
    """

    name: str
    cells_per_length: float
    surface_levels: tuple[int, int]
    near_level: int
    wake_level: int
    gap_level: int
    layers: int
    max_iterations: int
    average_window: int
    check_interval: int = 50
    settle_tolerance: float = 0.02
    oscillation_tolerance: float = 0.1
    residual_limit: float = 0.05

    def to_dict(self) -> dict:
        return {**asdict(self), "surface_levels": list(self.surface_levels)}


PRESETS = {
    "coarse": Preset("coarse", cells_per_length=6, surface_levels=(3, 3), near_level=1, wake_level=2, gap_level=3,
                     layers=0, max_iterations=300, average_window=100),
    "medium": Preset("medium", cells_per_length=7, surface_levels=(4, 4), near_level=2, wake_level=3, gap_level=4,
                     layers=0, max_iterations=500, average_window=100),
}


@dataclass(frozen=True)
class DomainLayout:
    """Size of the box around the body, in body dimensions.

    Parameters
    ----------
    upstream, downstream : float
        Distance from the nose to the inlet and from the base to the outlet, in body lengths.
    side : float
        Distance from each side of the body to the side walls, in body widths.
    above : float
        Distance from the roof to the top wall, in body heights.
    """

    upstream: float = 2.0
    downstream: float = 4.0
    side: float = 3.0
    above: float = 4.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Domain:
    """The blockMesh box snapped to whole background cells, and its cell counts."""

    lower: tuple[float, float, float]
    upper: tuple[float, float, float]
    cells: tuple[int, int, int]
    spacing: float

    @classmethod
    def around(cls, body: AhmedBody, preset: Preset, layout: DomainLayout) -> Domain:
        h = body.length / preset.cells_per_length
        n_up = math.ceil(layout.upstream * body.length / h)
        n_x = n_up + math.ceil((1 + layout.downstream) * body.length / h)
        n_half = math.ceil((0.5 + layout.side) * body.width / h)
        n_z = math.ceil((body.clearance + (1 + layout.above) * body.height) / h)
        lower = (-n_up * h, -n_half * h, 0.0)
        return cls(lower, (lower[0] + n_x * h, n_half * h, n_z * h), (n_x, 2 * n_half, n_z), h)


_HEADER = "FoamFile {{ version 2.0; format ascii; class {cls}; object {obj}; }}\n\n"


def _vec(v) -> str:
    return "(" + " ".join(f"{x:.10g}" for x in v) + ")"


def block_mesh_dict(domain: Domain) -> str:
    (x0, y0, z0), (x1, y1, z1) = domain.lower, domain.upper
    corners = [(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0), (x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)]
    nx, ny, nz = domain.cells
    return _HEADER.format(cls="dictionary", obj="blockMeshDict") + f"""\
scale 1;
vertices
(
{chr(10).join("    " + _vec(c) for c in corners)}
);
blocks ( hex (0 1 2 3 4 5 6 7) ({nx} {ny} {nz}) simpleGrading (1 1 1) );
edges ();
boundary
(
    {INLET_PATCH} {{ type patch; faces ((0 4 7 3)); }}
    {OUTLET_PATCH} {{ type patch; faces ((1 2 6 5)); }}
    {GROUND_PATCH} {{ type wall; faces ((0 3 2 1)); }}
    {TOP_PATCH} {{ type patch; faces ((4 5 6 7)); }}
    {SIDES_PATCH} {{ type patch; faces ((0 1 5 4) (3 7 6 2)); }}
);
mergePatchPairs ();
"""


def surface_feature_extract_dict() -> str:
    # Edges whose faces meet at more than 30 degrees (the base, the sides, a steep slant)
    # are snapped to explicitly; the facets of the rounded front meet at 5.6 degrees.
    return _HEADER.format(cls="dictionary", obj="surfaceFeatureExtractDict") + f"""\
{STL_NAME}
{{
    extractionMethod    extractFromSurface;
    includedAngle       150;
    subsetFeatures {{ nonManifoldEdges no; openEdges yes; }}
    writeObj            no;
}}
"""


def _boxes(body: AhmedBody) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    """Refinement boxes: around the body, under it, and its wake."""
    L, W, H, c = body.length, body.width, body.height, body.clearance
    return {
        "nearBox": ((-0.25 * L, -0.5 * W - 0.4 * H, 0.0), (L + 0.75 * L, 0.5 * W + 0.4 * H, c + 1.5 * H)),
        "gapBox": ((-0.05 * L, -0.5 * W, 0.0), (1.05 * L, 0.5 * W, c)),
        "wakeBox": ((0.75 * L, -0.5 * W - 0.1 * H, 0.0), (L + 0.5 * L, 0.5 * W + 0.1 * H, c + 1.15 * H)),
    }


def snappy_hex_mesh_dict(body: AhmedBody, preset: Preset) -> str:
    boxes = _boxes(body)
    geometry = "\n".join(f"    {name} {{ type searchableBox; min {_vec(lo)}; max {_vec(hi)}; }}" for name, (lo, hi) in boxes.items())
    lo_level, hi_level = preset.surface_levels
    regions = {"nearBox": preset.near_level, "gapBox": preset.gap_level, "wakeBox": preset.wake_level}
    refinement = "\n".join(f"        {name} {{ mode inside; levels ((1e15 {level})); }}" for name, level in regions.items())
    # A point in the fluid, upstream of the nose, off every background cell face.
    inside = (-0.5 * body.length + 0.0123, 0.0137, body.clearance + 0.5 * body.height + 0.0071)
    return _HEADER.format(cls="dictionary", obj="snappyHexMeshDict") + f"""\
castellatedMesh true;
snap            true;
addLayers       {"true" if preset.layers else "false"};
geometry
{{
    {STL_NAME} {{ type triSurfaceMesh; name {BODY_PATCH}; }}
{geometry}
}}
castellatedMeshControls
{{
    maxLocalCells       2000000;
    maxGlobalCells      4000000;
    minRefinementCells  0;
    maxLoadUnbalance    0.10;
    nCellsBetweenLevels 3;
    features ( {{ file "{BODY_PATCH}.eMesh"; level {hi_level}; }} );
    refinementSurfaces
    {{
        {BODY_PATCH} {{ level ({lo_level} {hi_level}); patchInfo {{ type wall; }} }}
    }}
    resolveFeatureAngle 30;
    refinementRegions
    {{
{refinement}
    }}
    locationInMesh {_vec(inside)};
    allowFreeStandingZoneFaces true;
}}
snapControls
{{
    nSmoothPatch        3;
    tolerance           2.0;
    nSolveIter          50;
    nRelaxIter          5;
    nFeatureSnapIter    10;
    implicitFeatureSnap false;
    explicitFeatureSnap true;
    multiRegionFeatureSnap false;
}}
addLayersControls
{{
    relativeSizes       true;
    layers {{ {BODY_PATCH} {{ nSurfaceLayers {max(preset.layers, 1)}; }} }}
    expansionRatio      1.2;
    finalLayerThickness 0.5;
    minThickness        0.1;
    nGrow               0;
    featureAngle        60;
    slipFeatureAngle    30;
    nRelaxIter          3;
    nSmoothSurfaceNormals 1;
    nSmoothNormals      3;
    nSmoothThickness    10;
    maxFaceThicknessRatio 0.5;
    maxThicknessToMedialRatio 0.3;
    minMedialAxisAngle  90;
    nBufferCellsNoExtrude 0;
    nLayerIter          50;
}}
meshQualityControls
{{
    maxNonOrtho         65;
    maxBoundarySkewness 20;
    maxInternalSkewness 4;
    maxConcave          80;
    minVol              1e-13;
    minTetQuality       1e-15;
    minArea             -1;
    minTwist            0.02;
    minDeterminant      0.001;
    minFaceWeight       0.05;
    minVolRatio         0.01;
    minTriangleTwist    -1;
    nSmoothScale        4;
    errorReduction      0.75;
    relaxed {{ maxNonOrtho 75; }}
}}
mergeTolerance 1e-6;
"""


# --------------------------------------------------------------------------------------
# Flow
# --------------------------------------------------------------------------------------

#: Free-stream turbulence intensity and eddy-viscosity ratio (a low-turbulence wind tunnel).
TURBULENCE_INTENSITY = 0.005
VISCOSITY_RATIO = 10.0


def free_stream_turbulence(flow: FlowCase) -> tuple[float, float]:
    """Inlet k (m^2/s^2) and omega (1/s): k = 1.5 (I U)^2, omega = k / (ratio nu)."""
    k = 1.5 * (TURBULENCE_INTENSITY * flow.speed) ** 2
    return k, k / (VISCOSITY_RATIO * flow.nu)


def _field(obj: str, cls: str, dims: str, internal: str, patches: dict[str, str]) -> str:
    body = [_HEADER.format(cls=cls, obj=obj), f"dimensions {dims};", f"internalField {internal};", "boundaryField", "{"]
    body += [f"    {name} {{ {spec} }}" for name, spec in patches.items()]
    return "\n".join(body) + "\n}\n"


def initial_fields(flow: FlowCase) -> dict[str, str]:
    """``0/U``, ``0/p``, ``0/k``, ``0/omega`` and ``0/nut``."""
    u = f"uniform ({flow.speed:.10g} 0 0)"
    k, omega = free_stream_turbulence(flow)
    ground_u = f"type fixedValue; value {u};" if flow.moving_ground else "type noSlip;"
    slip = {SIDES_PATCH: "type slip;", TOP_PATCH: "type slip;"}

    def scalar(name: str, dims: str, value: float, wall: str) -> str:
        internal = f"uniform {value:.10g}"
        return _field(name, "volScalarField", dims, internal, {
            INLET_PATCH: f"type fixedValue; value {internal};",
            OUTLET_PATCH: f"type inletOutlet; inletValue {internal}; value {internal};",
            GROUND_PATCH: f"{wall} value {internal};", BODY_PATCH: f"{wall} value {internal};", **slip,
        })

    return {
        "U": _field("U", "volVectorField", "[0 1 -1 0 0 0 0]", u, {
            INLET_PATCH: f"type fixedValue; value {u};",
            OUTLET_PATCH: "type inletOutlet; inletValue uniform (0 0 0); value $internalField;",
            GROUND_PATCH: ground_u, BODY_PATCH: "type noSlip;", **slip,
        }),
        "p": _field("p", "volScalarField", "[0 2 -2 0 0 0 0]", "uniform 0", {
            INLET_PATCH: "type zeroGradient;", OUTLET_PATCH: "type fixedValue; value uniform 0;",
            GROUND_PATCH: "type zeroGradient;", BODY_PATCH: "type zeroGradient;", **slip,
        }),
        "k": scalar("k", "[0 2 -2 0 0 0 0]", k, "type kqRWallFunction;"),
        "omega": scalar("omega", "[0 0 -1 0 0 0 0]", omega, "type omegaWallFunction;"),
        "nut": _field("nut", "volScalarField", "[0 2 -1 0 0 0 0]", "uniform 0", {
            INLET_PATCH: "type calculated; value uniform 0;", OUTLET_PATCH: "type calculated; value uniform 0;",
            GROUND_PATCH: "type nutkWallFunction; value uniform 0;", BODY_PATCH: "type nutkWallFunction; value uniform 0;",
            SIDES_PATCH: "type calculated; value uniform 0;", TOP_PATCH: "type calculated; value uniform 0;",
        }),
    }


def centre_of_moments(body: AhmedBody) -> tuple[float, float, float]:
    """Where moments are taken: the middle of the body's bounding box."""
    return (0.5 * body.length, 0.0, body.clearance + 0.5 * body.height)


def control_dict(flow: FlowCase, preset: Preset) -> str:
    body = flow.body
    centre = _vec(centre_of_moments(body))
    return _HEADER.format(cls="dictionary", obj="controlDict") + f"""\
application     simpleFoam;
startFrom       startTime;
startTime       0;
stopAt          endTime;
endTime         {preset.max_iterations};
deltaT          1;
// The runner judges every checkpoint and deletes the ones it does not keep.
writeControl    timeStep;
writeInterval   {preset.check_interval};
purgeWrite      0;
writeFormat     binary;
writePrecision  8;
writeCompression off;
timeFormat      general;
timePrecision   8;
runTimeModifiable false;

functions
{{
    yPlus
    {{
        type            yPlus;
        libs            ("libfieldFunctionObjects.so");
        writeControl    writeTime;
        log             false;
    }}
    wallShearStress
    {{
        type            wallShearStress;
        libs            ("libfieldFunctionObjects.so");
        patches         ({BODY_PATCH});
        writeControl    writeTime;
        log             false;
    }}
    forceCoeffs
    {{
        type            forceCoeffs;
        libs            ("libforces.so");
        writeControl    timeStep;
        writeInterval   1;
        log             false;
        patches         ({BODY_PATCH});
        rho             rhoInf;
        rhoInf          1;
        liftDir         (0 0 1);
        dragDir         (1 0 0);
        CofR            {centre};
        pitchAxis       (0 1 0);
        magUInf         {flow.speed:.10g};
        lRef            {body.length:.10g};
        Aref            {body.frontal_area:.10g};
    }}
    forces
    {{
        type            forces;
        libs            ("libforces.so");
        writeControl    timeStep;
        writeInterval   1;
        log             false;
        patches         ({BODY_PATCH});
        rho             rhoInf;
        rhoInf          1;
        CofR            {centre};
    }}
    solverInfo
    {{
        type            solverInfo;
        libs            ("libutilityFunctionObjects.so");
        fields          (U p k omega);
        writeResidualFields no;
    }}
}}
"""


FV_SCHEMES = _HEADER.format(cls="dictionary", obj="fvSchemes") + """\
ddtSchemes { default steadyState; }
gradSchemes
{
    default         Gauss linear;
    // Limited velocity gradients keep linearUpwind bounded on the snapped cells.
    grad(U)         cellLimited Gauss linear 1;
}
divSchemes
{
    default         none;
    div(phi,U)      bounded Gauss linearUpwind grad(U);
    div(phi,k)      bounded Gauss upwind;
    div(phi,omega)  bounded Gauss upwind;
    div((nuEff*dev2(T(grad(U))))) Gauss linear;
}
laplacianSchemes { default Gauss linear limited corrected 0.5; }
interpolationSchemes { default linear; }
snGradSchemes { default limited corrected 0.5; }
wallDist { method meshWave; }
"""


FV_SOLUTION = _HEADER.format(cls="dictionary", obj="fvSolution") + """\
solvers
{
    p
    {
        solver          GAMG;
        smoother        GaussSeidel;
        tolerance       1e-7;
        relTol          0.05;
    }
    Phi { $p; }
    "(U|k|omega)"
    {
        solver          smoothSolver;
        smoother        GaussSeidel;
        nSweeps         1;
        tolerance       1e-8;
        relTol          0.1;
    }
}
SIMPLE
{
    consistent      yes;
    nNonOrthogonalCorrectors 0;
}
potentialFlow { nNonOrthogonalCorrectors 5; }
relaxationFactors
{
    equations { U 0.9; k 0.7; omega 0.7; }
}
"""


def transport_properties(flow: FlowCase) -> str:
    return _HEADER.format(cls="dictionary", obj="transportProperties") + f"transportModel Newtonian;\nnu {flow.nu:.8g};\n"


TURBULENCE_PROPERTIES = _HEADER.format(cls="dictionary", obj="turbulenceProperties") + """\
simulationType RAS;
RAS { RASModel kOmegaSST; turbulence on; printCoeffs off; }
"""


def write_case(case_dir: Path, flow: FlowCase, preset: Preset, layout: DomainLayout | None = None) -> Domain:
    """Write every dictionary of the case into ``case_dir`` (the STL is written by the runner)."""
    case_dir = Path(case_dir)
    domain = Domain.around(flow.body, preset, layout or DomainLayout())
    files = {
        "system/blockMeshDict": block_mesh_dict(domain),
        "system/surfaceFeatureExtractDict": surface_feature_extract_dict(),
        "system/snappyHexMeshDict": snappy_hex_mesh_dict(flow.body, preset),
        "system/controlDict": control_dict(flow, preset),
        "system/fvSchemes": FV_SCHEMES,
        "system/fvSolution": FV_SOLUTION,
        "constant/transportProperties": transport_properties(flow),
        "constant/turbulenceProperties": TURBULENCE_PROPERTIES,
    }
    files.update({f"0/{name}": text for name, text in initial_fields(flow).items()})
    for rel, text in files.items():
        path = case_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return domain
