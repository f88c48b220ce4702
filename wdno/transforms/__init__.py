"""Transforms between physical trajectories and what the diffusion model sees (paper Sec. 3.1).

``wavelets``: multi-level discrete wavelet transform over chosen axes, matching PyWavelets.
``encoding``: a trajectory (state and control) as one channels-last tensor of stacked wavelet
bands (or the raw fields, for the physical-space baseline), and its per-channel normalisation.
"""
