"""deploy/Dockerfile and its lock: the base image is pinned to an exact version,
dependencies are installed with --require-hashes from requirements-runtime.lock,
which holds the runtime tree only (no test or lint tools) at the same versions
as requirements.lock, and the image runs as a non-root user."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
RUNTIME_LOCK = ROOT / "requirements-runtime.lock"
DEV_LOCK = ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NOT_IN_THE_IMAGE = {"pytest", "pytest-timeout", "ruff", "iniconfig", "pluggy", "pygments", "kubernetes-validate",
                    "jsonschema", "pip-tools"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """name -> version of every `name==version` requirement line."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", line)
        if match:
            found[normalized(match.group(1))] = match.group(2)
    return found


def runtime_requirements() -> list[str]:
    """The lock's requirements, each with its continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", RUNTIME_LOCK.read_text())
    return [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9]", line)]


def test_base_image_is_pinned_to_an_exact_version():
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert len(froms) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", froms[0]), (
        f"FROM {froms[0]}: pin an exact Python release and Debian suite (a digest at release time)")


def test_dependencies_are_installed_from_the_hashed_runtime_lock_only():
    installs = re.findall(r"pip install[^\n]*", DOCKERFILE.read_text())
    assert installs == ["pip install --require-hashes --no-deps -r requirements-runtime.lock"], installs
    assert "COPY requirements-runtime.lock" in DOCKERFILE.read_text()
    for requirement in runtime_requirements():
        assert "==" in requirement and "--hash=sha256:" in requirement, f"unhashed or unpinned: {requirement}"


def test_runtime_lock_matches_the_development_lock_without_tools():
    runtime, development = pins(RUNTIME_LOCK.read_text()), pins(DEV_LOCK.read_text())
    assert runtime and len(runtime) == len(runtime_requirements())
    assert not NOT_IN_THE_IMAGE & set(runtime), f"test/lint tools in the image: {NOT_IN_THE_IMAGE & set(runtime)}"
    differing = {name: (version, development.get(name)) for name, version in runtime.items()
                 if development.get(name) != version}
    assert not differing, f"requirements-runtime.lock and requirements.lock disagree: {differing}"
    for dependency in PYPROJECT["project"]["dependencies"]:
        name, _, version = dependency.partition("==")
        assert runtime.get(normalized(name)) == version, f"{dependency} is not in requirements-runtime.lock"


def test_the_image_holds_the_code_and_runs_as_a_non_root_user():
    dockerfile = DOCKERFILE.read_text()
    for package in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        folder = package.rstrip("*")
        assert re.search(rf"^COPY {folder} \./{folder}$", dockerfile, re.MULTILINE), f"the image lacks {folder}/"
    user = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert user and not user[-1].startswith(("root", "0")), "the image must run as a non-root user"
