"""PyTorch adapter: gradient norms and update ratios from optimizer hooks, no per-step sync.

::

    from advisor.live.torch import Monitor

    mon = Monitor(model, optimizer, every=50, stop_on="critical")
    for step, (x, y) in enumerate(loader):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        mon.log(step, loss=loss)          # the tensor is kept on its device until the cadence
        if mon.should_stop:
            break
    mon.close()

What it records, as the reference trainers name it (SPEC §6):

* ``train/grad_norm`` — the global L2 norm of the gradients, computed on the gradients'
  device by one fused ``torch._foreach_norm`` (the per-tensor norms) and a ``vector_norm`` of
  their stack; the 0-d result stays on the device until the cadence. Every optimizer step on an
  accelerator (one asynchronous kernel). On a CPU the norm reads every gradient once more,
  synchronously, so by default it is timed and sampled to cost at most ``CPU_NORM_BUDGET``
  (0.25%) of the measured step time: every step for a model whose step is dominated by
  compute, every 10th or so for a small MLP (at most every ``MAX_GRAD_EVERY``-th); pass
  ``grad_every`` to fix the cadence;
* ``train/grad_norm/<layer>`` — per module (the parameter's name without its last part), every
  ``layer_every`` steps, combined from the same per-tensor norms on the host;
* ``train/update_ratio`` — ‖Δθ‖/‖θ‖ over all parameters, every ``layer_every`` steps (the
  pre-step hook keeps a copy of the parameters for that one step: memory of one model copy
  for the duration of ``optimizer.step``; ``update_ratio=False`` turns it off). On a CPU,
  unless ``layer_every`` is given, the copy is timed too and the layer points spaced (in
  multiples of ``every``) so they cost at most ``CPU_LAYER_BUDGET`` (0.25%) of a step.

Hooks sit on the optimizer (``register_step_pre_hook`` / ``register_step_post_hook``), not on
the module, so a ``torch.compile``'d model works unchanged. Under DDP the gradients the
optimizer sees are already all-reduced, so the norms are the global ones; only rank 0 records
and reports. With ``stop_on`` set, the ranks agree on ``should_stop`` at each cadence point (one
broadcast of one element), so every rank breaks out of the loop together: call ``log`` on every
rank with the same steps.

AMP. With ``torch.amp.GradScaler`` the usual ``scaler.step(optimizer)`` unscales the gradients
before calling ``optimizer.step`` and does not call it at all when they hold inf/NaN, so the
hooks see unscaled gradients and a skipped step is not counted as an update. Pass
``scaler=`` as well: for optimizers that unscale inside their own step (``fused=True``) the
norms are then divided by the scale on the device, and a step with non-finite gradients (one
the scaler skips) is not recorded.

Steps: values from the hooks are stamped with the step after the last one passed to ``log``
(the usual order is backward, ``optimizer.step()``, ``log``), or the optimizer step count when
``log`` was never called.
"""

from __future__ import annotations

import math
import time
from typing import Any

try:
    import torch
except ImportError as e:  # pragma: no cover - exercised only without torch
    raise ImportError("advisor.live.torch needs PyTorch: pip install training-advisor[torch]") from e

from advisor.live.monitor import Monitor as _Monitor
from advisor.live.recorder import DROP_NONFINITE, L2_BY_TAG

GRAD_TAG = "train/grad_norm"
UPDATE_TAG = "train/update_ratio"

#: On a CPU, the automatic gradient-norm cadence keeps the norms within this share of a step.
CPU_NORM_BUDGET = 0.0025
#: ... sampling at least every this many steps, however costly the norm.
MAX_GRAD_EVERY = 64
#: The automatic cadence on a CPU until the first timings are in.
CPU_START_GRAD_EVERY = 4
#: On a CPU, the update ratio (a copy of the parameters and two norms) at most this share of a
#: step: every ``every`` steps, or a multiple of it, up to ``MAX_LAYER_MULT`` times.
CPU_LAYER_BUDGET = 0.0025
MAX_LAYER_MULT = 8
_clock = time.perf_counter


def _dist() -> Any:
    d = getattr(torch, "distributed", None)
    if d is not None and d.is_available() and d.is_initialized():
        return d
    return None


def layer_name(param_name: str) -> str:
    """The module a parameter belongs to: ``encoder.0.weight`` -> ``encoder.0``."""
    for prefix in ("_orig_mod.", "module."):  # torch.compile and DDP wrappers
        while param_name.startswith(prefix):
            param_name = param_name[len(prefix) :]
    head, _, _ = param_name.rpartition(".")
    return head or param_name


class GradStats:
    """Per-tensor and global gradient norms of a parameter list, on the gradients' device."""

    def __init__(self, names: dict[int, str] | None = None) -> None:
        self.names = names or {}
        self._layout: tuple[int, int, bool, bool] | None = None  # (id, len, several devices, sparse)

    def norms(self, params: list[Any]) -> tuple[list[Any], Any, list[int]] | None:
        """(per-tensor norms, global norm (0-d), indices of params that had a gradient)."""
        idx = [i for i, p in enumerate(params) if p.grad is not None]
        if not idx:
            return None
        grads = [params[i].grad for i in idx]
        lay = self._layout
        if lay is None or lay[0] != id(params) or lay[1] != len(params):  # once per parameter list
            lay = self._layout = (id(params), len(params), len({p.device for p in params}) > 1, any(g.is_sparse for g in grads))
        per = _foreach_norm(grads, lay[3])
        if lay[2]:  # model parallel: gather the few scalars on one device (async copies)
            dev = per[0].device
            per = [t.to(dev, non_blocking=True) for t in per]
        stacked = torch.stack(per)
        return per, torch.linalg.vector_norm(stacked), idx

    def layer_tags(self, params: list[Any], idx: list[int]) -> tuple[str, ...]:
        return tuple(f"{GRAD_TAG}/{layer_name(self.names.get(id(params[i]), f'param{i}'))}" for i in idx)


def _foreach_norm(grads: list[Any], sparse: bool | None = None) -> list[Any]:
    if any(g.is_sparse for g in grads) if sparse is None else sparse:
        return [torch.linalg.vector_norm((g.coalesce().values() if g.is_sparse else g).float()) for g in grads]
    try:
        return list(torch._foreach_norm(grads, 2, dtype=torch.float32))
    except (RuntimeError, TypeError, AttributeError):  # older torch without dtype=, odd layouts
        return [torch.linalg.vector_norm(g.float()) for g in grads]


class TorchTarget:
    """``act=`` on PyTorch: the learning rate through ``optimizer.param_groups`` (and the base
    rates of an attached ``lr_scheduler``), clipping in the pre-step hook, the best weights as a
    host copy of the model's ``state_dict`` (see :mod:`advisor.live.act`)."""

    def __init__(self, mon: Monitor) -> None:
        self.mon = mon

    def _params(self) -> list[Any]:
        m, opt = self.mon.model, self.mon.optimizer
        if m is not None:
            return list(m.parameters())
        return [p for g in getattr(opt, "param_groups", []) for p in g["params"]]

    def snapshot(self) -> Any:
        with torch.no_grad():
            m = self.mon.model
            if m is not None:
                return {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()}
            return [p.detach().to("cpu", copy=True) for p in self._params()]

    def restore(self, snap: Any) -> None:
        with torch.no_grad():
            if isinstance(snap, dict):
                self.mon.model.load_state_dict(snap)
            else:
                for p, v in zip(self._params(), snap):
                    p.copy_(v.to(p.device))
        opt = self.mon.optimizer
        if opt is not None:
            opt.state.clear()  # moments of the weights thrown away: start them again

    def apply(self, plan: Any, actions: Any) -> str:
        opt = self.mon.optimizer
        weights, restored = plan.weights(actions)
        if weights is not None:
            self.restore(weights)
        if plan.kind == "lr":
            if opt is None:
                return ""
            for g in opt.param_groups:
                g["lr"] = g["lr"] * plan.lr_factor
                if "initial_lr" in g:  # an lr_scheduler recomputes from these
                    g["initial_lr"] = g["initial_lr"] * plan.lr_factor
            sched = getattr(self.mon, "scheduler", None)
            if sched is not None and hasattr(sched, "base_lrs"):
                sched.base_lrs = [b * plan.lr_factor for b in sched.base_lrs]
            lr = opt.param_groups[0]["lr"]
            return f"learning rate x{plan.lr_factor:.3g} (now {float(lr):.4g}){restored}"
        if plan.kind == "clip":
            self.mon.clip_norm = plan.max_norm
            return f"gradient norm clipped to {plan.max_norm:.4g} before every step"
        return f"stopped{restored}"


def _declared(optimizer: Any) -> dict[str, Any]:
    """The optimizer's name and first learning rate, as hyperparameters the rules read (the
    user's own ``hparams`` win)."""
    try:
        out: dict[str, Any] = {"optimizer": type(optimizer).__name__}
        lr = optimizer.param_groups[0].get("lr")
        if isinstance(lr, (int, float)) and not isinstance(lr, bool):
            out["lr"] = float(lr)
        return out
    except Exception:  # no optimizer, or not a torch one
        return {}


def _on_cpu(model: Any, optimizer: Any) -> bool:
    """Whether the parameters live on the CPU (True when there is nothing to look at)."""
    params = []
    if model is not None and hasattr(model, "parameters"):
        params = list(model.parameters())[:1]
    elif optimizer is not None:
        params = [p for g in getattr(optimizer, "param_groups", []) for p in g.get("params", [])][:1]
    return not params or params[0].device.type == "cpu"


class Monitor(_Monitor):
    """The live monitor with optimizer hooks for a PyTorch model; see the module docstring.

    Args:
        model: the module (for layer names; optional — without it layers are ``param<i>``).
        optimizer: the ``torch.optim.Optimizer`` to hook (optional: without it only ``log``).
        every: steps between cadence points.
        layer_every: steps between per-layer norms and update ratios (default: ``every``).
        grad_every: steps between global gradient norms. Default: every step when the model
            lives on an accelerator (the norm is one asynchronous kernel there); on a CPU,
            timed and adapted so the norms cost at most ``CPU_NORM_BUDGET`` of the step time
            (the norm reads all gradients once more: about 2.7% of a small MLP's step).
            Pass 1 for every step anyway.
        scaler: the ``GradScaler`` when training with AMP (see the module docstring).
        grad_norms, layer_norms, update_ratio: what to record.
        rank_zero_only: under ``torch.distributed``, record and report on rank 0 only.
        **kwargs: everything :class:`advisor.live.Monitor` takes (``stop_on``, ``tee``, ...).
    """

    def __init__(
        self,
        model: Any = None,
        optimizer: Any = None,
        *,
        every: int | None = 50,
        layer_every: int | None = None,
        grad_every: int | None = None,
        scaler: Any = None,
        grad_norms: bool = True,
        layer_norms: bool = True,
        update_ratio: bool = True,
        rank_zero_only: bool = True,
        **kwargs: Any,
    ) -> None:
        dist = _dist()
        self.rank = dist.get_rank() if dist is not None else 0
        self.world_size = dist.get_world_size() if dist is not None else 1
        if rank_zero_only and self.rank != 0:
            kwargs["on_finding"] = None
            kwargs["tee"] = None
        kwargs["hparams"] = {**_declared(optimizer), **dict(kwargs.get("hparams") or {})}
        super().__init__(every=every, **kwargs)
        self.enabled = not (rank_zero_only and self.rank != 0)
        self.model = model
        self.optimizer = optimizer
        self.scaler = scaler
        self.layer_every = self._layer_base = max(1, int(layer_every or every or 50))
        self._auto_grad = grad_every is None and _on_cpu(model, optimizer)
        self._auto_layer = layer_every is None and self._auto_grad
        self._layer_cost: float | None = None  # seconds per update-ratio point (CPU, automatic)
        self._layer_spent = 0.0
        if grad_every is None:
            grad_every = CPU_START_GRAD_EVERY if self._auto_grad else 1
        self.grad_every = max(1, int(grad_every))
        self._next_grad = 0  # the optimizer step of the next global norm
        self._norm_cost: float | None = None  # seconds per norm (CPU, automatic cadence)
        self._norms_timed = 0
        self._step_time: float | None = None  # seconds between optimizer steps
        self._last_timed: float | None = None  # when _time_step last read the clock
        self._last_timed_step = 0
        self._quiet_until = 0  # optimizer steps before this one need nothing from the hooks
        self.grad_norms, self.layer_norms, self.update_ratio = grad_norms, layer_norms, update_ratio
        names = {id(p): n for n, p in model.named_parameters()} if model is not None else {}
        self._stats = GradStats(names)
        self.opt_steps = 0  # optimizer steps seen (skipped AMP steps are not seen)
        self._params: list[Any] = []
        self._params_key: tuple[int, ...] = ()
        self._before: list[Any] | None = None
        self._last_total: Any = None
        self._post_grads = False
        self._handles: list[Any] = []
        self.clip_norm: float | None = None  # set by act=: clip before every later step
        if optimizer is not None and self.enabled and (grad_norms or layer_norms or update_ratio or self.actions is not None):
            self._handles.append(optimizer.register_step_pre_hook(self._pre_step))
            self._handles.append(optimizer.register_step_post_hook(self._post_step))

    # -- hooks -----------------------------------------------------------------------------------

    def _param_list(self, opt: Any) -> list[Any]:
        key = tuple(len(g["params"]) for g in opt.param_groups)
        if key != self._params_key:
            self._params = [p for g in opt.param_groups for p in g["params"]]
            self._params_key = key
        return self._params

    def _hook_step(self) -> int:
        return self.last_logged + 1 if self.last_logged is not None else self.opt_steps

    def _layer_due(self) -> bool:
        return self.opt_steps % self.layer_every == 0

    def _grad_due(self) -> bool:
        return self.grad_norms and self.opt_steps >= self._next_grad

    def _time_norm(self, cost: float) -> None:
        """Automatic CPU cadence: fold in one norm's cost (the first, set-up included, is not)."""
        self._norms_timed += 1
        if self._norms_timed > 1:
            self._norm_cost = cost if self._norm_cost is None else 0.8 * self._norm_cost + 0.2 * cost
            self._rederive_grad_every()

    def _time_step(self) -> None:
        """Automatic CPU cadence: fold in the mean step time since the last timed step (timed
        in the pre-step hook of the steps that have work, not at every step: a clock read per step costs more,
        in a loop whose caches are full of the model, than the steps it would time)."""
        now = _clock()
        if self._last_timed is not None and self.opt_steps > self._last_timed_step:
            dt = (now - self._last_timed) / (self.opt_steps - self._last_timed_step)
            if self._step_time is None:
                self._step_time = dt
            else:  # a pause (evaluation, checkpoint) is not a slow step: cap its weight
                self._step_time = 0.7 * self._step_time + 0.3 * min(dt, 4 * self._step_time)
            self._rederive_grad_every()
        self._last_timed, self._last_timed_step = now, self.opt_steps

    def _time_layer(self, cost: float) -> None:
        """Automatic CPU cadence: space the update-ratio points by their measured cost."""
        self._layer_cost = cost if self._layer_cost is None else 0.7 * self._layer_cost + 0.3 * cost
        if self._step_time:
            base = self._layer_base
            mult = math.ceil(self._layer_cost / (CPU_LAYER_BUDGET * self._step_time * base))
            self.layer_every = base * int(min(MAX_LAYER_MULT, max(1, mult)))

    def _rederive_grad_every(self) -> None:
        if self._norm_cost is not None and self._step_time:
            every = math.ceil(self._norm_cost / (CPU_NORM_BUDGET * self._step_time))
            self.grad_every = int(min(MAX_GRAD_EVERY, max(1, every)))

    def _quiet(self) -> int:
        """The next optimizer step at which a hook has work (a norm, a layer point, a clip)."""
        if self.clip_norm is not None or self._post_grads:
            return self.opt_steps
        nxt = self._next_grad if self.grad_norms else 1 << 62
        if self.layer_norms or self.update_ratio:
            nxt = min(nxt, -(-self.opt_steps // self.layer_every) * self.layer_every)  # the next multiple
        return nxt

    def _pre_step(self, opt: Any, args: tuple, kwargs: dict) -> None:
        if self.opt_steps < self._quiet_until and not args and not kwargs and self.clip_norm is None:
            return  # most steps: nothing due (kept this short: it runs on every step)
        try:
            if self.closed:
                return
            self._last_total = None
            if self._auto_grad:
                self._time_step()
            acts = self.actions
            if acts is not None and acts.initial is None and self.opt_steps == 0:
                acts.initial = self._act_target().snapshot()  # the weights before any update
            # With a closure the gradients are computed inside step(): read them after it.
            self._post_grads = kwargs.get("closure") is not None or any(callable(a) and a is not opt for a in args)
            if not self._post_grads:
                self._record_grads(opt)
                if self.clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_([p for p in self._param_list(opt) if p.grad is not None], self.clip_norm)
            if self.update_ratio and self._layer_due():
                t0 = _clock()
                with torch.no_grad():
                    params = [p for p in self._param_list(opt) if p.grad is not None or self._post_grads]
                    self._before = [p.detach().clone() for p in params]
                self._layer_spent = _clock() - t0
        except Exception as e:
            self._before = None
            self.recorder.report_failure("grad hook", e)

    def _scaled(self, opt: Any) -> Any:
        """1/scale as a device tensor when the gradients are still scaled, else None."""
        s = self.scaler
        if s is None or not s.is_enabled():
            return None
        state = s._per_optimizer_states.get(id(opt))
        stage = state.get("stage") if state else None
        if stage is not None and getattr(stage, "name", "") == "UNSCALED":
            return None
        scale = getattr(s, "_scale", None)
        return None if scale is None else scale.double().reciprocal().float()

    def _record_grads(self, opt: Any) -> None:
        layer = self.layer_norms and self._layer_due()
        due = self._grad_due()
        if not (due or layer):
            return
        params = self._param_list(opt)
        with torch.no_grad():
            t0 = _clock() if self._auto_grad else 0.0
            got = self._stats.norms(params)
            if got is None:
                return
            if self._auto_grad:  # synchronous on a CPU: the clock sees the whole norm
                self._time_norm(_clock() - t0)
            if due:
                self._next_grad = self.opt_steps + self.grad_every
            per, total, idx = got
            inv = self._scaled(opt)
            flags = 0
            if inv is not None:
                total = total * inv.to(total.device)
            if self.scaler is not None:
                flags = DROP_NONFINITE
            step = self._hook_step()
            self._last_total = total
            if due:
                self.recorder.record(GRAD_TAG, step, total, flags)
            if layer:
                vec = torch.stack(per)
                if inv is not None:
                    vec = vec * inv.to(vec.device)
                self.recorder.record(self._stats.layer_tags(params, idx), step, vec, flags | L2_BY_TAG)

    def _post_step(self, opt: Any, args: tuple, kwargs: dict) -> None:
        if self.opt_steps < self._quiet_until and self.last_logged is not None:
            self.opt_steps += 1
            return
        step = self._hook_step()
        try:
            if self.closed:
                return
            if self._post_grads:
                self._record_grads(opt)
            before, self._before = self._before, None
            if before is not None:
                t0 = _clock()
                with torch.no_grad():
                    params = [p for p in self._param_list(opt) if p.grad is not None or self._post_grads]
                    if len(params) == len(before):
                        delta = torch._foreach_sub([p.detach() for p in params], before)
                        dn = torch.linalg.vector_norm(torch.stack(_foreach_norm(delta)))
                        pn = torch.linalg.vector_norm(torch.stack(_foreach_norm([p.detach() for p in params])))
                        ratio = dn / pn.clamp_min(torch.finfo(pn.dtype).tiny)
                        total = self._last_total
                        if self.scaler is not None and total is not None:  # a step the optimizer skipped
                            ratio = torch.where(torch.isfinite(total).to(ratio.device), ratio, torch.full_like(ratio, float("nan")))
                        self.recorder.record(UPDATE_TAG, step, ratio, DROP_NONFINITE if self.scaler is not None else 0)
                if self._auto_layer:
                    self._time_layer(self._layer_spent + _clock() - t0)
            self.opt_steps += 1
            self._quiet_until = self._quiet()
        except Exception as e:
            self._quiet_until = 0
            self.recorder.report_failure("update hook", e)
            return
        if self.last_logged is None:  # nobody calls log(): the hooks drive the cadence
            self.tick(step)

    # -- act= ------------------------------------------------------------------------------------

    def _act_target(self) -> Any:
        return TorchTarget(self)

    # -- distributed -----------------------------------------------------------------------------

    def on_step_cadence(self) -> None:
        dist = _dist()
        if dist is None or self.world_size < 2 or self.stop_on is None:
            return
        dev = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
        flag = torch.tensor([1.0 if self.should_stop else 0.0], device=dev)
        dist.broadcast(flag, src=0)
        self.should_stop = bool(flag.item() > 0)  # the one sync per cadence point, on purpose

    # -- lifecycle -------------------------------------------------------------------------------

    def remove_hooks(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def close(self) -> None:
        self.remove_hooks()
        super().close()
