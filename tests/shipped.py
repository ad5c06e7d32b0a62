"""What the repository ships, by name: tests check these, never whatever a user has left in
``profiles/`` (``bench calibrate ... -o profiles/mychip.yaml`` is the README's own example)."""

from __future__ import annotations

from pathlib import Path

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
SHIPPED_PROFILES = [PROFILES_DIR / f"{name}.yaml" for name in ("rram_lowpower", "sram_lowvoltage", "virtual_chip")]
