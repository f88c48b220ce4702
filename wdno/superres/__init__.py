"""Multi-resolution training and zero-shot super-resolution (paper Sec. 3.4).

Built here on the generic :mod:`wdno.experiment` driver; see the super-resolution issue.
"""
