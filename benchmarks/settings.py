"""Model and data options shared by the benchmark scripts (small settings run on 2 cores)."""

from __future__ import annotations

import argparse


def add_model_args(p: argparse.ArgumentParser, width: float = 0.25, mode: str = "bnn") -> None:
    p.add_argument("--arch", default="mlp", help="architecture (default mlp)")
    p.add_argument("--width", type=float, default=width, help=f"width multiplier (default {width})")
    p.add_argument("--mode", default=mode, help=f"bnn or binaryconnect (default {mode})")
    p.add_argument("--dataset", default="digits", help="data set (default digits: bundled, no download)")
    p.add_argument("--data-dir", help="folder of mnist/fashion-mnist/cifar10 files (with --dataset)")
    p.add_argument("--seed", type=int, default=0)
