"""Dataset layouts: one module per layout, detected from a root or forced by a spec.

Every module of this package registers one :class:`~motionprobe.data.layouts.base.Layout`;
they are all imported here, so supporting a new layout is adding a module (and its test).
:func:`load_index` reads a split of any of them from a ``--data`` value (a root, or
``LAYOUT[@FOLD]:PATH``).
"""

import importlib
import pkgutil

from motionprobe.data.layouts.base import (
    LAYOUTS,
    DataSpec,
    Layout,
    data_root,
    data_spec,
    detect_layout,
    has_split,
    load_index,
    register_layout,
)

# Every layout module registers itself on import; a new file here is a new layout.
for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

from motionprobe.data.layouts.hmdb51 import hmdb51_index  # noqa: E402  (after the registrations)
from motionprobe.data.layouts.ucf101 import ucf101_index  # noqa: E402

__all__ = [
    "LAYOUTS",
    "DataSpec",
    "Layout",
    "data_root",
    "data_spec",
    "detect_layout",
    "has_split",
    "hmdb51_index",
    "load_index",
    "register_layout",
    "ucf101_index",
]
