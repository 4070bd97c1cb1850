"""The engine's Library and the tests' FakeLibrary both satisfy the app's facade."""

from __future__ import annotations

import inspect

import pytest

from engine.library import Library
from resonance_app.library_api import LibraryFacade
from tests.app.fakes import FakeLibrary

MEMBERS = sorted(name for name in dir(LibraryFacade)
                 if not name.startswith("_") and name not in ("folder",))


def _compatible(proto: inspect.Signature, impl: inspect.Signature) -> list[str]:
    """What a call written against ``proto`` would get wrong on ``impl``."""
    problems = []
    impl_params = impl.parameters
    for name, p in proto.parameters.items():
        q = impl_params.get(name)
        if q is None:
            problems.append(f"no parameter {name!r}")
        elif q.kind != p.kind and not (
                q.kind == q.POSITIONAL_OR_KEYWORD and p.kind in (p.POSITIONAL_ONLY,
                                                                 p.KEYWORD_ONLY)):
            problems.append(f"{name!r} is {q.kind.description}, not {p.kind.description}")
        elif p.default is not p.empty and q.default is q.empty:
            problems.append(f"{name!r} has no default")
    for name, q in impl_params.items():
        if name not in proto.parameters and q.default is q.empty and q.kind not in (
                q.VAR_POSITIONAL, q.VAR_KEYWORD):
            problems.append(f"extra required parameter {name!r}")
    return problems


@pytest.mark.parametrize("cls", [Library, FakeLibrary], ids=["Library", "FakeLibrary"])
def test_facade_is_satisfied(cls: type) -> None:
    for name in MEMBERS:
        proto = getattr(LibraryFacade, name)
        impl = getattr(cls, name, None)
        assert impl is not None, f"{cls.__name__} lacks {name}"
        if isinstance(proto, property):
            assert isinstance(impl, property), f"{cls.__name__}.{name} is not a property"
            continue
        problems = _compatible(inspect.signature(proto), inspect.signature(impl))
        assert not problems, f"{cls.__name__}.{name}: {problems}"


def test_instances_pass_the_runtime_check(tmp_path) -> None:
    from tests.model_factory import build_model

    assert isinstance(FakeLibrary(2), LibraryFacade)
    with Library.open(tmp_path / "lib", model_dir=build_model(tmp_path / "m")) as lib:
        assert isinstance(lib, LibraryFacade)
