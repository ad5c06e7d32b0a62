"""Shared pytest settings: small, single-threaded torch so the suite fits CI's 2 cores."""

import torch

torch.set_num_threads(1)
