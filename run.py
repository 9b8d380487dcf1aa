#!/usr/bin/env python3
"""One command to run the app, one to run the tests, on a machine with only Python 3.11+.

    python3 run.py          install what is missing into .venv, then run the app
    python3 run.py test     install the test dependencies too, then run the tests

Only the standard library is used until the virtual environment is ready.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
MIN_PYTHON = (3, 11)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def in_project_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_venv() -> None:
    """Create .venv if needed and re-run this script with its interpreter."""
    if in_project_venv():
        return
    if not venv_python().exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    os.execv(str(venv_python()), [str(venv_python()), str(Path(__file__).resolve()), *sys.argv[1:]])


def ensure_requirements(requirements: str) -> None:
    """pip install the requirements file unless this exact content was installed before."""
    files = list(dict.fromkeys([ROOT / "requirements.txt", ROOT / requirements]))  # -dev includes the base
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    stamp = VENV / f".installed-{requirements}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"Installing {requirements} into {VENV} ...", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                    "-r", str(ROOT / requirements)], check=True)
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    if sys.version_info < MIN_PYTHON:
        print(f"Python {'.'.join(map(str, MIN_PYTHON))} or newer is needed; this is {sys.version.split()[0]}.")
        return 1
    ensure_venv()
    os.chdir(ROOT)
    if argv[:1] == ["test"]:
        ensure_requirements("requirements-dev.txt")
        return subprocess.call([sys.executable, "-m", "pytest", *argv[1:]])
    ensure_requirements("requirements.txt")
    sys.path.insert(0, str(ROOT))
    from launcher import serve

    return serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
