"""Model engines on Hugging Face diffusers: LTX-2 (video with its own audio) and Wan (video,
with an optional text-to-audio model for sound). Needs the ``models`` extra (torch, diffusers,
transformers); nothing here is imported by the API process or the preview engine.

* ``ltx2``, ``wan``   the engines: one pipeline loaded per worker process, reused per task
* ``soundtrack``      Stable Audio as the soundtrack of video-only models
* ``timing``          frame counts, frame-rate mapping and geometry (pure, tested alone)
* ``results``         a generated video as the contract's result; ``tensors``: outputs to numpy
* ``camera``          ``fixed_lens`` as prompt and negative-prompt conditioning
* ``steps``           denoising progress and cancellation through ``callback_on_step_end``
* ``loading``         local directories only, checked before torch is imported
* ``runtime``         device, dtype, offload, VAE tiling/slicing, attention backend, compile
* ``tiny``            tiny random-weight pipelines (``opendance models make-tiny``)
"""
