"""The 1-D viscous Burgers system with a control force (spec Sec. 8.1).

Modules: ``grid`` (the one grid convention), ``solver`` (single-sample JAX solver),
``generate`` (seeded data sets), ``presets`` (data-set sizes).
"""
