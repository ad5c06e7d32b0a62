"""BSC flip statistics and the two gradient modes of ALGORITHMS 2."""

import math

import pytest
import torch

from models.fault_registry import build_fault_model
from models.faults import BinarySymmetric, FaultInjector, FixedMasks, draw_flips
from models.layers import BinaryLinear, attach_faults


def _site(shape):
    layer = BinaryLinear(shape[1], shape[0])
    attach_faults(layer, None)
    return layer


@pytest.mark.parametrize("eps", [1e-3, 0.02, 0.3])
def test_bsc_flip_rate_within_binomial_bound(eps):
    layer = _site((200, 500))
    codes = layer.to_codes(layer.quantized_weight().detach())
    gen = torch.Generator().manual_seed(7)
    mask = BinarySymmetric().flip_mask(layer.fault_site, codes, eps, gen, draws=4)
    n = mask.numel()
    flips = int(mask.sum())
    sigma = math.sqrt(n * eps * (1 - eps))
    assert abs(flips - n * eps) < 5 * sigma  # 5-sigma binomial bound, fails with prob < 1e-6
    assert mask.shape == (4, 200, 500)


def test_bsc_draws_are_independent_and_resampled_every_read():
    layer = _site((50, 80))
    gen = torch.Generator().manual_seed(3)
    attach_faults(layer, FaultInjector(BinarySymmetric(), gen, default_rate=0.1))
    a, b = layer.read_weight(), layer.read_weight()
    assert not torch.equal(a, b)
    agree = float((a == b).float().mean())
    assert abs(agree - (1 - 2 * 0.1 * 0.9)) < 0.03  # P(same) = (1-eps)^2 + eps^2


def _gradients(mode, mask):
    torch.manual_seed(0)
    layer = BinaryLinear(6, 4)
    attach_faults(layer, None)
    attach_faults(layer, FaultInjector(FixedMasks({layer.fault_site.name: mask}), torch.Generator(), gradient=mode))
    x = torch.randn(3, 6)
    g = torch.randn(3, 4)
    y = layer(x)
    (y * g).sum().backward()
    return y.detach(), layer.weight.grad.clone(), g.T @ x  # dL/dw~ = g^T x


def test_aware_and_straight_through_gradients_follow_algorithms_2():
    mask = (torch.rand(4, 6, generator=torch.Generator().manual_seed(5)) < 0.5).to(torch.uint8)
    m = 1 - 2 * mask.float()  # +1 kept, -1 flipped
    y_st, grad_st, dl_dwt = _gradients("straight-through", mask)
    y_aw, grad_aw, _ = _gradients("aware", mask)
    assert torch.equal(y_st, y_aw)  # same forward: w~ = m * w_b
    # latent |w| <= 1 everywhere, so the STE factor is 1
    assert torch.allclose(grad_st, dl_dwt)          # straight-through: dL/dw_b = dL/dw~
    assert torch.allclose(grad_aw, m * dl_dwt)      # aware: dL/dw_b = m * dL/dw~
    assert mask.any() and not torch.allclose(grad_st, grad_aw)


def test_fault_model_from_config_and_errors():
    assert isinstance(build_fault_model(None), BinarySymmetric)
    assert build_fault_model({"kind": "asymmetric", "p01": 0.1, "p10": 0.0}).describe()["p01"] == 0.1
    with pytest.raises(ValueError, match="kind 'nope'"):
        build_fault_model({"kind": "nope"})
    with pytest.raises(ValueError, match="bad fields"):
        build_fault_model({"kind": "bsc", "rate": 1})
    with pytest.raises(ValueError, match="gradient mode"):
        FaultInjector(BinarySymmetric(), torch.Generator(), gradient="sideways")


def test_bernoulli_positions_are_an_exact_bernoulli_process():
    from models.faults import bernoulli_positions

    n, p = 2_000_000, 0.002
    pos = bernoulli_positions(n, p, torch.Generator().manual_seed(0), "cpu")
    assert torch.all(pos[1:] > pos[:-1]) and int(pos.min()) >= 0 and int(pos.max()) < n
    assert abs(len(pos) - n * p) < 5 * math.sqrt(n * p * (1 - p))
    halves = torch.bincount((pos >= n // 2).long(), minlength=2)
    assert abs(int(halves[0]) - int(halves[1])) < 5 * math.sqrt(n * p)  # no drift along the memory
    gaps = torch.diff(pos).double()
    assert abs(float(gaps.mean()) - 1 / p) < 5 * math.sqrt((1 - p) / p ** 2 / len(gaps))  # Geometric(p) mean
    assert len(bernoulli_positions(n, 0.0, torch.Generator(), "cpu")) == 0


@pytest.mark.parametrize("n, p", [(1, 0.5), (60, 0.2), (5000, 0.01)])
def test_bernoulli_positions_in_small_chunks_equal_one_chunk(n, p):
    """The many-chunk path (rare with the default chunk) continues the same Bernoulli process."""
    from models.faults import bernoulli_positions

    for seed in range(20):
        one = bernoulli_positions(n, p, torch.Generator().manual_seed(seed), "cpu")
        many = bernoulli_positions(n, p, torch.Generator().manual_seed(seed), "cpu", chunk=3)
        assert torch.equal(one, many) and (len(one) == 0 or int(one[-1]) < n)


@pytest.mark.parametrize("p", [1e-4, 0.01, 0.2])
def test_geometric_gaps_are_torchs_geometric_draws(p):
    """The vectorised CPU transform gives geometric_'s draws and leaves the generator in step,
    so positions (and training runs) are those of geometric_ on either side of the threshold."""
    from models.faults import VECTOR_GEOMETRIC_FROM, geometric_gaps

    for m in (VECTOR_GEOMETRIC_FROM - 1, VECTOR_GEOMETRIC_FROM, 300_000):
        a, b = torch.Generator().manual_seed(m), torch.Generator().manual_seed(m)
        gaps = geometric_gaps(m, p, a, "cpu")
        assert gaps.dtype == torch.long and torch.equal(gaps, torch.empty(m, dtype=torch.long).geometric_(p, generator=b))
        assert torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=b))


class KnownPositions(BinarySymmetric):
    """Sparse path with chosen positions, to compare against the dense path bit for bit."""

    def __init__(self, positions):
        super().__init__()
        self.positions = positions

    def flip_positions(self, site, n_bits, rate, generator, device):
        return self.positions


@pytest.mark.parametrize("mode", ["straight-through", "aware"])
@pytest.mark.parametrize("draws", [None, 3])
def test_sparse_and_dense_paths_give_the_same_reads_and_gradients(mode, draws):
    shape = ((draws,) if draws else ()) + (4, 6)
    mask = (torch.rand(shape, generator=torch.Generator().manual_seed(9)) < 0.3).to(torch.uint8)
    results = []
    for sparse in (False, True):
        torch.manual_seed(0)
        layer = BinaryLinear(6, 4)
        attach_faults(layer, None)
        model = (KnownPositions(mask.view(-1).nonzero().squeeze(1)) if sparse
                 else FixedMasks({layer.fault_site.name: mask}))
        attach_faults(layer, FaultInjector(model, torch.Generator(), gradient=mode, draws=draws))
        x = torch.randn(2 * (draws or 1), 6)
        y = layer(x)
        (y * torch.arange(y.numel()).reshape(y.shape)).sum().backward()
        results.append((y.detach(), layer.weight.grad))
    assert torch.equal(results[0][0], results[1][0]) and torch.allclose(results[0][1], results[1][1])


def test_sparse_bsc_resampled_every_read_at_small_eps():
    layer = _site((100, 200))
    attach_faults(layer, FaultInjector(BinarySymmetric(), torch.Generator().manual_seed(3), default_rate=0.01))
    reads = [layer.read_weight().detach() for _ in range(2)]
    wb = torch.where(layer.weight >= 0, 1.0, -1.0)
    flips = [int((r != wb).sum()) for r in reads]
    assert all(abs(f - 200) < 5 * math.sqrt(200) for f in flips) and not torch.equal(*reads)


@pytest.mark.parametrize("mode", ["straight-through", "aware"])
def test_inplace_read_equals_the_copying_read_and_leaves_other_inputs_alone(mode):
    """read_weight flips its fresh sign(w) in place; corrupt() on a caller's tensor copies it."""
    grads, reads = [], []
    for inplace in (False, True):
        torch.manual_seed(0)
        layer = BinaryLinear(40, 30)
        attach_faults(layer, FaultInjector(BinarySymmetric(), torch.Generator().manual_seed(4), default_rate=0.05,
                                           gradient=mode))
        w = layer.quantized_weight()
        kept = w.detach().clone()
        read = layer.fault_injector.corrupt(layer, w, inplace=inplace)
        assert torch.equal(w, read) == inplace and (inplace or torch.equal(w, kept))
        (read * torch.arange(read.numel()).reshape(read.shape)).sum().backward()
        reads.append(read.detach())
        grads.append(layer.weight.grad)
    flipped = reads[0] != kept
    assert torch.equal(reads[0], reads[1]) and 20 < int(flipped.sum()) < 100
    assert torch.equal(grads[0], grads[1])


def test_composed_sources_xor_and_rebuild_from_their_description():
    """A stuck-at-1 source (asymmetric p01 = 1) composed with itself cancels; composed with no
    faults it is itself; the description round-trips through the registry."""
    site = _site((16, 32)).fault_site
    codes = torch.zeros((16, 32), dtype=torch.uint8)
    stuck = {"kind": "asymmetric", "p01": 1.0, "p10": 0.0}
    none = {"kind": "bsc", "eps": 0.0}
    g = torch.Generator().manual_seed(0)
    twice = build_fault_model({"kind": "compose", "models": [stuck, stuck]})
    once = build_fault_model({"kind": "compose", "models": [stuck, none]})
    assert twice.flip_mask(site, codes, None, g).sum() == 0
    assert torch.equal(once.flip_mask(site, codes, None, g), torch.ones_like(codes))
    assert build_fault_model(once.describe()).describe() == once.describe()


def test_evaluation_reads_drawn_ahead_are_the_calls_of_one_batched_draw_and_each_read_differs():
    """No-grad forwards read several draws from one call (reads_per_call), handed out in order."""
    layer = _site((40, 60))  # 2400 bits at eps 0.01: 16 reads per call
    model = BinarySymmetric()
    k = model.reads_per_call(layer.fault_site, 2400, 0.01)
    assert k == 16
    inj = FaultInjector(model, torch.Generator().manual_seed(4), default_rate=0.01)
    reads = [inj.read_flips(layer).index for _ in range(k + 1)]
    expected = draw_flips(model, layer, 0.01, torch.Generator().manual_seed(4), k)
    assert all(torch.equal(r, e.index) for r, e in zip(reads, expected))
    assert not torch.equal(reads[k], reads[0])  # the 17th read comes from a new call
    assert len({tuple(r.tolist()) for r in reads}) == k + 1


def test_a_rate_change_discards_the_reads_drawn_ahead():
    layer = _site((40, 60))
    inj = FaultInjector(BinarySymmetric(), torch.Generator().manual_seed(4), default_rate=0.01)
    assert inj.read_flips(layer).index.numel() > 0
    inj.default_rate = 0.0
    assert inj.read_flips(layer).index.numel() == 0
    inj.default_rate = 0.2  # dense path from 0.25 on; still sparse here
    counts = [inj.read_flips(layer).index.numel() for _ in range(20)]
    assert all(abs(c - 480) < 5 * math.sqrt(2400 * 0.2 * 0.8) for c in counts)


def test_reads_of_a_large_layer_are_drawn_one_at_a_time():
    assert BinarySymmetric().reads_per_call(None, 2048 * 2048, 0.01) == 1
    assert BinarySymmetric().reads_per_call(None, 2400, 0.3) == 1  # dense path: a mask per draw
    assert FixedMasks({}).reads_per_call(None, 2400, 0.01) == 1
