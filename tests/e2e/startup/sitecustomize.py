"""Imported by every Python process of a test stack (its folder is on ``PYTHONPATH``).

Each Airflow process builds hundreds of thousands of long-lived objects while it imports and
builds its apps, and CPython's default collection threshold (700) makes it run the cyclic
garbage collector over them again and again: about a fifth of a process's start-up CPU. The
tests start some twenty such processes on two cores, so their stacks collect less often.
Nothing the tests check depends on when garbage is collected. A process that exits normally
(``airflow dags trigger``, ``airflow db migrate``) skips the interpreter's last full
collection too, about a CPU-second each.
"""

from __future__ import annotations

import atexit
import gc
import os

_THRESHOLD = os.environ.get("SAGEMAKER_ASYNC_GC_THRESHOLD")
if _THRESHOLD:
    gc.set_threshold(*(int(part) for part in _THRESHOLD.split(",")))
    atexit.register(gc.freeze)
