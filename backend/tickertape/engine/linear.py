"""The model's linear layers (`nn.Linear`, GPT-2's `Conv1D`) on prepacked oneDNN weights
(CPU).

On CPU, `F.linear` in float32 goes to MKL's sgemm, which is slow for the skinny
activations decoding has (a few rows against a wide weight) and barely uses a second
thread: on the SmolLM2-135M shape, 2 threads, it read the model's 538 MB of weights at
11 GB/s for one row, where the memory gives 30. oneDNN with each weight reordered once
into its blocked layout (what inductor's freezing pass does, `torch.ops.mkldnn`) measured
1.75x (1 row), 2.4x (8), 2.1x (32) and 1.24x (a 512-token prefill) faster over all the
model's linear layers, and the bare decode loop 1.41x / 1.63x / 1.31x at 1 / 8 / 32 rows
(docs/benchmarks.md, "Engine: linear kernels").

The modules keep their dense weights (anything that reads `.weight` still can, and
`restore` gives the model back as it was); the packed copies cost that much memory
again, so `auto` packs only when it fits. Rounding differs from MKL's in the last bits
(MKL itself rounds a row differently with 1 row than with 8); the exactness matrix
checks greedy tokens against `generate` with packing on.

Sibling layers, the linears a module calls one after another on the same input tensor
(q/k/v projections, an MLP's gate and up), share one packed weight: the first call
computes all of them in one GEMM and each sibling takes its columns. oneDNN gives every
column the same bits as the separate GEMMs (checked at 1-256 rows); the decode step is a
few percent faster (1.01-1.10x at 1-32 rows, 2 threads; benchmarks/sibling_linears.py).
Groups are found by watching one tiny forward, so nothing is assumed about module names;
a sibling called on another input still gets the right answer (the group recomputes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from transformers.pytorch_utils import Conv1D

log = logging.getLogger(__name__)

# The batch size oneDNN lays the weight out for. 32 was the fastest hint at every row
# count measured (1 to 512), not only at 32.
BATCH_HINT = 32
PACKED_DTYPES = (torch.float32, torch.bfloat16)
MEMORY_SHARE = 0.5  # auto packs only if the copies take at most this share of free memory


def can_pack(device: torch.device, dtype: torch.dtype) -> bool:
    mkldnn: bool = torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
    return device.type == "cpu" and dtype in PACKED_DTYPES and mkldnn


def _packable(model: nn.Module) -> list[tuple[nn.Module, Tensor]]:
    """Plain `nn.Linear` layers and GPT-2's `Conv1D` (a linear with the weight stored
    `[K, N]`), each with its weight as `[N, K]`. Subclasses (quantized or adapter layers)
    keep their own forward."""
    found: list[tuple[nn.Module, Tensor]] = []
    for m in model.modules():
        if type(m) is nn.Linear and m.weight.dim() == 2:
            found.append((m, m.weight))
        elif type(m) is Conv1D and m.weight.dim() == 2:
            found.append((m, m.weight.t()))
    return found


def linear_bytes(model: nn.Module) -> int:
    """Bytes of the weights packing would copy."""
    return sum(w.numel() * w.element_size() for _m, w in _packable(model))


def _packed_forward(weight: Tensor, bias: Tensor | None) -> Callable[[Tensor], Tensor]:
    dense = weight.detach().contiguous()  # [N, K]
    packed = torch.ops.mkldnn._reorder_linear_weight(dense, BATCH_HINT)

    op = torch.ops.mkldnn._linear_pointwise.default  # the overload: no lookup per call

    def forward(x: Tensor) -> Tensor:  # [..., K] -> [..., N]
        out: Tensor = op(x, packed, bias, "none", [], "")
        return out

    return forward


@dataclass(eq=False)
class _Siblings:
    """Linears sharing one packed weight `[sum N_i, K]`; `parts` are the columns of the
    last input's output that siblings have not taken yet."""

    fused: Callable[[Tensor], Tensor]
    widths: list[int]
    input: Tensor | None = None
    parts: dict[int, Tensor] = field(default_factory=dict)

    def member_forward(self, index: int) -> Callable[[Tensor], Tensor]:
        def forward(x: Tensor) -> Tensor:  # [..., K] -> [..., N_index]
            if x is not self.input or index not in self.parts:
                # Holding `x` keeps its identity from being reused by another tensor.
                self.input = x
                self.parts = dict(enumerate(self.fused(x).split_with_sizes(self.widths, dim=-1)))
            part = self.parts.pop(index)
            if not self.parts:
                self.input = None
            # Contiguous, as a linear's own output is: model code may .view() it freely.
            return part.contiguous()

        return forward


def sibling_groups(model: nn.Module, probe: Callable[[], object]) -> list[list[nn.Module]]:
    """Packable layers called back to back on the same input tensor during `probe()`
    (a tiny forward), with the same input size, dtype and bias presence. A layer called
    more than once is left alone: its calls could belong to different groups."""
    packable = {id(m): w for m, w in _packable(model)}
    calls: list[tuple[nn.Module, Tensor]] = []

    def record(module: nn.Module, args: tuple[object, ...]) -> None:
        if args and isinstance(args[0], Tensor):
            calls.append((module, args[0]))

    handles = [m.register_forward_pre_hook(record) for m in model.modules() if id(m) in packable]
    try:
        probe()
    finally:
        for h in handles:
            h.remove()
    counts: dict[int, int] = {}
    for m, _x in calls:
        counts[id(m)] = counts.get(id(m), 0) + 1

    def signature(m: nn.Module) -> tuple[object, ...]:
        w = packable[id(m)]
        return (w.shape[1], w.dtype, isinstance(getattr(m, "bias", None), Tensor))

    groups: list[list[nn.Module]] = []
    run: list[nn.Module] = []
    prev: Tensor | None = None
    for m, x in calls:
        single = counts[id(m)] == 1
        if run and not (single and x is prev and signature(m) == signature(run[0])):
            if len(run) > 1:
                groups.append(run)
            run = []
        if single:
            run.append(m)
        prev = x if single else None
    if len(run) > 1:
        groups.append(run)
    return groups


def _pack_group(members: Sequence[tuple[nn.Module, Tensor]]) -> None:
    """members: (module, weight [N_i, K]) -> one packed weight `[sum N_i, K]`."""
    biases = [m.bias.detach() for m, _w in members if isinstance(m.bias, Tensor)]
    group = _Siblings(
        _packed_forward(
            torch.cat([w.detach() for _m, w in members]), torch.cat(biases) if biases else None
        ),
        [int(w.shape[0]) for _m, w in members],
    )
    for i, (m, _w) in enumerate(members):
        m.forward = group.member_forward(i)


@dataclass
class PackedLinears:
    """The modules whose forward now runs on a packed weight; `restore` undoes it."""

    modules: list[nn.Module] = field(default_factory=list)
    groups: int = 0  # sibling groups sharing one packed weight

    def restore(self) -> None:
        for module in self.modules:
            del module.forward  # the instance attribute: the class's forward is back
        self.modules.clear()


def pack_linears(model: nn.Module, probe: Callable[[], object] | None = None) -> PackedLinears:
    """Point every linear layer of `model` (see `_packable`) at a packed copy of its
    weight; with `probe` (a tiny forward of the model), sibling layers share one."""
    packed = PackedLinears()
    weights = {id(m): (m, w) for m, w in _packable(model)}
    for members in sibling_groups(model, probe) if probe is not None else []:
        _pack_group([weights.pop(id(m)) for m in members])
        packed.modules.extend(members)
        packed.groups += 1
    for module, weight in weights.values():
        bias = module.bias if isinstance(module.bias, Tensor) else None
        module.forward = _packed_forward(weight, bias)
        packed.modules.append(module)
    return packed


def check_request(requested: str, device: str, dtype: str) -> None:
    """Before any weights load: refuse `onednn` where it can never run (ValueError)."""
    if requested != "onednn":
        return
    if not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
        raise ValueError("--linear-kernel onednn: this torch build has no oneDNN")
    if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        raise ValueError("--linear-kernel onednn runs on the CPU only (--device cpu)")
    if dtype == "float16":
        raise ValueError("--linear-kernel onednn needs float32 or bfloat16 weights")


def choose(requested: str, model: nn.Module, free_bytes: Callable[[], int]) -> bool:
    """Whether to pack: `onednn` insists (refused where it cannot run), `torch` never,
    `auto` when the device and dtype allow and the copies fit in memory."""
    param = next(model.parameters())
    possible = can_pack(param.device, param.dtype)
    if requested == "torch":
        return False
    if requested == "onednn":
        if not possible:
            raise ValueError(
                f"--linear-kernel onednn needs a CPU with oneDNN and float32 or bfloat16 "
                f"weights, not {param.dtype} on {param.device}"
            )
        return True
    if not possible:
        return False
    needed = linear_bytes(model)
    if needed > MEMORY_SHARE * free_bytes():
        log.info(
            "linear layers stay on torch's kernel: %.0f MB of packed copies do not fit",
            needed / 1e6,
        )
        return False
    return True
