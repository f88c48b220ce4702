"""Neural networks (Flax NNX): the U-Net denoiser and the FNO baseline, and the registry that
rebuilds a network from its saved config (:mod:`wdno.nets.registry`)."""
