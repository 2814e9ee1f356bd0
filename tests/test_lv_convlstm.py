import pytest
import torch
from torch import nn

from medseg.lv.convlstm import ConvLSTM, ConvLSTMCell, _step_in_place, _update, _use_sigmoid_form


def test_cell_shapes_and_state():
    cell = ConvLSTMCell(3, 5)
    x = torch.randn(2, 3, 8, 8)
    h, c = cell(x)
    assert h.shape == c.shape == (2, 5, 8, 8)
    h2, _ = cell(x, (h, c))
    assert not torch.allclose(h, h2), "the state must change the output"


def test_layer_shapes_and_causality():
    torch.manual_seed(0)
    layer = ConvLSTM(2, 4)
    x = torch.randn(1, 5, 2, 6, 6)
    out = layer(x)
    assert out.shape == (1, 5, 4, 6, 6)
    changed = x.clone()
    changed[:, 3] += 1.0
    out2 = layer(changed)
    assert torch.allclose(out[:, :3], out2[:, :3]), "a forward ConvLSTM must not see the future"
    assert not torch.allclose(out[:, 4], out2[:, 4]), "state must carry information forward"


def test_bidirectional_sees_both_ways_and_gradient_flows():
    torch.manual_seed(0)
    layer = ConvLSTM(2, 4, bidirectional=True)
    x = torch.randn(1, 5, 2, 6, 6, requires_grad=True)
    out = layer(x)
    assert out.shape == (1, 5, 4, 6, 6)
    out[:, 0].sum().backward()
    assert x.grad[:, 4].abs().sum() > 0, "the first output depends on the last input"
    assert all(p.grad is not None for p in layer.parameters())


def test_learns_a_delay_a_per_frame_model_cannot():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    delay = 2
    model = nn.ModuleDict({"lstm": ConvLSTM(1, 8), "head": nn.Conv2d(8, 1, 1)})
    optimiser = torch.optim.Adam(model.parameters(), lr=0.03)

    def batch():
        x = (torch.rand(16, 5, 1, 3, 3) > 0.5).float()
        return x, x[:, : 5 - delay]

    def loss_of(x, y):
        out = model["lstm"](x)[:, delay:]
        return nn.functional.mse_loss(model["head"](out.flatten(0, 1)).view_as(y), y)

    for _ in range(200):
        x, y = batch()
        optimiser.zero_grad()
        loss = loss_of(x, y)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        final = loss_of(*batch()).item()
    assert final < 0.12, f"a frame-wise model cannot beat 0.25 here; ConvLSTM reached {final:.3f}"


def test_layer_matches_stepping_the_cell():
    torch.manual_seed(0)
    layer = ConvLSTM(3, 4)
    x = torch.randn(2, 6, 3, 5, 5)
    state = None
    steps = []
    for t in range(x.shape[1]):
        state = layer.forward_cell(x[:, t], state)
        steps.append(state[0])
    with torch.no_grad():
        assert torch.allclose(layer(x), torch.stack(steps, dim=1), atol=1e-6)


def test_time_index_equals_indexing_the_input():
    torch.manual_seed(0)
    layer = ConvLSTM(3, 4, bidirectional=True).eval()
    x = torch.randn(2, 5, 3, 6, 6)
    index = torch.arange(-2, 7) % 5  # the cycle with two frames from the other end on each side
    with torch.no_grad():
        indexed = layer(x, index)
        assert indexed.shape == (2, 9, 4, 6, 6)
        assert torch.allclose(indexed, layer(x[:, index]), atol=1e-6)
        assert torch.allclose(layer(x, torch.arange(5)), layer(x), atol=1e-6)


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_keep_returns_the_kept_steps_of_the_full_run(bidirectional, grad):
    torch.manual_seed(0)
    layer = ConvLSTM(3, 4, bidirectional=bidirectional).eval()
    x = torch.randn(2, 5, 3, 6, 6)
    index = torch.arange(-2, 7) % 5
    with torch.set_grad_enabled(grad):
        full = layer(x, index)
        for keep in (range(2, 7), range(0, 9), range(0, 1), range(8, 9), range(3, 5)):
            kept = layer(x, index, keep=keep)
            assert kept.shape == (2, len(keep), 4, 6, 6)
            # the bidirectional mix runs on fewer frames, which may round differently
            assert (kept - full[:, keep.start : keep.stop]).abs().max() < 1e-6, keep


def test_keep_skips_the_steps_nothing_kept_depends_on():
    from medseg.lv.convlstm import _step_order

    assert list(_step_order(9, False, range(2, 7))) == [0, 1, 2, 3, 4, 5, 6]
    assert list(_step_order(9, True, range(2, 7))) == [8, 7, 6, 5, 4, 3, 2]
    assert list(_step_order(4, False)) == [0, 1, 2, 3] and list(_step_order(4, True)) == [3, 2, 1, 0]


@pytest.mark.parametrize("keep", [range(0, 0), range(3, 10), range(-1, 2), range(0, 9, 2)])
def test_keep_outside_the_steps_is_refused(keep):
    layer = ConvLSTM(3, 4)
    with pytest.raises(ValueError, match="keep"):
        layer(torch.randn(1, 9, 3, 4, 4), keep=keep)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_inference_path_equals_the_autograd_path(channels_last, bidirectional):
    torch.manual_seed(0)
    layer = ConvLSTM(8, 6, bidirectional=bidirectional).eval()
    x = torch.randn(2, 5, 8, 12, 12) * 3  # large pre-activations reach tanh's flat ends
    if channels_last:
        x = x.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (2, 5))
    index = torch.arange(-2, 7) % 5
    with torch.enable_grad():
        reference = layer(x, index).detach()
    with torch.inference_mode():
        fast = layer(x, index)
    with torch.no_grad():
        assert torch.equal(layer(x, index), fast)
    assert fast.shape == reference.shape
    assert (fast - reference).abs().max() < 1e-5


@pytest.mark.parametrize("channels_last", [False, True])
def test_inference_steps_stay_in_the_input_layout(channels_last):
    layer = ConvLSTM(4, 3).eval()
    x = torch.randn(2, 4, 4, 6, 6)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x = x.flatten(0, 1).contiguous(memory_format=layout).unflatten(0, (2, 4))
    with torch.inference_mode():
        out = layer(x)
    assert all(out[:, step].is_contiguous(memory_format=layout) for step in range(4))


def test_inference_step_equals_tanh_form():
    gates = torch.linspace(-30, 30, 4 * 3 * 50).reshape(1, 12, 5, 10)
    c = torch.linspace(-20, 20, 3 * 50).reshape(1, 3, 5, 10)
    doubled_g = gates.clone()
    doubled_g[:, 6:9] *= 2  # the cell-input gate block, as the sigmoid form's weights give it
    h_ref, c_ref = _update(gates, c)
    h0_ref, c0_ref = _update(gates, None)
    with torch.inference_mode():
        for pre_activations, sigmoid_form in ((doubled_g, True), (gates, False)):
            h_fast = torch.empty_like(c)
            c_fast = _step_in_place(pre_activations, c.clone(), h_fast, sigmoid_form)
            assert torch.allclose(c_fast, c_ref, atol=1e-6) and torch.allclose(h_fast, h_ref, atol=1e-6)
            assert torch.isfinite(h_fast).all()
            c_first = _step_in_place(pre_activations, None, h_fast, sigmoid_form)
            assert torch.allclose(c_first, c0_ref, atol=1e-6) and torch.allclose(h_fast, h0_ref, atol=1e-6)


def test_half_precision_keeps_tanh():
    gates = torch.linspace(-0.01, 0.01, 4 * 2 * 16, dtype=torch.bfloat16).reshape(1, 8, 4, 4)
    c = torch.linspace(-0.01, 0.01, 2 * 16, dtype=torch.bfloat16).reshape(1, 2, 4, 4)
    assert _use_sigmoid_form(gates.float()) and not _use_sigmoid_form(gates)
    h_ref, c_ref = _update(gates, c)
    h = torch.empty_like(c)
    with torch.inference_mode():
        c_new = _step_in_place(gates, c.clone(), h, _use_sigmoid_form(gates))
    assert torch.equal(c_new, c_ref) and torch.equal(h, h_ref)


def test_inference_in_bfloat16_takes_the_tanh_path_and_leaves_the_weights_alone():
    torch.manual_seed(0)
    layer = ConvLSTM(4, 3, bidirectional=True).eval().to(torch.bfloat16)
    before = {name: p.clone() for name, p in layer.state_dict().items()}
    x = torch.randn(1, 6, 4, 8, 8, dtype=torch.bfloat16)
    with torch.enable_grad():
        reference = layer(x).detach()
    with torch.inference_mode():
        fast = layer(x)
    assert fast.dtype == torch.bfloat16
    assert (fast.float() - reference.float()).abs().max() < 0.02
    assert all(torch.equal(before[name], p) for name, p in layer.state_dict().items())
