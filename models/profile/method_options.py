"""The training-method options a profile implies (``bench run`` and ``bench train --profile``)."""

from __future__ import annotations

import math
from typing import Any

from models.method_registry import option_help
from models.profile.points import eps_upper_bound
from models.profile.profile import Profile


def profile_method_options(profile: Profile, method: str) -> dict[str, Any]:
    """What a profile sets of ``method``'s options: the energy model's ``e0``, ``beta``,
    ``eps_ref`` (methods that trade energy, e.g. LaNMax), and LaNMax's bound on log10(eps)
    [choice]: the least reliable operating point's eps (beyond it there is no point to run at,
    and the energy model is not calibrated there; rram_lowpower's fit even turns negative past
    eps 0.047), and its start ``theta_init`` [choice]: the middle of ``[theta_min, theta_max]``
    in log10(eps), so that the noise levels can move either way from the start on every
    profile. Raises ``KeyError`` for an unknown method."""
    defaults = {name: default for name, default, _ in option_help(method)}
    opts: dict[str, Any] = {}
    model = profile.energy_model
    if model is not None:
        for key, value in (("e0", model.E0), ("beta", model.beta), ("eps_ref", model.eps_ref)):
            if key in defaults:
                opts[key] = value
    if "theta_max" in defaults:
        eps_max = eps_upper_bound(profile.operating_points)
        theta_max = defaults["theta_max"]
        if eps_max > 0 and math.log10(eps_max) < theta_max:
            theta_max = math.log10(eps_max)
            opts["theta_max"] = theta_max
        if "theta_init" in defaults:
            opts["theta_init"] = (defaults["theta_min"] + theta_max) / 2
    return opts
