"""1-D linear advection ``u_t + beta u_x = 0`` on the periodic unit interval (PDEBench's 1-D
advection; WDNO paper Sec. 4, spec §8.4): an uncontrolled system, simulated from ``u0``."""
