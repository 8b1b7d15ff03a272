"""Airfoil RANS data: NACA 4-digit sections solved with OpenFOAM simpleFoam (Spalart-Allmaras)."""
