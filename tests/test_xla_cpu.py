"""wdno's XLA:CPU default flag: added once, never over the user's own choice."""

import importlib.metadata

from wdno import _xla_cpu


def _jaxlib_tested():
    return importlib.metadata.version("jaxlib").startswith(_xla_cpu.TESTED_JAXLIB)


def test_flag_added_to_existing_flags_once():
    environ = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    added = _xla_cpu.set_defaults(environ)
    assert added == _jaxlib_tested()
    if added:
        assert environ["XLA_FLAGS"] == (
            "--xla_dump_to=/tmp/x --xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_DOT"
        )
    assert not _xla_cpu.set_defaults(environ)  # already there
    assert environ["XLA_FLAGS"].count(_xla_cpu.FLAG) == int(added)


def test_user_choice_and_opt_out_are_respected():
    environ = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type="}
    assert not _xla_cpu.set_defaults(environ)
    assert environ["XLA_FLAGS"] == "--xla_cpu_experimental_ynn_fusion_type="
    environ = {"WDNO_XLA_CPU_DEFAULTS": "0"}
    assert not _xla_cpu.set_defaults(environ)
    assert "XLA_FLAGS" not in environ


def test_jax_accepts_the_flag():
    # The flag as set by `import wdno` is in force in this process (tests import wdno before
    # JAX starts its backend) and compiles.
    import jax
    import jax.numpy as jnp

    assert float(jax.jit(lambda x: jnp.sum(x @ x))(jnp.ones((4, 4)))) == 64.0
