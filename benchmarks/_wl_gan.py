"""A tiny GAN on a ring of eight 2-D Gaussians, in torch, for the workload benchmark.

Generator and discriminator are two-layer MLPs trained with the non-saturating loss (Goodfellow
et al. 2014) and Adam(0.5, 0.999), the DCGAN recipe. The discriminator loss is the sum of its real
and fake binary cross-entropies (2 ln 2 at the start), the generator loss BCE(D(G(z)), 1) (ln 2).
The knobs the benchmark misuses are the two learning rates, discriminator steps per generator
step and the two networks' widths.

``train(spec, seed)`` returns a :class:`GanTrace`: the losses a script logs every ``log_every``
steps, and, for the label checks, the discriminator's accuracy on fresh real and generated samples
and the share of generated samples that land on a mode (both measured, not read off the losses).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MODES, RADIUS, SD = 8, 2.0, 0.05


@dataclass(frozen=True)
class GanSpec:
    steps: int = 600
    batch: int = 64
    g_lr: float = 1e-3
    d_lr: float = 1e-3
    d_steps: int = 1
    g_hidden: int = 32
    d_hidden: int = 32
    z_dim: int = 4
    log_every: int = 10


@dataclass
class GanTrace:
    steps: list[int] = field(default_factory=list)
    d_loss: list[float] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    d_acc: list[tuple[int, float]] = field(default_factory=list)  # (step, accuracy on fresh samples)
    on_mode: list[tuple[int, float]] = field(default_factory=list)  # (step, share of samples on a mode)


def ring(n: int, rng: np.random.Generator) -> np.ndarray:
    k = rng.integers(0, MODES, n)
    ang = 2 * np.pi * k / MODES
    return np.stack([RADIUS * np.cos(ang), RADIUS * np.sin(ang)], 1) + rng.normal(0, SD, (n, 2))


def _on_mode(x: np.ndarray) -> float:
    k = np.round(np.arctan2(x[:, 1], x[:, 0]) / (2 * np.pi / MODES)) % MODES
    centre = np.stack([RADIUS * np.cos(2 * np.pi * k / MODES), RADIUS * np.sin(2 * np.pi * k / MODES)], 1)
    return float((np.linalg.norm(x - centre, axis=1) < 5 * SD).mean())


def train(spec: GanSpec, seed: int) -> GanTrace:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    nn = torch.nn
    G = nn.Sequential(nn.Linear(spec.z_dim, spec.g_hidden), nn.ReLU(), nn.Linear(spec.g_hidden, spec.g_hidden), nn.ReLU(), nn.Linear(spec.g_hidden, 2))
    D = nn.Sequential(nn.Linear(2, spec.d_hidden), nn.LeakyReLU(0.2), nn.Linear(spec.d_hidden, spec.d_hidden), nn.LeakyReLU(0.2), nn.Linear(spec.d_hidden, 1))
    opt_g = torch.optim.Adam(G.parameters(), spec.g_lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), spec.d_lr, betas=(0.5, 0.999))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    tr = GanTrace()

    def real(n: int) -> "torch.Tensor":
        return torch.as_tensor(ring(n, rng), dtype=torch.float32)

    for step in range(spec.steps):
        for _ in range(spec.d_steps):
            fake = G(torch.randn(spec.batch, spec.z_dim)).detach()
            out_r, out_f = D(real(spec.batch)), D(fake)
            l_real, l_fake = bce(out_r, torch.ones_like(out_r)), bce(out_f, torch.zeros_like(out_f))
            opt_d.zero_grad()
            (l_real + l_fake).backward()
            opt_d.step()
        out = D(G(torch.randn(spec.batch, spec.z_dim)))
        g_loss = bce(out, torch.ones_like(out))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if step % spec.log_every == 0 or step == spec.steps - 1:
            tr.steps.append(step)
            tr.d_real.append(l_real.item())
            tr.d_fake.append(l_fake.item())
            tr.d_loss.append(l_real.item() + l_fake.item())
            tr.g_loss.append(g_loss.item())
        if step % (5 * spec.log_every) == 0 or step == spec.steps - 1:
            with torch.no_grad():
                xs = G(torch.randn(500, spec.z_dim))
                acc = 0.5 * (float((D(real(500)) > 0).float().mean()) + float((D(xs) <= 0).float().mean()))
            tr.d_acc.append((step, acc))
            tr.on_mode.append((step, _on_mode(xs.numpy())))
    return tr
