"""Packed oneDNN linear layers: close to F.linear, the same for a row whatever the batch,
undone exactly, and chosen only where they can run and fit."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from tickertape.engine.linear import choose, linear_bytes, pack_linears

pytestmark = pytest.mark.skipif(
    not torch.backends.mkldnn.is_available(),  # type: ignore[no-untyped-call]
    reason="this torch build has no oneDNN",
)


class _Adapter(nn.Linear):
    """A subclass stands for quantized/adapter layers: packing must leave it alone."""


def _model(dtype: torch.dtype = torch.float32) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(96, 160), nn.Linear(160, 48, bias=False), _Adapter(48, 8)).to(
        dtype
    )


def test_packed_layers_agree_with_f_linear_and_restore_exactly() -> None:
    model = _model()
    x = torch.randn(1, 7, 96)  # [1, T, K]: the engine's packed sequence
    with torch.inference_mode():
        before = model(x)
        packed = pack_linears(model)
        assert len(packed.modules) == 2  # the two plain nn.Linear, not the subclass
        during = model(x)
        packed.restore()
        after = model(x)
    assert during.shape == before.shape
    torch.testing.assert_close(during, before, rtol=1e-5, atol=1e-5)
    assert torch.equal(after, before)
    assert "forward" not in vars(model[0])


def test_a_row_gives_the_same_bits_alone_or_in_a_batch() -> None:
    # Why packing keeps replies independent of their neighbours: MKL's sgemm rounds a
    # row differently with 1 row than with many; the packed kernel does not.
    model = _model()[:2]  # the packed layers only (the adapter stays on MKL)
    x = torch.randn(32, 96)
    with torch.inference_mode():
        pack_linears(model)
        together = model(x)
        for rows in (1, 2, 8):
            assert torch.equal(model(x[:rows]), together[:rows]), rows


def test_bfloat16_is_packed_too() -> None:
    model = _model(torch.bfloat16)
    x = torch.randn(4, 96, dtype=torch.bfloat16)
    with torch.inference_mode():
        want = model(x)
        pack_linears(model)
        got = model(x)
    torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-2)


def test_gpt2_conv1d_is_packed_with_its_weight_transposed() -> None:
    torch.manual_seed(0)
    layer = Conv1D(40, 24)  # nf=40 outputs from nx=24 inputs; weight [24, 40]
    nn.init.normal_(layer.bias)
    x = torch.randn(2, 5, 24)
    with torch.inference_mode():
        want = layer(x)
        assert len(pack_linears(layer).modules) == 1
        got = layer(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_choose() -> None:
    plenty = lambda: 1 << 40  # noqa: E731
    assert choose("auto", _model(), plenty)
    assert choose("onednn", _model(), plenty)
    assert not choose("torch", _model(), plenty)
    # auto leaves the weights alone when the copies would not fit
    assert not choose("auto", _model(), lambda: linear_bytes(_model()))
    # float16 has no packed kernel here: auto declines, onednn is refused in one line
    half = _model(torch.float16)
    assert not choose("auto", half, plenty)
    with pytest.raises(ValueError, match="onednn needs a CPU"):
        choose("onednn", half, plenty)


class _Attention(nn.Module):
    """q/k/v on one input, then an output projection on another: three siblings."""

    def __init__(self) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(32, 32), nn.Linear(32, 16), nn.Linear(32, 16)
        self.o = nn.Linear(32, 32, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.q(x), self.k(x), self.v(x)
        # .view on the last dim: what model code does with a projection's output
        mixed = q.view(*q.shape[:-1], 4, 8).flatten(-2) + torch.cat([k, v], dim=-1)
        return self.o(mixed)


def test_siblings_share_one_packed_weight_with_the_same_bits() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(_Attention(), _Attention())
    x, other = torch.randn(1, 5, 32), torch.randn(1, 5, 32)
    block = model[0]

    def probe() -> None:
        model(x[:, :2])

    with torch.inference_mode():
        want = model(x)
        alone = pack_linears(model)
        separate, k_other = model(x), block.k(other)
        alone.restore()
        packed = pack_linears(model, probe)
        assert packed.groups == 2  # q/k/v of each block; o reads another tensor
        assert len(packed.modules) == 8
        assert torch.equal(model(x), separate)  # oneDNN: the same bits per column
        assert torch.equal(model(x[:, :3]), separate[:, :3])
        # A sibling called on another input recomputes for it instead of reusing.
        assert block.q(x).is_contiguous()
        assert torch.equal(block.k(other), k_other)
        packed.restore()
        assert torch.equal(model(x), want)
    torch.testing.assert_close(separate, want, rtol=1e-5, atol=1e-5)


def test_a_layer_called_twice_is_not_grouped() -> None:
    torch.manual_seed(0)
    shared, other = nn.Linear(16, 16), nn.Linear(16, 16)

    class Twice(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # shared and other read x back to back, but shared is called again later
            return shared(x) + other(x) + shared(x * 2)

    model = Twice()
    model.shared, model.other = shared, other
    x = torch.randn(3, 16)
    with torch.inference_mode():
        packed = pack_linears(model, lambda: model(x))
        assert packed.groups == 0
        assert len(packed.modules) == 2
