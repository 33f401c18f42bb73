"""Physical constants (CODATA 2018, exact SI values) and named numerical guards.

Every model reads its constants from here; no bare physical literal appears elsewhere.
"""

from __future__ import annotations

import math
import sys

#: Boltzmann constant [J/K] (exact, SI 2019).
K_B_J_PER_K = 1.380649e-23
#: Elementary charge [C] (exact, SI 2019).
Q_E_C = 1.602176634e-19
#: Boltzmann constant in electron-volts per kelvin [eV/K].
K_B_EV_PER_K = K_B_J_PER_K / Q_E_C
#: Vacuum permittivity [F/m] (CODATA 2018).
EPS0_F_PER_M = 8.8541878128e-12
#: Relative permittivity of SiO2 [-].
EPS_R_SIO2 = 3.9
#: Reference temperature at which cards state their values [K].
T_REF_K = 300.0
#: Zero degrees Celsius in kelvin [K].
ZERO_CELSIUS_K = 273.15

#: Smallest positive relative step treated as non-zero in iterative solvers [-].
ALMOST_ZERO = 1e-300
#: Relative tolerance used by Newton iterations unless the caller asks otherwise [-].
NEWTON_RTOL = 1e-12
#: Upper bound on Newton iterations before a solver reports non-convergence [-].
NEWTON_MAX_ITER = 100
#: Largest terminal-voltage magnitude the transistor model accepts [V]: far beyond any breakdown
#: voltage, so a larger value is an input error (and would overflow the model's exponentials
#: and squares into inf or NaN).
V_TERMINAL_MAX_V = 1e3
#: Largest argument of exp with a finite double result, ln(1.797…e308) [-].
LOG_FLOAT_MAX = math.log(sys.float_info.max)


def thermal_voltage_v(temperature_k):
    """Thermal voltage U_T = k·T/q [V] at ``temperature_k`` [K] (scalar or array)."""
    return K_B_J_PER_K * temperature_k / Q_E_C
