"""Stage 4: export the main network (blob + weight image), load it over serial, and verify by
reading the whole weight image back at nominal voltage.

Verification [choice]: the readback may differ from the image by no more bits than the
profile's most reliable point explains (mean + 5 sigma of a binomial count) plus
``VERIFY_SLACK_BITS``; more means a broken link or a memory that is not reliable at nominal.
"""

from __future__ import annotations

import numpy as np

from bench.errors import BenchError, user_errors
from bench.pipeline.hardware import open_bench
from bench.pipeline.stages.common import dataset, read_json, trained_net
from drivers import atomic
from models.export import ExportError, export_model

VERIFY_SLACK_BITS = 2


def deploy(ctx) -> dict:
    net = trained_net(ctx.input("train") / "main")
    with user_errors(ExportError, prefix="deploy: "):
        exported = export_model(net, dataset(ctx).in_shape)
    blob, words = exported.blob_bytes(), np.asarray(exported.image, dtype=np.uint32)
    atomic.write_bytes(ctx.out / "model.fbm", blob)
    np.save(ctx.out / "weights.npy", words)
    ops = read_json(ctx.input("operating_points") / "operating_points.json")
    bench = open_bench(ctx)
    bench.set_volts(bench.nominal_volts)
    bench.load(blob, words)
    readback = bench.read(0, len(words))
    np.save(ctx.out / "readback_nominal.npy", readback)
    bad_bits = int(np.unpackbits((readback ^ words).view(np.uint8)).sum())
    expected = 32 * len(words) * ctx.profile.most_reliable.ber
    allowed = int(expected + 5 * np.sqrt(expected)) + VERIFY_SLACK_BITS
    report = {"blob_bytes": len(blob), "weight_words": int(len(words)), "nominal_volts": bench.nominal_volts,
              "readback_bit_errors": bad_bits, "allowed_bit_errors": allowed, "board": bench.identity(),
              "layers": [l["name"] for l in ops["layers"]]}
    atomic.write_json(ctx.out / "deploy.json", report)
    if bad_bits > allowed:
        raise BenchError(f"deploy: {bad_bits} bit(s) of the weight image read back wrong at nominal "
                         f"{bench.nominal_volts} V (at most {allowed} expected): check the serial link and the supply")
    return {"weight_words": len(words), "readback_bit_errors": bad_bits}
