"""Chunked supervised-only cross-entropy equals the full-logits loss, value and gradients."""

from __future__ import annotations

import pytest
import torch

from components.data.collator import IGNORE_INDEX
from components.train.loss import chunked_cross_entropy, full_logits_cross_entropy


def case(tokens=37, hidden=16, vocab=101, seed=0, bias=False):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(2, tokens, hidden, generator=g, dtype=torch.float64)
    w = torch.randn(vocab, hidden, generator=g, dtype=torch.float64) * 0.3
    b = torch.randn(vocab, generator=g, dtype=torch.float64) if bias else None
    labels = torch.randint(0, vocab, (2, tokens), generator=g)
    labels[torch.rand(2, tokens, generator=g) < 0.6] = IGNORE_INDEX
    return h, w, b, labels


def reference(h, w, b, labels):
    logits = h @ w.T + (b if b is not None else 0)
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, w.shape[0]), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX
    )


@pytest.mark.parametrize("chunk", [1, 5, 64, 4096])
@pytest.mark.parametrize("bias", [False, True])
def test_matches_full_logits(chunk, bias):
    h, w, b, labels = case(bias=bias)
    leaves = [x.requires_grad_(True) for x in (h, w, b) if x is not None]
    ref = reference(h, w, b, labels)
    ref_grads = torch.autograd.grad(ref, leaves)
    got = chunked_cross_entropy(h, w, labels, bias=b, chunk_size=chunk)
    got_grads = torch.autograd.grad(got, leaves)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)
    for g, r in zip(got_grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-14)


def test_frozen_head_and_sum_reduction():
    h, w, _, labels = case(seed=1)
    h.requires_grad_(True)
    n = int((labels[:, 1:] != IGNORE_INDEX).sum())
    got = chunked_cross_entropy(h, w, labels, chunk_size=3, num_items=2 * n)  # e.g. gradient accumulation
    ref = reference(h, w, None, labels) / 2
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)
    (gh,) = torch.autograd.grad(got, [h])
    (rh,) = torch.autograd.grad(ref, [h])
    torch.testing.assert_close(gh, rh, rtol=1e-10, atol=1e-14)
    assert gh[:, -1].abs().sum() == 0  # the last position predicts nothing


def test_upstream_gradient_scales():
    h, w, _, labels = case(seed=2)
    h.requires_grad_(True)
    (3.0 * chunked_cross_entropy(h, w, labels, chunk_size=4)).backward()
    (rh,) = torch.autograd.grad(3.0 * reference(h, w, None, labels), [h])
    torch.testing.assert_close(h.grad, rh, rtol=1e-10, atol=1e-14)


def test_full_logits_helper_is_the_reference():
    h, w, _, labels = case(seed=3)
    torch.testing.assert_close(full_logits_cross_entropy(h, w, labels), reference(h, w, None, labels).float())


def test_no_supervised_tokens_is_zero_with_grad():
    h, w, _, labels = case(seed=4)
    labels[:] = IGNORE_INDEX
    h.requires_grad_(True)
    loss = chunked_cross_entropy(h, w, labels)
    loss.backward()
    assert loss.item() == 0.0 and h.grad.abs().sum() == 0
