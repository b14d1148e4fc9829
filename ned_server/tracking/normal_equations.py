"""The exact solve of the shot fit's Gauss-Newton system: block-banded in time, plus the shared identity.

The system's unknowns are every tracked frame's k parameters and the identity's S coefficients.
Its matrix has three parts: a dense k x k block per frame (that frame's landmarks), couplings
between frames one and two apart that are diagonal in the parameters (the squared second
differences of the temporal smoothness), and the identity, which touches every frame (an "arrow").

Why a direct solve: the smoothness couples the frames strongly exactly where the landmarks leave
the problem flat (the identity/expression and head-turn/asymmetry valleys), so conjugate gradients
preconditioned per frame stall far from the step. Taken two frames at a time, the per-frame part is
block tridiagonal, and a block Cholesky factorisation solves it in O(T k^3): linear in the shot's
length, milliseconds for a 60-frame shot. The identity is then eliminated by its Schur complement
(S right-hand sides through the same factor, then one S x S Cholesky).

Written in torch rather than with LAPACK's band routines (scipy): torch's thread pool is the one the
server already sizes, while a second BLAS thread pool spinning against it on a busy CPU made the
band factorisation a hundred times slower.
"""

from __future__ import annotations

import torch


def _pair_blocks(blocks: torch.Tensor, off1: torch.Tensor, off2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Diagonal (P, 2k, 2k) and sub-diagonal (P - 1, 2k, 2k) blocks of the system taken two frames at a time.

    ``blocks`` (B, k, k) with B even; ``off1`` (B - 1, k) couples frame t with t + 1 and ``off2``
    (B - 2, k) frame t with t + 2, parameter by parameter.
    """
    n, k, _ = blocks.shape
    pairs = n // 2
    eye = torch.diag_embed
    diag = blocks.new_zeros(pairs, 2 * k, 2 * k)
    diag[:, :k, :k] = blocks[0::2]
    diag[:, k:, k:] = blocks[1::2]
    o1 = eye(off1[0::2])  # frame 2p with 2p + 1
    diag[:, k:, :k] = o1
    diag[:, :k, k:] = o1
    sub = blocks.new_zeros(max(pairs - 1, 0), 2 * k, 2 * k)  # rows: frames 2p + 2, 2p + 3; columns 2p, 2p + 1
    if pairs > 1:
        sub[:, :k, :k] = eye(off2[0::2][: pairs - 1])  # 2p + 2 with 2p
        sub[:, :k, k:] = eye(off1[1::2][: pairs - 1])  # 2p + 2 with 2p + 1
        sub[:, k:, k:] = eye(off2[1::2][: pairs - 1])  # 2p + 3 with 2p + 1
    return diag, sub


def block_tridiagonal_solve(diag: torch.Tensor, sub: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Solve the symmetric positive definite block-tridiagonal system for (P, m, R) right-hand sides.

    Block Cholesky: L_i = chol(D_i - M_i M_i^T) with M_i = C_{i-1} L_{i-1}^-T, then the two
    triangular sweeps. Raises torch.linalg.LinAlgError when the system is not positive definite.
    """
    pairs = diag.shape[0]
    chol: list[torch.Tensor] = []
    lower: list[torch.Tensor] = []  # M_i for i >= 1
    y: list[torch.Tensor] = []
    for i in range(pairs):
        d = diag[i]
        b = rhs[i]
        if i:
            m = torch.linalg.solve_triangular(chol[-1], sub[i - 1].T, upper=False).T
            lower.append(m)
            d = d - m @ m.T
            b = b - m @ y[-1]
        factor = torch.linalg.cholesky(d)
        chol.append(factor)
        y.append(torch.linalg.solve_triangular(factor, b, upper=False))
    out: list[torch.Tensor] = [rhs.new_zeros(0)] * pairs
    for i in range(pairs - 1, -1, -1):
        b = y[i] if i == pairs - 1 else y[i] - lower[i].T @ out[i + 1]
        out[i] = torch.linalg.solve_triangular(chol[i].T, b, upper=True)
    return torch.stack(out)


def solve_arrow(blocks: torch.Tensor, off1: torch.Tensor, off2: torch.Tensor, cross: torch.Tensor,
                hss: torch.Tensor, bx: torch.Tensor, bs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve [[H_xx, C], [C^T, H_ss]] (dx, ds) = (bx, bs).

    H_xx: ``blocks`` (B, k, k) per frame, plus ``off1`` (B - 1, k) between frames t and t + 1 and
    ``off2`` (B - 2, k) between t and t + 2, diagonal in the parameters. C: ``cross`` (B, k, S);
    ``hss`` (S, S); ``bx`` (B, k); ``bs`` (S,). Returns dx (B, k) and ds (S,).
    """
    n, k, _ = blocks.shape
    n_s = hss.shape[0]
    if n % 2:  # pad with one uncoupled dummy frame (identity block, zero right-hand side)
        eye = torch.eye(k, dtype=blocks.dtype, device=blocks.device)
        blocks = torch.cat([blocks, eye[None]])
        off1 = torch.cat([off1, off1.new_zeros(1, k)])
        off2 = torch.cat([off2, off2.new_zeros(1, k)])
        cross = torch.cat([cross, cross.new_zeros(1, k, n_s)])
        bx = torch.cat([bx, bx.new_zeros(1, k)])
    diag, sub = _pair_blocks(blocks, off1.reshape(-1, k), off2.reshape(-1, k))
    pairs = diag.shape[0]
    c = cross.reshape(pairs, 2 * k, n_s)
    rhs = torch.cat([bx.reshape(pairs, 2 * k, 1), c], dim=2)
    sol = block_tridiagonal_solve(diag, sub, rhs)
    y = sol[..., 0].reshape(-1)
    if n_s == 0:
        return y.reshape(-1, k)[:n], bx.new_zeros(0)
    hinv_c = sol[..., 1:].reshape(-1, n_s)
    c = c.reshape(-1, n_s)
    schur = hss - c.T @ hinv_c
    ds = torch.cholesky_solve((bs - c.T @ y)[:, None], torch.linalg.cholesky(schur))[:, 0]
    dx = y - hinv_c @ ds
    return dx.reshape(-1, k)[:n], ds
