"""The layers the models are built from (they import only ``wave_hf.ops``; nothing here imports the models).

``options`` (the choices and limits the configurations validate against; torch-free), ``padding`` (the one padding
and packing module: each row's real tokens first, packed documents' starts, ``TokenLayout``), ``common`` (RMSNorm,
MLP), ``lbc`` (``WaveLBCMixer``, the linear-boundary wave mixer) and ``sbc`` (``SBCAttention``, the self-attention
boundary).
"""
