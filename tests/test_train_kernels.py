"""The latent trainer's C kernels (thin MLP, 3x3 conv) against torch's own operations.

Why: they replace torch's layer-by-layer path in every training step of `--field latent`;
a wrong gradient would not crash, it would only make worse files. Each is checked in value
and gradient, in float64 references, on odd sizes (partial pixel blocks, rows shorter than
a lane group) and split over several threads (the ranges' gradients summed in order).
"""
import pytest
import torch
import torch.nn.functional as F

from snf.encode import conv3x3, thinmlp

needs_mlp = pytest.mark.skipif(not thinmlp.available(), reason="the _thinmlp kernel is not built")
needs_conv = pytest.mark.skipif(conv3x3._c is None, reason="the _conv3x3 kernel is not built")


def _rel(a, b) -> float:
    return float((a.detach().double() - b.detach()).abs().max() / b.detach().abs().max().clamp_min(1e-12))


@needs_mlp
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("dims,n", [([7, 16, 16, 3], 1), ([7, 16, 16, 3], 4099), ([9, 12, 12, 2], 200),
                                    ([4, 3], 70), ([12, 64, 64, 64, 64, 4], 129)])
def test_thin_mlp_matches_torch_in_value_and_gradient(dims, n, threads):
    g = torch.Generator().manual_seed(n)
    x = torch.randn(dims[0], n, generator=g, dtype=torch.float64)
    ps = []
    for a, b in zip(dims, dims[1:]):
        ps += [torch.randn(b, a, generator=g, dtype=torch.float64) / a ** 0.5,
               torch.randn(b, generator=g, dtype=torch.float64) * 0.1]
    dy = torch.randn(dims[-1], n, generator=g, dtype=torch.float64)
    ref = [t.clone().requires_grad_() for t in [x] + ps]
    y0 = thinmlp.mlp_torch(ref[0], ref[1:])
    g0 = torch.autograd.grad(y0, ref, dy)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t = [v.float().requires_grad_() for v in [x] + ps]
        y = thinmlp.mlp(t[0], t[1:])
        assert y.grad_fn is not None and type(y.grad_fn).__name__.startswith("_Fused")  # the kernel ran
        g1 = torch.autograd.grad(y, t, dy.float())
    finally:
        torch.set_num_threads(old)
    assert _rel(y, y0) < 1e-5
    for a, b in zip(g1, g0):
        # ReLU masks can flip where a float32 pre-activation sits at 0: compare in bulk
        assert _rel(a, b) < 1e-4 or float((a.double() - b).abs().mean() / b.abs().mean()) < 1e-4


@needs_mlp
def test_thin_mlp_gives_the_same_bits_for_the_same_thread_count():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(7, 5000, generator=g)
    ps = [torch.randn(16, 7, generator=g), torch.randn(16, generator=g), torch.randn(3, 16, generator=g),
          torch.randn(3, generator=g)]
    ps = [p.requires_grad_() for p in ps]
    runs = [torch.autograd.grad(thinmlp.mlp(x, ps).square().sum(), ps) for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(*runs))


@needs_conv
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(3, 1, 1), (3, 5, 7), (1, 17, 33), (4, 40, 19), (3, 64, 96)])
def test_conv3x3_matches_the_library_convolution(shape, threads):
    c = shape[0]
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    k = torch.randn(c, c, 3, 3, generator=g, dtype=torch.float64) * 0.3
    b = torch.randn(c, generator=g, dtype=torch.float64)
    dy = torch.randn(*shape, generator=g, dtype=torch.float64)
    ref = [t.clone().requires_grad_() for t in (x, k, b)]
    y0 = F.conv2d(ref[0][None], ref[1], ref[2], padding=1)[0]
    g0 = torch.autograd.grad(y0, ref, dy)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t = [v.float().requires_grad_() for v in (x, k, b)]
        y = conv3x3.conv3x3(*t)
        assert type(y.grad_fn).__name__.startswith("_Conv")
        g1 = torch.autograd.grad(y, t, dy.float())
    finally:
        torch.set_num_threads(old)
    assert _rel(y, y0) < 1e-5
    assert all(_rel(a, b) < 1e-5 for a, b in zip(g1, g0))
    assert torch.allclose(conv3x3.conv3x3_torch(*[v.float() for v in (x, k, b)]), y0.float(), atol=1e-4)


@needs_mlp
def test_the_kernels_refuse_bad_buffers_with_an_error_not_a_crash():
    from snf.encode import _thinmlp
    x = torch.zeros(7, 10).numpy()
    w, b = torch.zeros(3, 7).numpy(), torch.zeros(3).numpy()
    with pytest.raises(ValueError):
        _thinmlp.run(x, 11, 0, 11, [7, 3], [w], [b], torch.zeros(3, 11).numpy(), None, None, None, None)
    with pytest.raises(ValueError):
        _thinmlp.run(x, 10, 0, 10, [7, 99], [w], [b], torch.zeros(3, 10).numpy(), None, None, None, None)
    with pytest.raises((TypeError, ValueError)):
        _thinmlp.run(x.astype("float64"), 10, 0, 10, [7, 3], [w], [b], torch.zeros(3, 10).numpy(),
                     None, None, None, None)


@pytest.mark.skipif(__import__("snf.encode.bilinear", fromlist=["_c"])._c is None,
                    reason="the _bilinear kernel is not built")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("size,shapes", [((96, 64), [(1, 2), (2, 3), (4, 6), (8, 12), (16, 24), (32, 48), (64, 96)]),
                                         ((13, 7), [(1, 1), (2, 4), (4, 7), (7, 13)]),
                                         ((50, 33), [(3, 4), (9, 13), (17, 25)])])
def test_bilinear_features_match_torch_interpolate(size, shapes, threads):
    from snf.encode import bilinear
    g = torch.Generator().manual_seed(len(shapes))
    grids = [torch.randn(*s, generator=g, dtype=torch.float64) for s in shapes]
    total = len(grids) + 2  # zero rows for the grids a prefix does not hold
    dx = torch.randn(total, size[0] * size[1], generator=g, dtype=torch.float64)
    ref = [t.clone().requires_grad_() for t in grids]
    x0 = bilinear.features_torch(ref, total, size)
    g0 = torch.autograd.grad(x0, ref, dx)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t = [v.float().requires_grad_() for v in grids]
        x = bilinear.features(t, total, size)
        assert type(x.grad_fn).__name__.startswith("_Up")
        g1 = torch.autograd.grad(x, t, dx.float())
    finally:
        torch.set_num_threads(old)
    x = x.detach()
    assert x.shape == x0.shape and float(x[len(grids):].abs().max()) == 0.0
    assert float((x.double() - x0).abs().max()) < 1e-4
    assert all(_rel(a, b) < 1e-5 for a, b in zip(g1, g0))
