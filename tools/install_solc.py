"""Gives py-solc-x, and so ape-solidity, the Solidity compiler Orrange pins, without a download.

py-solc-x runs `<its folder>/solc-v<version>` (~/.solcx, or $SOLCX_BINARY_PATH when set). With
network it downloads the native binary there; where nothing but the package registries answers,
this installs solcjs from the `solc` npm package (package.json pins it) in its place:
tools/solc_wrapper.js as solc-v<version>, and the package with its dependencies beside it in
solcjs-v<version>/, so the compiler works from any checkout. A native solc of that version that
is already there is kept. ape-config.yaml's `solidity.version` must name the same version.

    python tools/install_solc.py            (`make install` runs it)
    python tools/install_solc.py --native   (`make install SOLC=native`: py-solc-x downloads the
                                             native binary, in place of solcjs; needs network)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from solcx import get_solcx_install_folder, install_solc
from solcx.wrapper import get_solc_version

ROOT = Path(__file__).resolve().parent.parent
WRAPPER = ROOT / "tools" / "solc_wrapper.js"
NODE_MODULES = ROOT / "node_modules"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--native", action="store_true", help="download the native solc (needs network)")
    native = parser.parse_args().native
    version = json.loads((NODE_MODULES / "solc" / "package.json").read_text())["version"]
    configured = str(yaml.safe_load((ROOT / "ape-config.yaml").read_text())["solidity"]["version"])
    if configured != version:
        print(f"ape-config.yaml compiles with solc {configured}, but package.json pins solc {version}: make them agree")
        return 1

    folder = get_solcx_install_folder()
    folder.mkdir(parents=True, exist_ok=True)
    executable = folder / f"solc-v{version}"
    if executable.exists() and not is_wrapper(executable):
        print(f"solc {version}: the native compiler at {executable}")
        return 0
    if native:
        return install_native(version, executable)

    package_home = folder / f"solcjs-v{version}"
    if not (is_current(executable) and installed_version(package_home) == version):
        install_package(package_home)
        install_wrapper(executable)
    found = get_solc_version(executable, with_commit_hash=True)
    print(f"solc {version}: solcjs {found} through {executable}")
    return 0


def install_native(version: str, executable: Path) -> int:
    """py-solc-x's own download, where solcjs stood (which comes back if the download fails)."""
    executable.unlink(missing_ok=True)  # py-solc-x downloads nothing over an installed version
    try:
        install_solc(version)
    except Exception as error:  # py-solc-x raises requests' errors and its own
        install_wrapper(executable)
        print(f"solc {version}: no native download ({type(error).__name__}); solcjs stays at {executable}")
        return 1
    print(f"solc {version}: the native compiler, downloaded to {executable}")
    return 0


def is_wrapper(executable: Path) -> bool:
    with executable.open("rb") as file:
        return file.read(2) == b"#!" and b"node" in file.readline()


def is_current(executable: Path) -> bool:
    return executable.exists() and executable.read_bytes() == WRAPPER.read_bytes()


def installed_version(package_home: Path) -> str | None:
    manifest = package_home / "node_modules" / "solc" / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.exists() else None


def install_package(package_home: Path) -> None:
    """Copies the `solc` package and everything it requires out of node_modules."""
    staging = Path(tempfile.mkdtemp(prefix=f".{package_home.name}-", dir=package_home.parent))
    staging.chmod(0o755)  # readable by every user, as an installed binary is
    pending, copied = ["solc"], set()
    while pending:
        name = pending.pop()
        if name in copied:
            continue
        source = NODE_MODULES / name
        if not source.is_dir():
            raise SystemExit(f"node_modules/{name} is missing: run `npm ci` first")
        shutil.copytree(source, staging / "node_modules" / name, symlinks=True)
        copied.add(name)
        pending.extend(json.loads((source / "package.json").read_text()).get("dependencies", {}))
    shutil.rmtree(package_home, ignore_errors=True)
    staging.rename(package_home)


def install_wrapper(executable: Path) -> None:
    staging = executable.with_name(f".{executable.name}.tmp")
    shutil.copyfile(WRAPPER, staging)
    staging.chmod(0o755)
    os.replace(staging, executable)


if __name__ == "__main__":
    sys.exit(main())
