"""Control by guided joint sampling of state and control (paper Sec. 3.3, Eq. 6).

The controller is built here on :mod:`wdno.diffusion`'s guidance and the generic
:mod:`wdno.experiment` driver; see the control issue for its API.
"""
