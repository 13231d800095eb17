import pytest
import torch

from lecun1989 import model as M
from lecun1989.model import Net1989, NetConfig


def test_counts_match_the_paper():
    c = M.check_counts()
    assert c == {"parameters": 9760, "units": 1256, "connections": 64660, "macs": 63660}
    assert sum(p.numel() for p in Net1989().parameters()) == 9760


def test_parameter_names_shapes_and_order():
    net = Net1989()
    assert [(n, tuple(p.shape)) for n, p in net.named_parameters()] == [
        ("H1w", (12, 1, 5, 5)), ("H1b", (12, 8, 8)), ("H2w", (12, 8, 5, 5)), ("H2b", (12, 4, 4)),
        ("H3w", (192, 30)), ("H3b", (30,)), ("outw", (30, 10)), ("outb", (10,))]


def test_init_is_the_anchors_draw_order_and_range():
    net = Net1989(seed=1337)
    torch.manual_seed(1337)
    for name, fan in (("H1w", 25), ("H2w", 200), ("H3w", 192), ("outw", 30)):
        shape = M.PARAM_SHAPES[name]
        expect = (torch.rand(shape) - 0.5) * 2 * 2.4 / fan ** 0.5
        assert torch.equal(getattr(net, name).data, expect), name
        assert getattr(net, name).abs().max() <= 2.4 / fan ** 0.5
    assert torch.equal(net.outb.data, -torch.ones(10))
    assert not net.H1b.any() and not net.H3b.any()
    assert not Net1989(NetConfig(head="linear")).outb.any()


def test_same_seed_same_weights_and_different_seed_differs():
    a, b, c = Net1989(seed=5), Net1989(seed=5), Net1989(seed=6)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.H1w, c.H1w)


def test_padding_is_background_minus_one():
    # A blank (all -1) image: the H1 pre-activation equals bias + (-1) * sum of kernel weights
    # at every position, including the border, because the padding is -1 too.
    net = Net1989(seed=0)
    x = -torch.ones(1, 1, 16, 16)
    with torch.no_grad():
        h1 = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0), net.H1w, stride=2)
        expect = -net.H1w.sum(dim=(1, 2, 3))
    assert torch.allclose(h1[0], expect[:, None, None].expand(12, 8, 8), atol=1e-6)


def test_h2_block_connectivity_each_map_sees_eight():
    seen = {}
    for lo, hi, ranges in M.H2_BLOCKS:
        maps = [m for a, b in ranges for m in range(a, b)]
        assert len(maps) == M.H2_FAN_MAPS
        for o in range(lo, hi):
            seen[o] = maps
    assert sorted(seen) == list(range(12))
    assert seen[0] == list(range(8)) and seen[4] == list(range(4, 12)) and seen[8] == [0, 1, 2, 3, 8, 9, 10, 11]


def test_h2_map_depends_only_on_its_connected_h1_maps():
    net = Net1989(seed=1).double()
    h1 = torch.randn(1, 12, 12, 12, dtype=torch.float64, requires_grad=True)
    blocks = [torch.nn.functional.conv2d(xi, net.H2w[lo:hi], stride=2)
              for xi, (lo, hi, _) in zip(M.h2_inputs(h1), M.H2_BLOCKS)]
    h2 = torch.cat(blocks, 1)
    for o in (0, 5, 9):
        (g,) = torch.autograd.grad(h2[0, o].sum(), h1, retain_graph=True)
        used = {m for m in range(12) if g[0, m].abs().sum() > 0}
        lo_hi = [r for lo, hi, r in M.H2_BLOCKS if lo <= o < hi][0]
        assert used == {m for a, b in lo_hi for m in range(a, b)}


@pytest.mark.parametrize("activation", ["tanh", "relu", "scaled-tanh"])
@pytest.mark.parametrize("head", ["tanh", "linear"])
def test_gradients_match_finite_differences(activation, head):
    """Autograd through Net1989 against central differences (float64), on a sample of
    entries of every parameter tensor."""
    net = Net1989(NetConfig(activation=activation, head=head), seed=3).double()
    x = torch.rand(2, 1, 16, 16, dtype=torch.float64) * 2 - 1
    w = torch.randn(2, 10, dtype=torch.float64)

    def loss():
        return (net(x) * w).sum()

    net.zero_grad()
    loss().backward()
    gen = torch.Generator().manual_seed(0)
    h = 1e-6
    for name, p in net.named_parameters():
        flat = p.data.view(-1)
        for i in torch.randint(0, flat.numel(), (12,), generator=gen).tolist():
            old = flat[i].item()
            with torch.no_grad():
                flat[i] = old + h
                up = loss().item()
                flat[i] = old - h
                down = loss().item()
                flat[i] = old
            fd = (up - down) / (2 * h)
            assert abs(fd - p.grad.view(-1)[i].item()) <= 1e-6 + 1e-5 * abs(fd), (name, i)


def test_scaled_tanh_maps_plus_minus_one_to_itself():
    from lecun1989 import activations
    v = activations.get("scaled-tanh").torch(torch.tensor([1.0, -1.0], dtype=torch.float64))
    assert torch.allclose(v, torch.tensor([1.0, -1.0], dtype=torch.float64), atol=2e-4)


def test_dropout_mask_is_used_in_training_only():
    net = Net1989(NetConfig(dropout=0.5), seed=0)
    x = torch.rand(1, 1, 16, 16)
    zero = torch.zeros(1, 192)
    net.train()
    a = net(x, zero)
    net.eval()
    b = net(x, zero)
    # With every H2 output dropped, H3 sees only its bias: the output no longer depends on x.
    assert torch.allclose(a, net.train()(torch.rand(1, 1, 16, 16), zero))
    assert not torch.allclose(a, b)


# -- the H2 connection tables (Config.h2_scheme; issue 16) ------------------------------------------
@pytest.mark.parametrize("scheme,seed", [("anchor", 0), ("lenet5", 0), ("random", 1), ("random", 7)])
def test_every_h2_table_keeps_8_of_12_maps_and_the_papers_parameters(scheme, seed):
    from lecun1989.geometry import h2_blocks_of, h2_table
    from lecun1989.model import NetConfig
    table = h2_table(scheme, seed)
    assert len(table) == 12 and all(len(set(r)) == 8 and list(r) == sorted(r) and 0 <= min(r) and max(r) < 12
                                    for r in table)
    blocks = h2_blocks_of(table)
    assert [o for lo, hi, _ in blocks for o in range(lo, hi)] == list(range(12))
    net = Net1989(NetConfig(h2_scheme=scheme, h2_seed=seed), seed=1)
    assert sum(p.numel() for p in net.parameters()) == 9760
    assert net(torch.zeros(2, 1, 16, 16)).shape == (2, 10)


def test_the_anchor_table_is_the_anchors_blocks_and_lenet5_is_balanced():
    from collections import Counter
    from lecun1989.geometry import H2_BLOCKS, h2_blocks_of, h2_table
    assert h2_blocks_of(h2_table("anchor")) == H2_BLOCKS
    t = h2_table("lenet5")
    assert len(set(t)) == 12                                        # every H2 map sees its own set
    assert set(Counter(m for r in t for m in r).values()) == {8}    # every H1 map feeds 8 H2 maps
    assert h2_table("random", 3) == h2_table("random", 3) != h2_table("random", 4)


def test_h2_table_changes_what_the_net_computes_not_its_init():
    from lecun1989.model import NetConfig
    a, b = Net1989(NetConfig(), seed=5), Net1989(NetConfig(h2_scheme="lenet5"), seed=5)
    for name, w in a.state_dict().items():
        assert torch.equal(w, b.state_dict()[name])
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        assert not torch.allclose(a(x), b(x))


def test_init_fanin_is_the_papers_text_read_literally():
    from lecun1989.model import NetConfig
    a, b = Net1989(NetConfig(), seed=5), Net1989(NetConfig(init="fanin"), seed=5)
    for name, fan in (("H1w", 25), ("H2w", 200), ("H3w", 192), ("outw", 30)):
        assert float(b.state_dict()[name].abs().max()) <= 2.4 / fan
        assert torch.allclose(b.state_dict()[name] * fan ** 0.5, a.state_dict()[name], atol=1e-6)
