"""Studies: one module per question, each with its options, its run and its report.

Every module of this package registers one :class:`~motionprobe.studies.base.Study`; they are
all imported here, so adding a study is adding a module (see ``docs/design.md``). Run one with
:func:`run_study` (what ``studies/{name}.py`` and ``motionprobe study NAME`` do), re-render a
results folder with :func:`make_report`.
"""

import importlib
import pkgutil

from motionprobe.studies.base import STUDIES, Study, get_study, register_study, run_study
from motionprobe.studies.context import StudyContext

# Every study module registers itself on import; a new file here is a new study.
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "context", "render"):
        importlib.import_module(f"{__name__}.{_module.name}")

from motionprobe.studies.render import make_report  # noqa: E402  (after the registrations)

__all__ = [
    "STUDIES",
    "Study",
    "StudyContext",
    "get_study",
    "make_report",
    "register_study",
    "run_study",
]
