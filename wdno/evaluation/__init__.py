"""Evaluation: metrics (paper Sec. 4 and App. D) and figures."""
