"""Convolutional LSTM (Shi et al., NeurIPS 2015): a cell, a layer, a bidirectional layer."""

from __future__ import annotations

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
    def _run(cell: ConvLSTMCell, x: torch.Tensor, reverse: bool, time_index: torch.Tensor | None = None) -> torch.Tensor:
        """Run one cell over a (B, T, C_in, H, W) sequence; returns (B, T', hidden, H, W).

        The gate convolution is linear in ``[x_t, h_{t-1}]``: its input half runs once per
        distinct frame in one batched call and only its hidden half runs per step (same
        weights and result as stepping :class:`ConvLSTMCell`). ``time_index`` (T',) orders
        the frames into the sequence actually stepped through; default: all T in order.
        Without autograd the step runs :func:`_update_in_place` on contiguous weight halves
        (equal to float rounding).
        """
        b, t = x.shape[:2]
        in_channels = x.shape[2]
        weight, bias = cell.gates.weight, cell.gates.bias
        padding = cell.gates.padding
        inference = not torch.is_grad_enabled()
        frames_in = x.flatten(0, 1)
        w_input, w_hidden = weight[:, :in_channels], weight[:, in_channels:]
        if inference:
            layout = _memory_format(frames_in)
            w_input, w_hidden = w_input.contiguous(memory_format=layout), w_hidden.contiguous(memory_format=layout)
        update = _update_in_place if inference else _update
        x_gates = F.conv2d(frames_in, w_input, bias, padding=padding)
        x_gates = x_gates.unflatten(0, (b, t))
        frames = range(t) if time_index is None else time_index.tolist()
        steps = range(len(frames) - 1, -1, -1) if reverse else range(len(frames))
        h = c = None
        outputs: list[torch.Tensor] = [None] * len(frames)  # type: ignore[list-item]
        for step in steps:
            x_step = x_gates[:, frames[step]]
            gates = x_step if h is None else x_step + F.conv2d(h, w_hidden, padding=padding)
            h, c = update(gates, c)
            outputs[step] = h
        return torch.stack(outputs, dim=1)

    def forward(self, x: torch.Tensor, time_index: torch.Tensor | None = None) -> torch.Tensor:
        """Run over time.

        Args:
            x: (B, T, C_in, H, W) sequence.
            time_index: (T',) frame indices into T giving the order stepped through, for
                example a cycle padded with frames from its other end; equal to
                ``forward(x[:, time_index])`` but with per-frame work done once per frame.

        Returns:
            (B, T', hidden, H, W) hidden states at every step (T' = T without ``time_index``).
        """
        out = self._run(self.forward_cell, x, False, time_index)
        if self.backward_cell is None:
            return out
        back = self._run(self.backward_cell, x, True, time_index)
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


def _update_in_place(gates: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_update` without autograd: in place, with tanh(x) as 2·sigmoid(2x) - 1 on CPU.

    On CPU torch's tanh is about four times slower than its sigmoid; the identity is exact
    in real arithmetic and differs by float rounding (< 1e-6 in float32).
    """
    i, f, g, o = torch.chunk(gates, 4, dim=1)
    c_new = torch.sigmoid(i).mul_(_tanh(g))
    if c is not None:
        c_new += torch.sigmoid(f).mul_(c)
    return _tanh(c_new).mul_(torch.sigmoid(o)), c_new


def _tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh; on CPU in float32 as 2·sigmoid(2x) - 1 (lower precision types keep tanh)."""
    if x.device.type != "cpu" or x.dtype != torch.float32:
        return torch.tanh(x)
    return torch.sigmoid(x * 2).mul_(2).sub_(1)


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    """channels_last when a 4D tensor is stored so, else contiguous (for matching weights)."""
    return torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous() else torch.contiguous_format
