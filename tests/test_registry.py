"""The registry on plain objects: first original wins, reverse-order revert,
pristine checks, thread safety.  (The real targets are covered in test_api.)"""

import threading

import pytest

from portfix._registry import Registry, Target, TargetChanged

# Cell-independent: the registry on plain module objects made here.
pytestmark = pytest.mark.cell_independent


def _fresh_module(name):
    import types

    module = types.ModuleType(name)
    exec("def alpha():\n    return 'alpha'\n\ndef beta():\n    return 'beta'\n", module.__dict__)
    module.alpha.__module__ = module.beta.__module__ = name
    import sys

    sys.modules[name] = module
    return module


def _wrap(tag, made=None):
    def make(original, active):
        if made is not None:
            made.append(tag)

        def replacement():
            return "%s(%s)" % (tag, original())

        replacement.__wrapped__ = original
        return replacement

    return make


def test_apply_is_idempotent_and_revert_restores_identity():
    module = _fresh_module("portfix_test_mod1")
    original = module.alpha
    registry = Registry()
    target = Target("m.alpha", module.__name__, "", "alpha", "alpha", _wrap("A"))
    assert registry.apply(target, {"D0"}) is True
    patched = module.alpha
    assert module.alpha() == "A(alpha)"
    assert registry.apply(target, {"D0"}) is False
    assert module.alpha is patched
    assert registry.revert() == [("m.alpha", None)]
    assert module.alpha is original
    assert registry.apply(target, {"D0"}) is True  # apply -> revert -> apply
    assert module.alpha() == "A(alpha)" and registry.original("m.alpha") is original


def test_revert_runs_in_reverse_order():
    module = _fresh_module("portfix_test_mod2")
    registry = Registry()
    registry.apply(Target("m.alpha", module.__name__, "", "alpha", "alpha", _wrap("A")), set())
    registry.apply(Target("m.beta", module.__name__, "", "beta", "beta", _wrap("B")), set())
    assert [name for name, _ in registry.revert()] == ["m.beta", "m.alpha"]


def test_a_target_wrapped_by_someone_else_is_left_alone():
    module = _fresh_module("portfix_test_mod3")
    theirs = module.alpha

    def wrapper():
        return theirs()

    wrapper.__wrapped__ = theirs
    wrapper.__module__, wrapper.__qualname__ = theirs.__module__, theirs.__qualname__
    module.alpha = wrapper
    registry = Registry()
    with pytest.raises(TargetChanged):
        registry.apply(Target("m.alpha", module.__name__, "", "alpha", "alpha", _wrap("A")), set())
    assert module.alpha is wrapper and not registry.is_applied("m.alpha")


def test_revert_leaves_a_later_wrapper_in_place():
    module = _fresh_module("portfix_test_mod4")
    registry = Registry()
    registry.apply(Target("m.alpha", module.__name__, "", "alpha", "alpha", _wrap("A")), set())
    later = lambda: "later"  # noqa: E731
    module.alpha = later
    ((name, problem),) = registry.revert()
    assert problem and module.alpha is later


def test_a_failing_patch_replaces_nothing():
    module = _fresh_module("portfix_test_mod5")
    original = module.alpha

    def broken(original, active):
        raise RuntimeError("simulated failure")

    registry = Registry()
    with pytest.raises(RuntimeError):
        registry.apply(Target("m.alpha", module.__name__, "", "alpha", "alpha", broken), set())
    assert module.alpha is original and not registry.is_applied("m.alpha")


def test_concurrent_apply_patches_once():
    module = _fresh_module("portfix_test_mod6")
    made = []
    registry = Registry()
    target = Target("m.alpha", module.__name__, "", "alpha", "alpha", _wrap("A", made))
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        registry.apply(target, set())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert made == ["A"]
    assert module.alpha() == "A(alpha)"
