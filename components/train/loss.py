"""Cross-entropy over supervised positions only, in chunks, never the full `[tokens, vocab]` logits.

The model runs without labels, returns its final (normed) hidden states and a single logit row
(`logits_to_keep=1`); the loss takes the hidden states at the positions whose next token is supervised, and projects
them through the LM head `chunk_size` rows at a time. The gradient for each chunk is computed in the same pass
(softmax minus one-hot), so at most one `[chunk, vocab]` block is alive at any time, forward or backward. On a GPU
with Liger installed, Liger's fused linear cross-entropy does the same job with a Triton kernel.
"""

from __future__ import annotations

import importlib.util

import torch
from accelerate.utils import extract_model_from_parallel
from torch import nn

from components.data.collator import IGNORE_INDEX
from components.train.packing import prepare_packed_inputs


class _ChunkedLinearCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk_size: int, scale: float):
        need_h, need_w = hidden.requires_grad, weight.requires_grad
        need_b = bias is not None and bias.requires_grad
        acc = torch.promote_types(hidden.dtype, torch.float32)  # fp32 softmax for bf16/fp16, fp64 stays fp64
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = torch.zeros_like(weight, dtype=acc) if need_w else None
        grad_b = torch.zeros_like(bias, dtype=acc) if need_b else None
        total = torch.zeros((), dtype=acc, device=hidden.device)
        for s in range(0, hidden.shape[0], chunk_size):
            h, t = hidden[s : s + chunk_size], targets[s : s + chunk_size]
            logits = (h @ weight.T if bias is None else torch.addmm(bias, h, weight.T)).to(acc)
            lse = torch.logsumexp(logits, dim=-1)
            rows = torch.arange(t.shape[0], device=t.device)
            total += (lse - logits[rows, t]).sum()
            if need_h or need_w or need_b:
                g = logits.sub_(lse[:, None]).exp_()  # softmax, in place: one [chunk, vocab] block
                g[rows, t] -= 1.0
                g.mul_(scale)
                if need_b:
                    grad_b += g.sum(0)
                g = g.to(hidden.dtype)
                if need_h:
                    grad_h[s : s + chunk_size] = g @ weight
                if need_w:
                    grad_w.addmm_(g.T.to(acc), h.to(acc))
            del logits
        # The gradients are intermediates, not inputs or outputs: kept on ctx and scaled in place in backward (one
        # backward per graph; no retain_graph double use).
        ctx.grads = (grad_h, grad_w, grad_b)
        ctx.dtypes = (hidden.dtype, weight.dtype, bias.dtype if bias is not None else None)
        return total * scale

    @staticmethod
    def backward(ctx, grad_out):
        out = []
        for g, dtype in zip(ctx.grads, ctx.dtypes, strict=True):
            out.append(None if g is None else g.mul_(grad_out).to(dtype))
        ctx.grads = None
        return out[0], out[1], out[2], None, None, None


def supervised_hidden(hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states at the positions whose next token is supervised, and those tokens."""
    h, t = hidden[:, :-1], labels[:, 1:].to(hidden.device)
    keep = t != IGNORE_INDEX
    return h[keep], t[keep]


def _liger_available(device: torch.device) -> bool:
    return device.type == "cuda" and importlib.util.find_spec("liger_kernel") is not None


def chunked_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    bias: torch.Tensor | None = None,
    chunk_size: int = 1024,
    num_items: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Causal-LM cross-entropy of `labels` (shifted by one, IGNORE_INDEX skipped) from final hidden states
    `[batch, tokens, hidden]` and the LM head; mean over supervised tokens, or sum / `num_items` when given."""
    h, t = supervised_hidden(hidden, labels)
    denom = float(num_items) if num_items is not None else float(max(t.numel(), 1))
    if t.numel() == 0:
        return hidden.sum() * 0.0
    if _liger_available(h.device):
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

        return LigerFusedLinearCrossEntropyLoss(reduction="sum")(weight, h, t, bias) / denom
    return _ChunkedLinearCE.apply(h, weight, bias, t, chunk_size, 1.0 / denom)


def full_logits_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The reference: logits for every position (what `model(labels=...)` does), then cross-entropy."""
    logits = (hidden @ weight.T).float()
    return nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX
    )


def _unwrapped(model: nn.Module) -> nn.Module:
    """The transformers model under DDP / DeepSpeed / PEFT wrappers."""
    inner = extract_model_from_parallel(model)
    return inner.get_base_model() if hasattr(inner, "get_base_model") else inner


def head_is_plain(config) -> bool:
    """Whether a model config's logits are the LM head's projection as it is: not soft-capped (Gemma 2/3n) or scaled
    (Cohere) after the head."""
    cfg = config.get_text_config()
    return not getattr(cfg, "final_logit_softcapping", None) and getattr(cfg, "logit_scale", None) in (None, 1.0)


def chunked_loss_applies(model: nn.Module) -> bool:
    """Whether the LM head is a plain projection of the base model's (`.model`) last hidden state, which the chunked
    loss reproduces (`head_is_plain`); elsewhere the model's own loss runs."""
    inner = _unwrapped(model)
    return head_is_plain(inner.config) and isinstance(getattr(inner, "model", None), nn.Module)


def model_loss(
    model: nn.Module,
    inputs: dict,
    chunked: bool = True,
    chunk_size: int = 1024,
    num_items: int | torch.Tensor | None = None,
):
    """(loss, outputs) for a batch from `VLMCollator` or `PackingCollator`. With `chunked`, the LM head runs on
    supervised positions only, in chunks, on the base model's last hidden state (captured by a forward hook, so the
    call still goes through DDP / DeepSpeed); otherwise, or where the head is more than a projection, the model's own
    loss (full logits) is used."""
    inputs = prepare_packed_inputs(model, inputs)
    labels = inputs.pop("labels")
    head = _unwrapped(model).get_output_embeddings()  # (under DDP the wrapper has no such method)
    weight, bias = head.weight, getattr(head, "bias", None)
    # ZeRO-3 partitions the head outside forward: there too the model's own loss
    if not chunked or weight.numel() == 0 or not chunked_loss_applies(model):
        loss_kwargs = {} if num_items is None else {"num_items_in_batch": num_items}  # as the Trainer passes it
        out = model(**inputs, labels=labels, use_cache=False, **loss_kwargs)
        return out.loss, out
    captured: list[torch.Tensor] = []

    def keep(_module, _args, output) -> None:  # returns None: the model's own output is left as it is
        if not captured:
            captured.append(output[0])

    hook = _unwrapped(model).model.register_forward_hook(keep)
    try:
        out = model(**inputs, logits_to_keep=1, use_cache=False)
    finally:
        hook.remove()
    loss = chunked_cross_entropy(captured[0], weight, labels, bias, chunk_size, num_items)
    return loss, out
