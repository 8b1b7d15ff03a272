# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""OpenFOAM case files for steady incompressible RANS (simpleFoam, Spalart-Allmaras).

The mesh stays fixed with the chord along x; the angle of attack rotates the free-stream
velocity. Lift and drag are measured normal and parallel to that free stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .mesh import AIRFOIL_PATCH, EMPTY_PATCH, FARFIELD_PATCH, DomainLayout, MeshResolution, block_mesh_dict
from .naca import NacaSection

#: Kinematic viscosity of air at 20 degC and 1 atm (m^2/s).
NU_AIR = 1.5e-5
#: Free-stream SA working variable nuTilda / nu; 3 is the usual fully turbulent value.
NU_TILDA_RATIO = 3.0


@dataclass(frozen=True)
class FlowCase:
    """One airfoil flow: section, angle of attack and free-stream speed.

    Parameters
    ----------
    section : NacaSection
        Airfoil geometry (chord 1 m).
    aoa_deg : float
        Angle of attack in degrees, positive nose up (free stream turned towards +y).
    speed : float
        Free-stream speed in m/s.
    nu : float
        Kinematic viscosity in m^2/s.
    """

    section: NacaSection
    aoa_deg: float
    speed: float
    nu: float = NU_AIR

    def __post_init__(self) -> None:
        if not -30.0 <= self.aoa_deg <= 30.0:
            raise ValueError(f"angle of attack {self.aoa_deg} deg is outside [-30, 30] deg")
        if not self.speed > 0.0:
            raise ValueError(f"free-stream speed must be positive, got {self.speed} m/s")
        if not self.nu > 0.0:
            raise ValueError(f"kinematic viscosity must be positive, got {self.nu} m^2/s")

    @property
    def reynolds(self) -> float:
        """Chord Reynolds number U c / nu with c = 1 m."""
        return self.speed / self.nu

    @property
    def velocity(self) -> tuple[float, float]:
        a = math.radians(self.aoa_deg)
        return self.speed * math.cos(a), self.speed * math.sin(a)

    @property
    def lift_direction(self) -> tuple[float, float]:
        a = math.radians(self.aoa_deg)
        return -math.sin(a), math.cos(a)

    @property
    def drag_direction(self) -> tuple[float, float]:
        a = math.radians(self.aoa_deg)
        return math.cos(a), math.sin(a)

    def to_dict(self) -> dict:
        """The ``params`` block of ``case.json``."""
        return {
            "naca": self.section.code,
            "m": self.section.m,
            "p": self.section.p,
            "t": self.section.t,
            "aoa_deg": self.aoa_deg,
            "U": self.speed,
            "nu": self.nu,
            "Re": self.reynolds,
        }

    @classmethod
    def from_dict(cls, params: dict) -> FlowCase:
        return cls(
            section=NacaSection(m=params["m"], p=params["p"], t=params["t"]),
            aoa_deg=params["aoa_deg"],
            speed=params["U"],
            nu=params["nu"],
        )


@dataclass(frozen=True)
class SolverControls:
    """Iteration limits and convergence targets of the steady solve.

    simpleFoam writes its fields every ``check_interval`` iterations, and the runner
    judges the solve at each of these checkpoints in turn: the first one at which every
    initial residual (p, Ux, Uy, nuTilda) is below ``converged_residual`` and Cl and Cd
    have varied over the last ``coefficient_window`` iterations by less than
    ``coefficient_tolerance``, relative to max(|Cl|, 0.1) and to |Cd|, is the result.
    Because the stop is decided at fixed iterations, the same case always stops at the
    same iteration with the same fields. A solve without such a checkpoint up to
    ``max_iterations`` is recorded as unconverged.

    Parameters
    ----------
    max_iterations : int
        SIMPLE iterations before the solve stops; a multiple of ``check_interval``.
    converged_residual : float
        Bound on the last initial residuals.
    coefficient_window : int
        Iterations over which Cl and Cd must have settled (also the minimum run length).
    coefficient_tolerance : float
        Bound on the relative range of Cl and Cd over the window.
    check_interval : int
        Iterations between checkpoints (field writes and convergence checks).
    """

    max_iterations: int = 2000
    converged_residual: float = 1e-3
    coefficient_window: int = 100
    coefficient_tolerance: float = 2e-3
    check_interval: int = 10

    def __post_init__(self) -> None:
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {self.max_iterations}")
        if self.check_interval < 1:
            raise ValueError(f"check_interval must be >= 1, got {self.check_interval}")
        if self.max_iterations % self.check_interval:
            raise ValueError(
                f"max_iterations={self.max_iterations} must be a multiple of the {self.check_interval}-iteration "
                "check interval, so that the last iteration is a checkpoint whose fields are written"
            )
        if self.coefficient_window < 2:
            raise ValueError(f"coefficient_window must be >= 2, got {self.coefficient_window}")
        if self.max_iterations < self.coefficient_window:
            raise ValueError(
                f"max_iterations={self.max_iterations} is below the {self.coefficient_window}-iteration "
                "window over which Cl and Cd must settle, so no case could converge"
            )
        for name in ("converged_residual", "coefficient_tolerance"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


_HEADER = "FoamFile {{ version 2.0; format ascii; class {cls}; object {obj}; }}\n\n"


def _vec(x: float, y: float) -> str:
    return f"({x:.12g} {y:.12g} 0)"


def _field(obj: str, cls: str, dims: str, internal: str, patches: dict[str, str]) -> str:
    body = [_HEADER.format(cls=cls, obj=obj), f"dimensions {dims};\n", f"internalField {internal};\n", "boundaryField\n{"]
    for name, spec in patches.items():
        body.append(f"    {name} {{ {spec} }}")
    body.append(f"    {EMPTY_PATCH} {{ type empty; }}\n}}\n")
    return "\n".join(body)


def initial_fields(flow: FlowCase) -> dict[str, str]:
    """Contents of ``0/U``, ``0/p``, ``0/nuTilda`` and ``0/nut``.

    The far field uses the free-stream conditions, which switch between inflow
    (fixed value) and outflow (zero gradient) face by face from the sign of the flux.
    """
    u = _vec(*flow.velocity)
    nu_tilda = NU_TILDA_RATIO * flow.nu
    return {
        "U": _field(
            "U", "volVectorField", "[0 1 -1 0 0 0 0]", f"uniform {u}",
            {FARFIELD_PATCH: f"type freestreamVelocity; freestreamValue uniform {u}; value uniform {u};",
             AIRFOIL_PATCH: "type noSlip;"},
        ),
        "p": _field(
            "p", "volScalarField", "[0 2 -2 0 0 0 0]", "uniform 0",
            {FARFIELD_PATCH: "type freestreamPressure; freestreamValue uniform 0; value uniform 0;",
             AIRFOIL_PATCH: "type zeroGradient;"},
        ),
        "nuTilda": _field(
            "nuTilda", "volScalarField", "[0 2 -1 0 0 0 0]", f"uniform {nu_tilda:.8g}",
            {FARFIELD_PATCH: f"type freestream; freestreamValue uniform {nu_tilda:.8g}; value uniform {nu_tilda:.8g};",
             AIRFOIL_PATCH: "type fixedValue; value uniform 0;"},
        ),
        "nut": _field(
            "nut", "volScalarField", "[0 2 -1 0 0 0 0]", "uniform 0",
            {FARFIELD_PATCH: "type calculated; value uniform 0;",
             # Spalding's law spans the viscous sublayer and the log layer, so one wall
             # treatment serves every resolution (first-cell y+ from ~1 to ~100).
             AIRFOIL_PATCH: "type nutUSpaldingWallFunction; value uniform 0;"},
        ),
    }


def control_dict(flow: FlowCase, controls: SolverControls, layout: DomainLayout) -> str:
    lift, drag = flow.lift_direction, flow.drag_direction
    return _HEADER.format(cls="dictionary", obj="controlDict") + f"""\
application     simpleFoam;
startFrom       startTime;
startTime       0;
stopAt          endTime;
endTime         {controls.max_iterations};
deltaT          1;
// Every checkpoint is written: the runner keeps the first converged one (or the last)
// and deletes the others once judged.
writeControl    timeStep;
writeInterval   {controls.check_interval};
purgeWrite      0;
writeFormat     binary;
writePrecision  8;
writeCompression off;
timeFormat      general;
timePrecision   8;
runTimeModifiable false;

// Function objects run in this order after the fields of an iteration are written, so
// a solverInfo row for a checkpoint means all of that checkpoint is on disk.
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
        patches         ({AIRFOIL_PATCH});
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
        patches         ({AIRFOIL_PATCH});
        rho             rhoInf;
        rhoInf          1;
        liftDir         {_vec(*lift)};
        dragDir         {_vec(*drag)};
        CofR            (0.25 0 0);
        pitchAxis       (0 0 1);
        magUInf         {flow.speed:.12g};
        lRef            1;
        Aref            {layout.span:.12g};
    }}
    solverInfo
    {{
        type            solverInfo;
        libs            ("libutilityFunctionObjects.so");
        fields          (U p nuTilda);
        writeResidualFields no;
    }}
}}
"""


FV_SCHEMES = _HEADER.format(cls="dictionary", obj="fvSchemes") + """\
ddtSchemes { default steadyState; }
// Gradient limiters and a second-order nuTilda convection both lock the SIMPLE
// residuals into a limit cycle at ~1e-3 on these meshes; with these choices they fall
// below 1e-5 while Cd moves by less than 0.2 %.
gradSchemes { default Gauss linear; }
divSchemes
{
    default         none;
    div(phi,U)      bounded Gauss linearUpwind grad(U);
    div(phi,nuTilda) bounded Gauss upwind;
    div((nuEff*dev2(T(grad(U))))) Gauss linear;
}
laplacianSchemes { default Gauss linear corrected; }
interpolationSchemes { default linear; }
snGradSchemes { default corrected; }
wallDist { method meshWave; }
"""


FV_SOLUTION = _HEADER.format(cls="dictionary", obj="fvSolution") + """\
solvers
{
    p
    {
        solver          GAMG;
        smoother        GaussSeidel;
        tolerance       1e-9;
        relTol          0.05;
    }
    "(U|nuTilda)"
    {
        solver          smoothSolver;
        smoother        symGaussSeidel;
        tolerance       1e-10;
        relTol          0.1;
    }
}
SIMPLE
{
    // SIMPLEC: allows much lighter under-relaxation than plain SIMPLE.
    consistent      yes;
    nNonOrthogonalCorrectors 0;
}
relaxationFactors
{
    equations { U 0.7; nuTilda 0.7; }
}
"""


def transport_properties(flow: FlowCase) -> str:
    return _HEADER.format(cls="dictionary", obj="transportProperties") + (
        f"transportModel Newtonian;\nnu {flow.nu:.8g};\n"
    )


TURBULENCE_PROPERTIES = _HEADER.format(cls="dictionary", obj="turbulenceProperties") + """\
simulationType RAS;
RAS { RASModel SpalartAllmaras; turbulence on; printCoeffs off; }
"""


def write_case(
    case_dir: Path,
    flow: FlowCase,
    resolution: MeshResolution,
    controls: SolverControls,
    layout: DomainLayout = DomainLayout(),
) -> None:
    """Write every dictionary an OpenFOAM run of ``flow`` needs into ``case_dir``."""
    case_dir = Path(case_dir)
    files = {
        "system/blockMeshDict": block_mesh_dict(flow.section, resolution, layout),
        "system/controlDict": control_dict(flow, controls, layout),
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
