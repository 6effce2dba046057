"""tools/install_solc.py and tools/solc_wrapper.js: solcjs installed where py-solc-x looks for
solc, answering py-solc-x the way the native compiler does."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from solcx import compile_standard
from solcx.exceptions import SolcError, UnknownOption
from solcx.wrapper import get_solc_version, solc_wrapper

ROOT = Path(__file__).resolve().parents[2]
VERSION = json.loads((ROOT / "node_modules" / "solc" / "package.json").read_text())["version"]


def install(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SOLCX_BINARY_PATH": str(folder)}
    command = [sys.executable, str(ROOT / "tools" / "install_solc.py"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def solc(tmp_path_factory) -> Path:
    """solcjs installed in a folder of its own, as py-solc-x finds it."""
    folder = tmp_path_factory.mktemp("solcx")
    result = install(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder / f"solc-v{VERSION}"


def test_install__puts_solcjs_where_py_solc_x_looks(solc):
    assert str(get_solc_version(solc, with_commit_hash=True)).startswith(f"{VERSION}+commit.")
    assert (solc.parent / f"solcjs-v{VERSION}" / "node_modules" / "solc" / "soljson.js").is_file()


def test_install__again__changes_nothing(solc):
    before = {path: path.stat().st_mtime_ns for path in solc.parent.rglob("*")}
    result = install(solc.parent)
    assert result.returncode == 0 and "solcjs" in result.stdout
    assert {path: path.stat().st_mtime_ns for path in solc.parent.rglob("*")} == before


def test_install__native_compiler_there__kept(tmp_path):
    native = tmp_path / f"solc-v{VERSION}"
    native.write_text(f"#!/bin/sh\necho 'Version: {VERSION}+commit.f401782d.Linux.g++'\n")
    native.chmod(0o755)
    result = install(tmp_path)
    assert result.returncode == 0 and "native" in result.stdout
    assert "Linux.g++" in native.read_text() and not (tmp_path / f"solcjs-v{VERSION}").exists()


def test_wrapper__standard_json_with_an_import__compiles_for_prague(solc, tmp_path):
    (tmp_path / "Base.sol").write_text("// SPDX-License-Identifier: MIT\npragma solidity ^0.8.28;\ncontract Base {}\n")
    source = (
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.28;\nimport 'Base.sol';\n"
        "contract Counter is Base { uint256 transient seen; function bump() external { seen += 1; } }\n"
    )
    output = compile_standard(
        {
            "language": "Solidity",
            "sources": {"Counter.sol": {"content": source}},
            "settings": {"evmVersion": "prague", "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}},
        },
        base_path=tmp_path,
        solc_binary=solc,
    )
    counter = output["contracts"]["Counter.sol"]["Counter"]
    assert [item["name"] for item in counter["abi"]] == ["bump"]
    assert counter["evm"]["bytecode"]["object"]  # transient storage compiles for cancun and later only


def test_wrapper__compile_error__reported_as_solc_does(solc):
    with pytest.raises(SolcError, match="ParserError"):
        compile_standard({"language": "Solidity", "sources": {"Bad.sol": {"content": "contract {"}}}, solc_binary=solc)


def test_wrapper__option_it_does_not_speak__unknown_option(solc):
    with pytest.raises(UnknownOption, match="--bin"):
        solc_wrapper(solc_binary=solc, bin=True)
