"""Environment variables: read by `ananke_lsp/environment.py` alone, each named by the settings
model it sets, a blank one unset, a bad one an error naming it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ananke_lsp.environment import (
    ApiEnvironment,
    ModelEnvironment,
    ServiceEnvironment,
    from_environment,
    secrets,
)
from ananke_lsp.errors import SettingsError
from modal_service.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[1]


READERS = ("environ", "environb", "getenv", "getenvb")


def _reads_environment(tree: ast.AST) -> bool:
    return any(
        (isinstance(node, ast.Attribute) and node.attr in READERS)
        or (isinstance(node, ast.ImportFrom) and node.module == "os" and any(a.name in READERS for a in node.names))
        for node in ast.walk(tree)
    )


def test_only_the_environment_module_reads_the_environment() -> None:
    readers = [
        str(path.relative_to(ROOT))
        for path in sorted([*ROOT.glob("ananke_lsp/**/*.py"), *ROOT.glob("modal_service/**/*.py")])
        if _reads_environment(ast.parse(path.read_text()))
    ]
    assert readers == ["ananke_lsp/environment.py"]


def test_the_scan_sees_a_reader() -> None:
    assert _reads_environment(ast.parse("import os\nx = os.environ.get('X')"))
    assert _reads_environment(ast.parse("from os import getenv"))
    assert not _reads_environment(ast.parse("import os\nos.replace('a', 'b')"))


def test_variables_by_alias_blank_is_unset_and_a_bad_value_names_its_variable() -> None:
    env = {"MODAL_ENDPOINT": "https://x.modal.run", "MODAL_MODEL": "  ", "ANANKE_TRUSTED_ENDPOINTS": "a, b,"}
    service = from_environment(ServiceEnvironment, env)
    assert (service.endpoint, service.model, service.trusted_endpoints) == ("https://x.modal.run", None, ["a", "b"])
    with pytest.raises(SettingsError, match="ANANKE_CACHE_SIZE"):
        from_environment(ApiEnvironment, {"ANANKE_CACHE_SIZE": "lots"})
    # a bad value of a variable the model does not read is not its concern
    assert from_environment(ServiceEnvironment, {"ANANKE_CACHE_SIZE": "lots"}).endpoint is None


def test_server_settings_come_from_their_variables() -> None:
    settings = ServerSettings.from_env({"ANANKE_SERVICE_TOKEN": "t0ken", "ANANKE_HEAD_TIMEOUT_S": "2.5"})
    assert (settings.token, settings.head_timeout_s, settings.max_tokens) == ("t0ken", 2.5, 4096)
    assert ServerSettings(max_tokens=7).max_tokens == 7  # by name in code
    with pytest.raises(SettingsError, match="ANANKE_MAX_BODY_BYTES"):
        ServerSettings.from_env({"ANANKE_MAX_BODY_BYTES": "10"})  # below the floor


def test_model_cache_and_kv_reuse(tmp_path: Path) -> None:
    assert from_environment(ModelEnvironment, {"ANANKE_MODEL_CACHE": str(tmp_path)}).cache_dir == tmp_path
    xdg = from_environment(ModelEnvironment, {"XDG_CACHE_HOME": str(tmp_path)})
    assert xdg.cache_dir == tmp_path / "ananke-lsp" / "models"
    assert from_environment(ModelEnvironment, {"ANANKE_KV_REUSE": "0"}).kv_reuse is False
    assert from_environment(ModelEnvironment, {}).kv_reuse is True


def test_secrets_are_every_secret_variable_set() -> None:
    env = {"MODAL_API_KEY": "sk-1", "ANANKE_SERVICE_TOKEN": "tok", "MODAL_MODEL": "not a secret"}
    assert sorted(secrets(env)) == ["sk-1", "tok"]
