"""Tiny random-weight pipelines of the real architectures, built locally and saved with
``save_pretrained``: ``opendance models make-tiny KIND DIR``.

They load and run through exactly the code path an operator's real model takes (no download,
no weights), on a CPU in seconds, and produce noise-like video of the right geometry, which is
what the tests and the engine benchmark need. The component shapes follow the diffusers test
suites' dummy components; the VAEs keep the real models' compression (LTX-2: 32x space, 8x
time; Wan 2.2: 16x space, 4x time) so that full-size contract videos stay cheap to denoise.
The tokenizer is T5's byte-level ``ByT5Tokenizer``, which needs no vocabulary file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final


def _text_encoder_t5(kind: str) -> tuple[Any, Any]:
    from transformers import ByT5Tokenizer, UMT5Config, UMT5EncoderModel

    del kind
    config = UMT5Config(
        vocab_size=384, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8,
    )  # fmt: skip
    return ByT5Tokenizer(), UMT5EncoderModel(config)


def tiny_ltx2() -> Any:
    import torch
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
    from transformers import (
        ByT5Tokenizer,
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3TextConfig,
        SiglipVisionConfig,
    )

    torch.manual_seed(0)
    text = Gemma3TextConfig(
        vocab_size=384, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=1024,
        sliding_window=64,
    )  # fmt: skip
    vision = SiglipVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        image_size=16, patch_size=8,
    )  # fmt: skip
    text_encoder = Gemma3ForConditionalGeneration(
        Gemma3Config(
            text_config=text.to_dict(), vision_config=vision.to_dict(), mm_tokens_per_image=4
        )
    )
    transformer = LTX2VideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2,
        attention_head_dim=8, cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4,
        audio_num_attention_heads=2, audio_attention_head_dim=4, audio_cross_attention_dim=8,
        num_layers=2, qk_norm="rms_norm_across_heads", caption_channels=32,
        rope_double_precision=False, rope_type="split",
    )  # fmt: skip
    connectors = LTX2TextConnectors(
        caption_channels=32, text_proj_in_factor=text.num_hidden_layers + 1,
        video_connector_num_attention_heads=4, video_connector_attention_head_dim=8,
        video_connector_num_layers=1, video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=4, audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1, audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32, rope_theta=10000.0, rope_double_precision=False,
        causal_temporal_positioning=False, rope_type="split",
    )  # fmt: skip
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 16, 32, 64),
        decoder_block_out_channels=(8, 16, 32), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1), spatio_temporal_scaling=(True, True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True), decoder_inject_noise=(False,) * 4,
        upsample_residual=(True, True, True), upsample_factor=(2, 2, 2),
        timestep_conditioning=False, patch_size=4, patch_size_t=1, encoder_causal=True,
        decoder_causal=False, spatial_compression_ratio=32, temporal_compression_ratio=8,
    )  # fmt: skip
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1,
        attn_resolutions=None, in_channels=2, resolution=32, latent_channels=2,
        norm_type="pixel", causality_axis="height", dropout=0.0, mid_block_add_attention=False,
        sample_rate=16000, mel_hop_length=160, is_causal=True, mel_bins=8,
    )  # fmt: skip
    vocoder = LTX2Vocoder(
        in_channels=16, hidden_channels=32, out_channels=2, upsample_kernel_sizes=[16, 10, 8],
        upsample_factors=[8, 5, 4], resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]],
        leaky_relu_negative_slope=0.1, output_sampling_rate=16000,
    )  # fmt: skip
    return LTX2Pipeline(
        transformer=transformer,
        vae=vae,
        audio_vae=audio_vae,
        scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=text_encoder,
        tokenizer=ByT5Tokenizer(),
        connectors=connectors,
        vocoder=vocoder,
    )


def _wan_transformer(in_channels: int, image_dim: int | None = None) -> Any:
    import torch
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
        in_channels=in_channels, out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32,
        num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=1024, image_dim=image_dim,
    )  # fmt: skip


def tiny_wan() -> Any:
    """Wan 2.2 TI2V layout: one transformer for text- and image-to-video, a 16x VAE."""
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline

    torch.manual_seed(0)
    tokenizer, text_encoder = _text_encoder_t5("umt5")
    vae = AutoencoderKLWan(
        base_dim=8, decoder_base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        temperal_downsample=[False, True, True], is_residual=True, patch_size=2,
        scale_factor_spatial=16, in_channels=12, out_channels=12,
    )  # fmt: skip
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
        transformer=_wan_transformer(16),
        expand_timesteps=True,
    )


def tiny_wan_i2v() -> Any:
    """Wan 2.1 I2V layout: a CLIP image encoder and a transformer that takes the image latents."""
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    tokenizer, text_encoder = _text_encoder_t5("umt5")
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )  # fmt: skip
    image_encoder = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=4,
            projection_dim=4,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            intermediate_size=16,
            patch_size=1,
        )
    )
    return WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
        image_processor=CLIPImageProcessor(crop_size=32, size=32),
        image_encoder=image_encoder,
        transformer=_wan_transformer(36, image_dim=4),
    )


def tiny_stable_audio() -> Any:
    """Stable Audio layout at 8 kHz; 16 s at most (the transformer's sample size)."""
    import torch
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
        StableAudioProjectionModel,
    )
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = StableAudioDiTModel(
        sample_size=256, in_channels=3, num_layers=2, attention_head_dim=4,
        num_key_value_attention_heads=2, out_channels=3, cross_attention_dim=4, time_proj_dim=8,
        global_states_input_dim=8, cross_attention_input_dim=4,
    )  # fmt: skip
    vae = AutoencoderOobleck(
        encoder_hidden_size=6, downsampling_ratios=[2, 4, 8, 8], decoder_channels=3,
        decoder_input_channels=3, audio_channels=2, channel_multiples=[1, 2, 2, 2],
        sampling_rate=8000,
    )  # fmt: skip
    text_encoder = T5EncoderModel(
        T5Config(vocab_size=384, d_model=4, d_kv=2, d_ff=8, num_layers=1, num_heads=2)
    )
    projection = StableAudioProjectionModel(
        text_encoder_dim=4, conditioning_dim=4, min_value=0, max_value=32
    )
    return StableAudioPipeline(
        transformer=transformer,
        scheduler=CosineDPMSolverMultistepScheduler(
            solver_order=2,
            prediction_type="v_prediction",
            sigma_data=1.0,
            sigma_schedule="exponential",
        ),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=ByT5Tokenizer(model_max_length=64),
        projection_model=projection,
    )


BUILDERS: Final[dict[str, Callable[[], Any]]] = {
    "ltx2": tiny_ltx2,
    "wan": tiny_wan,
    "wan-i2v": tiny_wan_i2v,
    "stable-audio": tiny_stable_audio,
}


def make_tiny(kind: str, directory: Path) -> Path:
    """Build the tiny pipeline of ``kind`` and save it to ``directory``."""
    try:
        builder = BUILDERS[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(BUILDERS)}") from None
    pipe = builder()
    directory.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(directory))
    return directory
