"""`socketserver`, made of sockcheck's impl: what checker/peer_runner.py loads under that name.

It runs inside the target interpreter (3.7+, impl's floor) and uses the stdlib and impl only.
Every public name is impl's; impl's own base classes and handlers are the stdlib's.
"""

import importlib.machinery
import importlib.util
import os
import sys
import types


def _stdlib_socketserver() -> types.ModuleType:
    """A fresh copy of the stdlib's module, found beside os.py whatever sys.path says."""
    spec = importlib.machinery.PathFinder.find_spec("socketserver", [os.path.dirname(os.__file__)])
    assert spec is not None and spec.loader is not None, "the stdlib has no socketserver"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# impl builds on the stdlib's base classes (`from socketserver import TCPServer`): while it
# imports, the name must mean the stdlib's module, not this one.
_shim = sys.modules["socketserver"]
sys.modules["socketserver"] = _stdlib_socketserver()
try:
    import impl
finally:
    sys.modules["socketserver"] = _shim

# Every public name of impl, not only its __all__, so that CPython's test_all checks that
# impl's __all__ lists everything impl exports.
for _name in dir(impl):
    if not _name.startswith("_"):
        _value = getattr(impl, _name)
        globals()[_name] = _value
        # Substituted, impl's classes are socketserver's: pickle finds a class, and test_all
        # a module's own objects, by the module the class names.
        if isinstance(_value, type) and _value.__module__.split(".")[0] == "impl":
            _value.__module__ = "socketserver"
__all__ = list(impl.__all__)
