"""Convolutional LSTM (Shi et al., NeurIPS 2015): a cell, a layer, a bidirectional layer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step: all four gates from one convolution of ``[x_t, h_{t-1}]``.

    Args:
        in_channels: channels of the input ``x_t``.
        hidden_channels: channels of the hidden and cell states.
        kernel_size: odd convolution kernel size (3 in the paper).
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding=kernel_size // 2)
        with torch.no_grad():
            self.gates.bias.zero_()
            self.gates.bias[hidden_channels : 2 * hidden_channels].fill_(1.0)

    def init_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero hidden and cell state matching a (B, C, H, W) input."""
        shape = (x.shape[0], self.hidden_channels, x.shape[2], x.shape[3])
        return x.new_zeros(shape), x.new_zeros(shape)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Advance one time step.

        Args:
            x: (B, C_in, H, W) input at time t.
            state: ``(h, c)`` from time t-1, or ``None`` for zeros.

        Returns:
            The new ``(h, c)``, each (B, hidden, H, W).
        """
        h, c = self.init_state(x) if state is None else state
        return _update(self.gates(torch.cat([x, h], dim=1)), c)


class ConvLSTM(nn.Module):
    """A ConvLSTM layer over a sequence, optionally bidirectional.

    Args:
        in_channels: input channels per frame.
        hidden_channels: hidden channels per direction.
        kernel_size: convolution kernel size.
        bidirectional: run a second cell backwards in time; the two hidden sequences are
            concatenated and mixed back to ``hidden_channels`` by a 1x1 convolution.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3, bidirectional: bool = False) -> None:
        super().__init__()
        self.forward_cell = ConvLSTMCell(in_channels, hidden_channels, kernel_size)
        self.backward_cell = ConvLSTMCell(in_channels, hidden_channels, kernel_size) if bidirectional else None
        self.mix = nn.Conv2d(2 * hidden_channels, hidden_channels, 1) if bidirectional else None
        self.out_channels = hidden_channels

    @staticmethod
    def _run(
        cell: ConvLSTMCell, x: torch.Tensor, reverse: bool, time_index: torch.Tensor | None = None, keep: range | None = None
    ) -> torch.Tensor:
        """Run one cell over a (B, T, C_in, H, W) sequence; returns (B, len(keep), hidden, H, W).

        The gate convolution is linear in ``[x_t, h_{t-1}]``: its input half runs once per
        distinct frame in one batched call and only its hidden half runs per step (same
        weights and result as stepping :class:`ConvLSTMCell`). ``time_index`` (T',) orders
        the frames into the sequence actually stepped through; default: all T in order.
        ``keep`` (default: all T' steps) names the steps whose hidden states are returned;
        the cell stops once the last of them is reached in its direction.
        Without autograd this is :func:`_run_inference` (equal to float rounding).
        """
        frames = range(x.shape[1]) if time_index is None else time_index.tolist()
        keep = _checked_keep(keep, len(frames))
        if not torch.is_grad_enabled():
            return _run_inference(cell, x, reverse, frames, keep)
        b, t, in_channels = x.shape[:3]
        padding = cell.gates.padding
        w_input, w_hidden = cell.gates.weight[:, :in_channels], cell.gates.weight[:, in_channels:]
        x_gates = F.conv2d(x.flatten(0, 1), w_input, cell.gates.bias, padding=padding).unflatten(0, (b, t))
        h = c = None
        outputs: list[torch.Tensor] = [None] * len(frames)  # type: ignore[list-item]
        for step in _step_order(len(frames), reverse, keep):
            x_step = x_gates[:, frames[step]]
            gates = x_step if h is None else x_step + F.conv2d(h, w_hidden, padding=padding)
            h, c = _update(gates, c)
            outputs[step] = h
        return torch.stack(outputs[keep.start : keep.stop], dim=1)

    def forward(self, x: torch.Tensor, time_index: torch.Tensor | None = None, keep: range | None = None) -> torch.Tensor:
        """Run over time.

        Args:
            x: (B, T, C_in, H, W) sequence.
            time_index: (T',) frame indices into T giving the order stepped through, for
                example a cycle padded with frames from its other end; equal to
                ``forward(x[:, time_index])`` but with per-frame work done once per frame.
            keep: the steps (a contiguous ``range`` within T') whose hidden states are
                wanted, for example the frames of a cycle without its padding. Steps that
                no kept output depends on are not run; the result equals
                ``forward(x, time_index)[:, keep.start : keep.stop]`` to float rounding.
                Default: all.

        Returns:
            (B, len(keep), hidden, H, W) hidden states (all T' steps without ``keep``;
            T' = T without ``time_index``).
        """
        out = self._run(self.forward_cell, x, False, time_index, keep)
        if self.backward_cell is None:
            return out
        back = self._run(self.backward_cell, x, True, time_index, keep)
        b, t = out.shape[:2]
        if torch.is_grad_enabled():
            mixed = self.mix(torch.cat([out, back], dim=2).flatten(0, 1))
        else:  # the 1x1 mix split by direction: no concatenated copy of both sequences
            forward_half, backward_half = self.mix.weight.split(self.out_channels, dim=1)
            out, back = out.flatten(0, 1), back.flatten(0, 1)
            layout = _memory_format(out)
            mixed = F.conv2d(out, forward_half.contiguous(memory_format=layout), self.mix.bias)
            mixed += F.conv2d(back, backward_half.contiguous(memory_format=layout))
        return mixed.view(b, t, *mixed.shape[1:])


def _update(gates: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The LSTM state update from the four gate pre-activations; returns ``(h, c)``."""
    i, f, g, o = torch.chunk(gates, 4, dim=1)
    c = torch.sigmoid(i) * torch.tanh(g) if c is None else torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _checked_keep(keep: range | None, steps: int) -> range:
    """``keep`` as a non-empty contiguous range within ``steps`` (default: all of them)."""
    if keep is None:
        return range(steps)
    if keep.step != 1 or not 0 <= keep.start < keep.stop <= steps:
        raise ValueError(f"keep must be a non-empty contiguous range within 0..{steps}, got {keep}")
    return keep


def _step_order(steps: int, reverse: bool, keep: range | None = None) -> range:
    """Step indices in the order a cell visits them, ending at the last kept step."""
    keep = range(steps) if keep is None else keep
    return range(steps - 1, keep.start - 1, -1) if reverse else range(keep.stop)


def _run_inference(cell: ConvLSTMCell, x: torch.Tensor, reverse: bool, frames: Sequence[int], keep: range) -> torch.Tensor:
    """:meth:`ConvLSTM._run` without autograd: the same result to float rounding, faster.

    The weight halves are contiguous in the input's memory format (a strided slice sends
    small convolutions to torch's slow fallback), every hidden state is written straight
    into the output sequence, and the state is updated in place by :func:`_step_in_place`.
    On CPU in float32 the cell-input gate's weights and bias are doubled (exact in binary
    floating point), so that one sigmoid over all four gates also gives sigmoid(2g), from
    which tanh(g) = 2·sigmoid(2g) - 1.
    """
    b, t, in_channels = x.shape[:3]
    frames_in = x.flatten(0, 1)
    layout = _memory_format(frames_in)
    sigmoid_form = _use_sigmoid_form(frames_in)
    weight, bias = cell.gates.weight, cell.gates.bias
    if sigmoid_form:
        scale = torch.ones(4, cell.hidden_channels, dtype=weight.dtype, device=weight.device)
        scale[2] = 2.0
        weight, bias = weight * scale.view(-1, 1, 1, 1), bias * scale.view(-1)
    w_input = weight[:, :in_channels].contiguous(memory_format=layout)
    w_hidden = weight[:, in_channels:].contiguous(memory_format=layout)
    x_gates = F.conv2d(frames_in, w_input, bias, padding=cell.gates.padding).unflatten(0, (b, t))
    out = _sequence_buffer(x_gates[:, 0], len(frames), cell.hidden_channels, layout)
    h = c = None
    for step in _step_order(len(frames), reverse, keep):
        gates = x_gates[:, frames[step]]
        if h is not None:
            gates = F.conv2d(h, w_hidden, padding=cell.gates.padding).add_(gates)
        h = out[:, step]
        c = _step_in_place(gates, c, h, sigmoid_form)
    return out[:, keep.start : keep.stop]


def _sequence_buffer(like: torch.Tensor, steps: int, channels: int, layout: torch.memory_format) -> torch.Tensor:
    """An empty (B, steps, channels, H, W) sequence stored time-major, each step in ``layout``.

    Time-major storage keeps every step's (B, channels, H, W) slice contiguous in the
    layout, so the next step's convolution reads it without a copy.
    """
    b, _, height, width = like.shape
    if layout == torch.channels_last:
        return like.new_empty(steps, b, height, width, channels).permute(1, 0, 4, 2, 3)
    return like.new_empty(steps, b, channels, height, width).transpose(0, 1)


def _step_in_place(gates: torch.Tensor, c: torch.Tensor | None, h_out: torch.Tensor, sigmoid_form: bool) -> torch.Tensor:
    """One LSTM state update without autograd: writes h into ``h_out``, returns the new c.

    Args:
        gates: (B, 4·hidden, H, W) pre-activations i, f, g, o; with ``sigmoid_form`` the g
            block holds 2g (see :func:`_run_inference`).
        c: previous cell state, or ``None`` at the first step.
        h_out: where the new hidden state goes.
        sigmoid_form: take tanh as 2·sigmoid(2x) - 1.
    """
    if sigmoid_form:
        i, f, g, o = torch.sigmoid(gates).chunk(4, dim=1)
        g = g.mul_(2).sub_(1)
    else:
        i, f, g, o = gates.chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = g.mul_(i)
    if c is not None:
        c_new += f.mul_(c)
    tanh_c = torch.sigmoid(c_new * 2).mul_(2).sub_(1) if sigmoid_form else torch.tanh(c_new)
    torch.mul(tanh_c, o, out=h_out)
    return c_new


def _use_sigmoid_form(x: torch.Tensor) -> bool:
    """Whether tanh pays to be taken as 2·sigmoid(2x) - 1: on CPU in float32.

    There torch's tanh costs about four sigmoids; the identity is exact in real arithmetic
    and differs by float rounding (< 1e-6). GPUs and lower precision types keep tanh.
    """
    return x.device.type == "cpu" and x.dtype == torch.float32


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    """channels_last when a 4D tensor is stored so, else contiguous (for matching weights)."""
    return torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous() else torch.contiguous_format
