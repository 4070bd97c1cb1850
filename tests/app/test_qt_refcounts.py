"""Guard against the PySide6 build whose void calls and emits leak None/True references.

PySide6 6.12.0 on Python 3.11 returns ``None``/``True`` from void methods and
``Signal.emit()`` without taking a reference; a few hundred calls abort the process
(``Fatal Python error: bool_dealloc``). pyproject.toml excludes that release; this
test fails if such a build comes back.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    ping = Signal()


def test_void_calls_and_emits_keep_singleton_refcounts():
    obj = _Emitter()
    before = (sys.getrefcount(None), sys.getrefcount(True))
    for _ in range(200):
        obj.setObjectName("x")
        obj.ping.emit()
    after = (sys.getrefcount(None), sys.getrefcount(True))
    assert after[0] >= before[0] - 50 and after[1] >= before[1] - 50, (before, after)
