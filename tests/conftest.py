"""Shared pytest settings: small, single-threaded torch so the suite fits CI's 2 cores."""

import torch

torch.set_num_threads(1)


import pytest  # noqa: E402


@pytest.fixture
def virtual_lab(request):
    """A running virtual lab (drivers/virtual_lab/lab.py): ``.board_url``, ``.supply_resource``.

    Ephemeral ports; both processes are stopped when the test ends, whatever happens.
    Parametrize indirectly with a chip file path to use another chip.
    """
    from drivers.virtual_lab.lab import VirtualLab

    with VirtualLab(getattr(request, "param", None)) as lab:
        yield lab
