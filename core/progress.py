"""How long-running services report progress without knowing who listens."""

from collections.abc import Callable

# ``progress(done, total)``: the pipeline conductor passes one that keeps the
# stage's claim alive and tells the survey's page; scripts and tests pass none.
Progress = Callable[[int, int], None]


def ignore_progress(done: int, total: int) -> None:
    """The progress callback for callers that do not follow progress."""


BAR = 30


def bar(done: int, total: int) -> str:
    """A text progress bar for commands: ``[#####.....] 5/10``."""
    filled = BAR if total == 0 else round(BAR * min(done, total) / total)
    return f"[{'#' * filled}{'.' * (BAR - filled)}] {done}/{total}"
