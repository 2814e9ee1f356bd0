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
        i, f, g, o = torch.chunk(self.gates(torch.cat([x, h], dim=1)), 4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


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
        """
        b, t = x.shape[:2]
        in_channels = x.shape[2]
        weight, bias = cell.gates.weight, cell.gates.bias
        padding = cell.gates.padding
        x_gates = F.conv2d(x.flatten(0, 1), weight[:, :in_channels], bias, padding=padding)
        x_gates = x_gates.view(b, t, *x_gates.shape[1:])
        frames = range(t) if time_index is None else time_index.tolist()
        w_hidden = weight[:, in_channels:]
        steps = range(len(frames) - 1, -1, -1) if reverse else range(len(frames))
        h = c = None
        outputs: list[torch.Tensor] = [None] * len(frames)  # type: ignore[list-item]
        for step in steps:
            x_step = x_gates[:, frames[step]]
            gates = x_step if h is None else x_step + F.conv2d(h, w_hidden, padding=padding)
            i, f, g, o = torch.chunk(gates, 4, dim=1)
            c = torch.sigmoid(i) * torch.tanh(g) if c is None else torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
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
        mixed = self.mix(torch.cat([out, back], dim=2).flatten(0, 1))
        return mixed.view(b, t, *mixed.shape[1:])
