"""The files a pull request changes, and pre-commit run on exactly those.

Changed = the working tree against the merge base of HEAD with the base branch (``main``, or ``origin/main``
when there is a remote), plus untracked files. On a branch that is every change the pull request would
bring, committed or not; on ``main`` itself the merge base is HEAD, so it is your uncommitted changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lifecycle.errors import LifecycleError

#: Overrides the base branch (CI sets it to the pull request's base, e.g. ``origin/main``).
BASE_ENV = "LIFECYCLE_PR_BASE"


@dataclass(frozen=True)
class PreCommitResult:
    status: str  # "passed", "failed" or "skipped"
    detail: str  # why skipped, or what was compared
    files: tuple[str, ...] = ()
    output: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def _git(repo: Path, *args: str) -> str:
    completed = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise LifecycleError(f"git {' '.join(args)} failed in {repo}: {completed.stderr.strip()}")
    return completed.stdout


def base_ref(repo: Path, base: str | None = None) -> str:
    """The branch a pull request merges into: ``base``, $LIFECYCLE_PR_BASE, origin/main or main."""
    if chosen := base or os.environ.get(BASE_ENV):
        return chosen
    remote = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "origin/main"], cwd=repo, capture_output=True, check=False
    )
    return "origin/main" if remote.returncode == 0 else "main"


def changed_files(repo: Path, base: str | None = None) -> tuple[str, list[str]]:
    """(what was compared, files changed in the working tree since the merge base, untracked included).

    Paths are relative to the top of the repository holding ``repo``; deleted files are left out.
    """
    repo = Path(_git(repo, "rev-parse", "--show-toplevel").strip())
    ref = base_ref(repo, base)
    merge_base = _git(repo, "merge-base", "HEAD", ref).strip()
    names = _git(repo, "diff", "--name-only", "--diff-filter=d", merge_base, "--").splitlines()
    names += _git(repo, "ls-files", "--others", "--exclude-standard").splitlines()
    return f"{ref} ({merge_base[:10]})", sorted({n for n in names if (repo / n).is_file()})


def run_pre_commit(repo: Path, base: str | None = None) -> PreCommitResult:
    """``pre-commit run`` on the changed files. Fixing hooks may rewrite them, as on ``git commit``."""
    repo = Path(_git(repo, "rev-parse", "--show-toplevel").strip())
    compared, files = changed_files(repo, base)
    if not files:
        return PreCommitResult("skipped", f"no files changed since {compared}")
    pre_commit = Path(sys.executable).with_name("pre-commit")
    completed = subprocess.run(
        [str(pre_commit), "run", "--color", "never", "--show-diff-on-failure", "--files", *files],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    output = completed.stdout + completed.stderr
    print(output, end="")
    status = "passed" if completed.returncode == 0 else "failed"
    return PreCommitResult(status, f"{len(files)} file(s) changed since {compared}", tuple(files), output)
