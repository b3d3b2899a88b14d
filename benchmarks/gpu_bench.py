"""GPU throughput of our training step: random-init Qwen2.5-VL-3B- and Qwen3-VL-2B-shaped models, LoRA on the LLM,
bf16, packed rows (per-sample M-RoPE from the model's own get_rope_index), flash-attention 2 when installed (else
sdpa), chunked supervised-only loss (Liger's fused kernel when installed). Prints tokens/s, peak memory and MFU.

MFU convention (stated in the output): LLM FLOPs only, vision tower excluded.
  model FLOPs per step = 6 * N * T + 6 * layers * d_attn * sum_i s_i^2 / 2 * 2
where N = LLM parameters in matmuls (attention + MLP + LM head, embeddings excluded), T = tokens in the step, s_i the
packed sample lengths (causal attention: QK^T and AV, half the square, forward + backward = 3x forward).
`mfu_6n` counts the backward of frozen weights as if they were trained (the usual 6N convention); `mfu_executed`
counts 4N for LoRA (no weight gradients for frozen matmuls), the FLOPs actually executed.

    python benchmarks/gpu_bench.py [--steps 30] [--tokens 16384] [--tiny]   (--tiny: CPU smoke test of the script)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time

import torch

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}


def configs(tiny: bool):
    import transformers as tf

    if tiny:
        t25 = dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=1000,
            rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 1e6},
        )
        v25 = dict(
            depth=2,
            hidden_size=32,
            out_hidden_size=64,
            num_heads=2,
            intermediate_size=64,
            fullatt_block_indexes=[1],
            window_size=56,
        )
        t3 = dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            vocab_size=1000,
            rope_parameters={
                "rope_type": "default",
                "mrope_section": [2, 3, 3],
                "mrope_interleaved": True,
                "rope_theta": 5e6,
            },
        )
        v3 = dict(
            depth=2,
            hidden_size=32,
            out_hidden_size=64,
            num_heads=2,
            intermediate_size=64,
            deepstack_visual_indexes=[0],
            num_position_embeddings=64,
        )
    else:  # the published shapes
        t25 = dict(
            hidden_size=2048,
            intermediate_size=11008,
            num_hidden_layers=36,
            num_attention_heads=16,
            num_key_value_heads=2,
            vocab_size=151936,
            tie_word_embeddings=True,
            rope_parameters={"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1e6},
        )
        v25 = dict(
            depth=32,
            hidden_size=1280,
            out_hidden_size=2048,
            num_heads=16,
            intermediate_size=3420,
            fullatt_block_indexes=[7, 15, 23, 31],
            window_size=112,
        )
        t3 = dict(
            hidden_size=2048,
            intermediate_size=6144,
            num_hidden_layers=28,
            num_attention_heads=16,
            num_key_value_heads=8,
            head_dim=128,
            vocab_size=151936,
            tie_word_embeddings=True,
            rope_parameters={
                "rope_type": "default",
                "mrope_section": [24, 20, 20],
                "mrope_interleaved": True,
                "rope_theta": 5e6,
            },
        )
        v3 = dict(
            depth=24,
            hidden_size=1024,
            out_hidden_size=2048,
            num_heads=16,
            intermediate_size=4096,
            deepstack_visual_indexes=[5, 11, 17],
            num_position_embeddings=2304,
        )
    ids = dict(
        image_token_id=151655 if not tiny else 990,
        video_token_id=151656 if not tiny else 991,
        vision_start_token_id=151652 if not tiny else 992,
        vision_end_token_id=151653 if not tiny else 993,
    )
    return {
        "qwen2.5-vl-3b-shaped": (tf.Qwen2_5_VLConfig(text_config=t25, vision_config=v25, **ids), 14),
        "qwen3-vl-2b-shaped": (tf.Qwen3VLConfig(text_config=t3, vision_config=v3, **ids), 16),
    }


def packed_batch(cfg, patch: int, tokens: int, gen: torch.Generator, device) -> dict:
    """One packed row of ~`tokens` tokens: samples of text + one image (grid 1 x 2h x 2w), random ids."""
    text_vocab = min(cfg.text_config.vocab_size, cfg.image_token_id) - 10
    ids, types, labels, text_pos, lens, grids, pixels = [], [], [], [], [], [], []
    total = 0
    while total < tokens:
        h, w = (int(x) for x in torch.randint(4, 17, (2,), generator=gen))  # merged grid up to 16x16 = 256 tokens
        n_img = h * w
        n_prompt, n_answer = (int(x) for x in torch.randint(16, 400, (2,), generator=gen))
        n = min(1 + n_img + 1 + n_prompt + n_answer, tokens - total)
        if n < n_img + 8:
            break
        n_answer = max(1, n - (n_img + 2 + n_prompt))
        n_prompt = n - n_img - 2 - n_answer
        seq = torch.randint(0, text_vocab, (n,), generator=gen)
        seq[0] = cfg.vision_start_token_id
        seq[1 : 1 + n_img] = cfg.image_token_id
        seq[1 + n_img] = cfg.vision_end_token_id
        t = torch.zeros(n, dtype=torch.long)
        t[1 : 1 + n_img] = 1
        lab = torch.full((n,), -100)
        lab[n - n_answer :] = seq[n - n_answer :]
        ids.append(seq), types.append(t), labels.append(lab), text_pos.append(torch.arange(n)), lens.append(n)
        grids.append([1, 2 * h, 2 * w])
        pixels.append(torch.randn(4 * h * w, 3 * 2 * patch * patch, generator=gen))
        total += n
    return {
        "input_ids": torch.cat(ids)[None].to(device),
        "mm_token_type_ids": torch.cat(types)[None].to(device),
        "labels": torch.cat(labels)[None].to(device),
        "position_ids": torch.cat(text_pos)[None].to(device),
        "pixel_values": torch.cat(pixels).to(device, torch.bfloat16),
        "image_grid_thw": torch.tensor(grids, device=device),
        "packed_seq_lens": torch.tensor(lens),
        "packed_rows": torch.zeros(len(lens), dtype=torch.long),
        "packed_media": torch.tensor([[1, 0]] * len(lens)),
    }


def llm_matmul_params(model, cfg) -> int:
    t = cfg.text_config
    return (
        sum(
            p.numel()
            for n, p in model.named_parameters()
            if "language_model" in n and p.ndim == 2 and "embed_tokens" not in n and "lora_" not in n
        )
        + t.vocab_size * t.hidden_size
    )  # the LM head (tied or not, it is a matmul)


def run(name, cfg, patch, steps, tokens, device, attn) -> dict:
    import transformers as tf
    from peft import LoraConfig, get_peft_model

    from components.train.loss import model_loss

    torch.manual_seed(0)
    model = tf.AutoModelForImageTextToText.from_config(cfg, dtype=torch.bfloat16, attn_implementation=attn).to(device)
    targets = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=targets, task_type="CAUSAL_LM"))
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    n_mat = llm_matmul_params(model, cfg)
    t = cfg.text_config
    d_attn = t.num_attention_heads * (getattr(t, "head_dim", None) or t.hidden_size // t.num_attention_heads)
    gen = torch.Generator().manual_seed(0)
    warmup = 3
    flops6 = flops4 = n_tok = sup = 0
    elapsed = 0.0
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(warmup + steps):
        batch = packed_batch(cfg, patch, tokens, gen, device)
        lens = batch["packed_seq_lens"].tolist()
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss, _ = model_loss(model, batch, chunked=True, chunk_size=4096)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            elapsed += time.perf_counter() - t0
            T = sum(lens)
            attn_f = 6 * t.num_hidden_layers * d_attn * sum(s * s for s in lens)  # causal: 2*s^2*d fwd, x3
            flops6 += 6 * n_mat * T + attn_f
            flops4 += 4 * n_mat * T + attn_f
            n_tok += T
            sup += int((batch["labels"][:, 1:] != -100).sum())
    gpu = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    peak = next((v for k, v in PEAK_BF16.items() if k in gpu), None)
    return {
        "model": name,
        "device": gpu,
        "attn_implementation": attn,
        "liger": importlib.util.find_spec("liger_kernel") is not None,
        "steps": steps,
        "tokens_per_step": n_tok // steps,
        "tokens_per_s": n_tok / elapsed,
        "supervised_tokens_per_s": sup / elapsed,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
        "llm_matmul_params": n_mat,
        "mfu_6n": flops6 / elapsed / peak if peak else None,
        "mfu_executed": flops4 / elapsed / peak if peak else None,
        "peak_bf16_flops": peak,
        "final_loss": loss.item(),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--tokens", type=int, default=16384)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--only", default=None)
    args = p.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    attn = "flash_attention_2" if device == "cuda" and importlib.util.find_spec("flash_attn") else "sdpa"
    print(
        "MFU convention: LLM FLOPs only (vision excluded); 6*N*T (+causal attention) for mfu_6n, 4*N*T for "
        "mfu_executed (LoRA: frozen weights get no weight gradient); peak = dense bf16 of the card."
    )
    for name, (cfg, patch) in configs(args.tiny).items():
        if args.only and args.only not in name:
            continue
        r = run(name, cfg, patch, args.steps, args.tokens, device, attn)
        print(json.dumps(r), flush=True)
        del r
        if device == "cuda":
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
