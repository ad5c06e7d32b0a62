"""Memory error profiles (``profiles/*.yaml``): one package for the whole concept.

| module | holds |
|---|---|
| ``units`` | quantities with units (``'1.2 pJ'``, ``'650 mV'``) -> SI floats |
| ``points`` | :class:`OperatingPoint`, the mean BER (a point's eps), eps -> operating point, energy per bit |
| ``profile`` | the loaded :class:`Profile` (points, energy model, energy kind, nominal voltage, experiment), :class:`ProfileError` |
| ``checks`` | validation: the JSON Schema, then units, monotone curves, names, files |
| ``loading`` | reading (with YAML line numbers) and writing profile files |
| ``method_options`` | the training-method options a profile implies (energy model, LaNMax's eps bound) |
| ``faults`` | the profile's fault model (torch), for training and evaluation |

Everything but ``faults`` and ``method_options`` works without torch (``bench profile check``).
"""

from models.profile.loading import PROFILES_DIR, check_profile, dump_profile, list_profiles, load_profile, syntax_error
from models.profile.points import OperatingPoint, OperatingPointChoice, choose_operating_point, mean_ber
from models.profile.profile import Problem, Profile, ProfileError

__all__ = ["PROFILES_DIR", "OperatingPoint", "OperatingPointChoice", "Problem", "Profile", "ProfileError",
           "check_profile", "choose_operating_point", "dump_profile", "list_profiles", "load_profile", "mean_ber",
           "syntax_error"]
