"""TV-L1 optical flow in PyTorch: OpenCV's Dual TV-L1, batched over frame pairs, on CPU or CUDA.

The algorithm is Zach, Pock and Bischof's duality-based TV-L1 (DAGM 2007) in the form of
Sánchez, Meinhardt-Llopis and Facciolo (IPOL 2013), with the choices of OpenCV's
``DualTVL1OpticalFlow`` (the estimator the project's ``tvl1`` method calls), so that the two agree
to a fraction of a pixel:

- intensities in 0..255; a pyramid of ``nscales`` levels, each ``scaleStep`` times the last,
  resized bilinearly with OpenCV's pixel-centre mapping and sizes rounded to the nearest pixel;
  coarser levels stop at 16 pixels;
- per level ``warps`` warps of the second image and of its centred gradient (bicubic, Keys'
  a = -0.75, zero outside the image: OpenCV's ``remap``, which the tests check to 1e-3);
- per warp up to ``outerIterations`` rounds of a 5x5 median filter of the flow followed by up to
  ``innerIterations`` primal-dual steps (thresholding, divergence, flow update, dual update), a
  pair stopping when the squared change of its flow summed over its pixels falls below
  ``epsilon^2 * pixels`` (each pair of a batch stops on its own, as it would alone);
- the flow of a level is resized bilinearly to the next and divided by ``scaleStep``.

Every step is a tensor operation over the whole batch ``(B, H, W)``: no loop over pixels, and on a
GPU hundreds of pairs advance together. ``gamma`` (OpenCV's illumination term) is not supported.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def tvl1(i0: torch.Tensor, i1: torch.Tensor, params: dict) -> torch.Tensor:
    """Flow from ``i0`` to ``i1`` for a batch of greyscale pairs.

    Args:
        i0: ``(B, H, W)`` first frames, intensities 0..255 (any real dtype; computed in float32).
        i1: ``(B, H, W)`` second frames, on the same device.
        params: OpenCV's parameter names: ``tau, lambda_, theta, nscales, warps, epsilon,
            innnerIterations, outerIterations, scaleStep, gamma, medianFiltering``.

    Returns:
        float32 ``(B, 2, H, W)``: ``[:, 0]`` dx, ``[:, 1]`` dy in pixels (pixel ``(x, y)`` of
        ``i0`` is at ``(x + dx, y + dy)`` in ``i1``).
    """
    if i0.shape != i1.shape or i0.dim() != 3:
        raise ValueError(
            f"expected two (B, H, W) batches, got {tuple(i0.shape)}, {tuple(i1.shape)}"
        )
    if params["gamma"] != 0:
        raise ValueError("tvl1-torch does not support gamma != 0 (OpenCV's illumination term)")
    if int(params["medianFiltering"]) not in (0, 1, 5):
        raise ValueError("tvl1-torch filters with a 5x5 median (medianFiltering=5) or none (1)")
    if min(i0.shape[1:]) < 3:
        raise ValueError(f"frames of {tuple(i0.shape[1:])} pixels are too small for TV-L1")
    step = float(params["scaleStep"])
    levels = [(i0.float(), i1.float())]
    for _ in range(1, int(params["nscales"])):
        a, b = levels[-1]
        size = (round(a.shape[1] * step), round(a.shape[2] * step))
        if min(size) < 16:
            break
        levels.append((_resize(a, size, step), _resize(b, size, step)))
    b, h, w = levels[-1][0].shape
    u = i0.new_zeros((2, b, h, w), dtype=torch.float32)
    for k in range(len(levels) - 1, -1, -1):
        u = _one_scale(*levels[k], u, params)
        if k:
            # dsize given: OpenCV maps with the actual size ratio, then scales by 1 / scaleStep.
            u = _resize(u.flatten(0, 1), levels[k - 1][0].shape[1:], None).unflatten(0, (2, b))
            u = u / step
    return u.transpose(0, 1).contiguous()


def _resize(x: torch.Tensor, size: tuple[int, int], scale: float | None) -> torch.Tensor:
    """Bilinear resize of ``(N, H, W)`` as OpenCV's ``INTER_LINEAR`` (replicated border).

    ``scale`` is the factor OpenCV was given (it maps with it rather than the size ratio).
    """
    ry = _interp_matrix(x.shape[1], size[0], scale, x.device)
    rx = _interp_matrix(x.shape[2], size[1], scale, x.device)
    return ry @ x @ rx.T


def _interp_matrix(n_in: int, n_out: int, scale: float | None, device) -> torch.Tensor:
    """``(n_out, n_in)`` weights of 1-D linear interpolation at OpenCV's pixel-centre positions."""
    ratio = 1 / scale if scale is not None else n_in / n_out
    pos = (torch.arange(n_out, dtype=torch.float64) + 0.5) * ratio - 0.5
    lo = torch.floor(pos)
    frac = pos - lo
    lo = lo.long()
    # OpenCV clamps at the borders: below 0 the first pixel, beyond the last the last.
    frac = torch.where(lo < 0, torch.zeros_like(frac), frac)
    lo = lo.clamp(min=0)
    frac = torch.where(lo >= n_in - 1, torch.zeros_like(frac), frac)
    lo = lo.clamp(max=n_in - 1)
    hi = (lo + 1).clamp(max=n_in - 1)
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    m.index_put_((rows, lo), 1 - frac, accumulate=True)
    m.index_put_((rows, hi), frac, accumulate=True)
    return m.to(device=device, dtype=torch.float32)


def _centred_gradient(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Half the difference of the neighbours, borders replicated: ``(N, H, W)`` twice."""
    p = F.pad(x[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]
    return 0.5 * (p[:, 1:-1, 2:] - p[:, 1:-1, :-2]), 0.5 * (p[:, 2:, 1:-1] - p[:, :-2, 1:-1])


def _forward_gradient(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences, zero in the last column (x) and row (y)."""
    gx, gy = torch.zeros_like(u), torch.zeros_like(u)
    gx[..., :, :-1] = u[..., :, 1:] - u[..., :, :-1]
    gy[..., :-1, :] = u[..., 1:, :] - u[..., :-1, :]
    return gx, gy


def _divergence(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Backward differences with zero beyond the first row and column (adjoint of the above)."""
    div = px + py
    div[..., :, 1:] -= px[..., :, :-1]
    div[..., 1:, :] -= py[..., :-1, :]
    return div


def _median5(u: torch.Tensor) -> torch.Tensor:
    """5x5 median of ``(..., H, W)``, borders replicated (OpenCV's ``medianBlur``).

    Forgetful selection on the 25 shifted views (min/max only, no sort and no 25-fold copy, five
    times faster than ``Tensor.median`` on a CPU): of 14 values the smallest and largest cannot be
    the 13th of 25, so both are dropped and the next value taken in, until one remains.
    """
    h, w = u.shape[-2:]
    flat = u.reshape(-1, 1, h, w)
    padded = F.pad(flat, (2, 2, 2, 2), mode="replicate")[:, 0]
    views = [padded[:, dy : dy + h, dx : dx + w] for dy in range(5) for dx in range(5)]
    kept, rest = views[:14], views[14:]
    while True:
        for i in range(1, len(kept)):  # the smallest to the front
            kept[0], kept[i] = torch.minimum(kept[0], kept[i]), torch.maximum(kept[0], kept[i])
        for i in range(1, len(kept) - 1):  # the largest to the back
            kept[i], kept[-1] = torch.minimum(kept[i], kept[-1]), torch.maximum(kept[i], kept[-1])
        kept = kept[1:-1]
        if not rest:
            return kept[0].reshape(u.shape)
        kept.append(rest.pop(0))


def _warp(images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Sample ``images`` ``(B, C, H, W)`` at ``(x + u[0], y + u[1])``, bicubic, zero outside."""
    _, _, h, w = images.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, device=u.device, dtype=torch.float32),
        torch.arange(w, device=u.device, dtype=torch.float32),
        indexing="ij",
    )
    x, y = xs + u[0], ys + u[1]
    grid = torch.stack((2 * x / max(w - 1, 1) - 1, 2 * y / max(h - 1, 1) - 1), dim=-1)
    return F.grid_sample(images, grid, mode="bicubic", padding_mode="zeros", align_corners=True)


def _one_scale(i0: torch.Tensor, i1: torch.Tensor, u: torch.Tensor, params: dict) -> torch.Tensor:
    """TV-L1 on one pyramid level, starting from the flow ``u`` ``(2, B, H, W)``."""
    b, h, w = i0.shape
    theta = float(params["theta"])
    l_t = float(params["lambda_"]) * theta
    taut = float(params["tau"]) / theta
    stop = float(params["epsilon"]) ** 2 * h * w
    median = int(params["medianFiltering"]) > 1
    ix, iy = _centred_gradient(i1)
    stack = torch.stack((i1, ix, iy), dim=1)
    u = u.clone()
    p = u.new_zeros((2, 2, b, h, w))  # p[k, d]: dual variable of flow component k, direction d
    for _ in range(int(params["warps"])):
        i1w, wx, wy = _warp(stack, u).unbind(1)
        grad = wx * wx + wy * wy
        rho_c = i1w - wx * u[0] - wy * u[1] - i0
        # Where |grad I1| vanishes, the thresholding step moves nothing (wx = wy = 0 there).
        inv_grad = 1 / grad.clamp(min=torch.finfo(torch.float32).tiny)
        # The pairs still iterating, and their state: a pair that has stopped leaves the working
        # set, so the batch costs the sum of its pairs' iterations, not the slowest pair's times B.
        idx = torch.arange(b, device=u.device)
        ua, pa, wa, ra, ga = u, p, torch.stack((wx, wy)), rho_c, inv_grad
        for _ in range(int(params["outerIterations"])):
            if median:
                ua = _median5(ua)
            for _ in range(int(params["innnerIterations"])):
                rho = ra + wa[0] * ua[0] + wa[1] * ua[1]
                v = ua + (-rho * ga).clamp(-l_t, l_t) * wa
                new = v + theta * _divergence(pa[:, 0], pa[:, 1])
                going = (new - ua).square().sum(dim=(0, 2, 3)) > stop
                ua = new
                gx, gy = _forward_gradient(ua)  # (2, b, H, W) each
                norm = (1 + taut * torch.hypot(gx, gy))[:, None]
                pa = (pa + taut * torch.stack((gx, gy), dim=1)) / norm  # (2, 2, b, H, W)
                if not bool(going.all()):
                    u[:, idx], p[:, :, idx] = ua, pa
                    idx, ua, pa = idx[going], ua[:, going], pa[:, :, going]
                    wa, ra, ga = wa[:, going], ra[going], ga[going]
                if not len(idx):
                    break
            if not len(idx):
                break
        u[:, idx], p[:, :, idx] = ua, pa
    return u


def grey(frames: torch.Tensor) -> torch.Tensor:
    """uint8 RGB ``(..., H, W, 3)`` to greyscale 0..255 ``(..., H, W)``, rounded as OpenCV does.

    OpenCV's ``COLOR_RGB2GRAY`` on 8 bits is fixed-point (15 bits, checked bit-exact in the tests):
    ``(9798 R + 19235 G + 3735 B + 2^14) >> 15``.
    """
    c = frames.to(torch.int32)
    y = (c[..., 0] * 9798 + c[..., 1] * 19235 + c[..., 2] * 3735 + 16384) >> 15
    return y.to(torch.float32)


def pairs_per_batch(h: int, w: int, device: torch.device | str) -> int:
    """How many ``(H, W)`` pairs to solve at once: ~256 MB of buffers on a CPU, ~4 GB on a GPU."""
    budget = 4 * 2**30 if torch.device(device).type == "cuda" else 256 * 2**20
    per_pair = 60 * h * w * 4  # float32 buffers alive at the finest level, with headroom
    return max(1, min(256, math.floor(budget / per_pair)))
