"""The four networks of the NED emotion manipulator (a recurrent StarGAN v2 on expression sequences).

Submodules are named exactly as in the official checkpoints (``seq1``, ``LSTM``, ``seq2`` for the
generator, style encoder and discriminator; ``shared`` / ``unshared`` for the mapping network) and
the ReLUs sit inside the ``nn.Sequential`` blocks, so parameter keys (``seq1.0.weight``,
``seq2.4.bias``, ``unshared.3.2.weight`` ...) match the released ``*_nets.pth`` files one to one.
Widths come from ``NetworkSizes`` (paper sizes by default).

Shapes: expression sequences are (B, T, 51), styles (B, 16) or, per frame, (B, T, 16); domain
labels are (B,) indices into EMOTIONS.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ned_server.domains import EMOTIONS, EXPRESSION_DIM, LATENT_DIM, STYLE_DIM
from ned_server.manipulator.config import PAPER_SIZES, NetworkSizes


def _select(per_domain: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Row b of ``per_domain`` (B, K, ...) at domain ``y[b]``."""
    return per_domain[torch.arange(per_domain.shape[0], device=per_domain.device), y]


def _flatten(lstm: nn.LSTM) -> None:
    # Contiguous weights make cuDNN fast; elsewhere the call is pointless.
    if lstm.weight_ih_l0.is_cuda:
        lstm.flatten_parameters()


class Generator(nn.Module):
    """G(s, d): translate an expression sequence to the style d (concatenated to every frame).

    The output is the new sequence itself, not a residual, as in the paper.
    """

    def __init__(self, sizes: NetworkSizes = PAPER_SIZES, style_dim: int = STYLE_DIM,
                 expression_dim: int = EXPRESSION_DIM) -> None:
        super().__init__()
        h, lstm, head = sizes.gen_hidden, sizes.gen_lstm, sizes.gen_head
        self.seq1 = nn.Sequential(nn.Linear(expression_dim + style_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.LSTM = nn.LSTM(h, lstm, sizes.lstm_layers, batch_first=True, bidirectional=True)
        self.seq2 = nn.Sequential(nn.Linear(2 * lstm, head), nn.ReLU(), nn.Linear(head, head), nn.ReLU(),
                                  nn.Linear(head, expression_dim))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if style.dim() == 2:  # one style for the whole window
            style = style[:, None, :].expand(-1, x.shape[1], -1)
        _flatten(self.LSTM)
        h, _ = self.LSTM(self.seq1(torch.cat([x, style], dim=2)))
        return self.seq2(h)


class _RecurrentEncoder(nn.Module):
    """The trunk shared by the style encoder and the discriminator: per-frame outputs, mean over time."""

    def __init__(self, out_dim: int, sizes: NetworkSizes, expression_dim: int = EXPRESSION_DIM) -> None:
        super().__init__()
        a, b = sizes.enc_hidden
        c, d = sizes.enc_head
        self.seq1 = nn.Sequential(nn.Linear(expression_dim, a), nn.ReLU(), nn.Linear(a, b), nn.ReLU())
        self.LSTM = nn.LSTM(b, sizes.enc_lstm, sizes.lstm_layers, batch_first=True, bidirectional=True)
        self.seq2 = nn.Sequential(nn.Linear(2 * sizes.enc_lstm, c), nn.ReLU(), nn.Linear(c, d), nn.ReLU(),
                                  nn.Linear(d, out_dim))

    def per_frame(self, x: torch.Tensor) -> torch.Tensor:
        _flatten(self.LSTM)
        h, _ = self.LSTM(self.seq1(x))
        return self.seq2(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.per_frame(x).mean(dim=1)


class StyleEncoder(_RecurrentEncoder):
    """E(s): the style of a sequence, with no emotion label needed."""

    def __init__(self, sizes: NetworkSizes = PAPER_SIZES, style_dim: int = STYLE_DIM) -> None:
        super().__init__(style_dim, sizes)


class Discriminator(_RecurrentEncoder):
    """D(s, y): one realness score per domain; the branch of the domain in question is returned."""

    def __init__(self, sizes: NetworkSizes = PAPER_SIZES, num_domains: int = len(EMOTIONS)) -> None:
        super().__init__(num_domains, sizes)

    def all_domains(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)  # (B, K)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _select(self.all_domains(x), y)


class MappingNetwork(nn.Module):
    """M_y(z): a latent code to the style of domain y, one output branch per domain."""

    def __init__(self, sizes: NetworkSizes = PAPER_SIZES, latent_dim: int = LATENT_DIM,
                 style_dim: int = STYLE_DIM, num_domains: int = len(EMOTIONS)) -> None:
        super().__init__()
        h = sizes.map_hidden
        self.shared = nn.Sequential(nn.Linear(latent_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(),
                                    nn.Linear(h, h), nn.ReLU())
        self.unshared = nn.ModuleList(
            nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, style_dim)) for _ in range(num_domains)
        )

    def all_domains(self, z: torch.Tensor) -> torch.Tensor:
        h = self.shared(z)
        return torch.stack([branch(h) for branch in self.unshared], dim=1)  # (B, K, style)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return _select(self.all_domains(z), y)


NET_NAMES = ("generator", "mapping_network", "style_encoder", "discriminator")


class ManipulatorNetworks(nn.Module):
    """The four networks together; attribute names are the checkpoint's top-level keys."""

    def __init__(self, sizes: NetworkSizes = PAPER_SIZES, emotions: Sequence[str] = EMOTIONS,
                 with_discriminator: bool = True) -> None:
        super().__init__()
        self.sizes = sizes
        self.emotions = tuple(emotions)
        k = len(self.emotions)
        self.generator = Generator(sizes)
        self.mapping_network = MappingNetwork(sizes, num_domains=k)
        self.style_encoder = StyleEncoder(sizes)
        self.discriminator: Discriminator | None = Discriminator(sizes, k) if with_discriminator else None

    def named_nets(self) -> dict[str, nn.Module]:
        nets: dict[str, nn.Module] = {"generator": self.generator, "mapping_network": self.mapping_network,
                                      "style_encoder": self.style_encoder}
        if self.discriminator is not None:
            nets["discriminator"] = self.discriminator
        return nets


def he_init(module: nn.Module) -> None:
    """Kaiming-normal weights and zero biases on linear layers (the StarGAN v2 initialisation)."""
    if isinstance(module, nn.Linear):
        nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
