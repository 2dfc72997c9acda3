"""The Modal deployment, inspected offline: `modal` imports without a token, so the app, its web
function and the settings it was declared with can be checked without reaching Modal. Settings
come from the environment at import time, so imports that need a given environment run in a
subprocess."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import modal
import pytest

from ananke_lsp.errors import SettingsError
from modal_service import versions
from modal_service.modal_app import (
    APP_NAME,
    IMAGE_ENV,
    IMAGE_PACKAGES,
    WEIGHTS_PATH,
    DeploySettings,
    function_options,
)

ROOT = Path(__file__).resolve().parent.parent


def _autoscaler(function: modal.Function) -> dict[str, int]:
    """scaledown_window and min_containers, which Modal 1.6 does not expose on a local Function.

    PRIVATE API: the values live only in the `AutoscalerSettings` proto that Modal's loader closure
    (`_Function._from_local.<locals>._load`) sends when deploying. If a Modal upgrade breaks this,
    update this helper; the public part of the declaration is checked through `Function.info()`."""
    from modal._utils.async_utils import synchronizer

    load = synchronizer._translate_in(function)._load
    cells = dict(zip(load.__code__.co_freevars, load.__closure__ or (), strict=True))
    settings = cells["autoscaler_settings"].cell_contents
    return {"scaledown_window": settings.scaledown_window, "min_containers": settings.min_containers}


def describe() -> dict[str, Any]:
    """What Modal was told about the web function (run in a subprocess with a chosen environment)."""
    import modal_service.modal_app as m

    info = m.web.info()
    return {
        "app": m.app.name,
        "gpus": [list(g) for g in info.gpus],
        "max_inputs": info.concurrency_info.max_inputs if info.concurrency_info else None,
        "proxy_auth": info.web_info is not None and not info.web_info.unauthenticated,
        "timeout": info.timeout,
        "volumes": {path: v.name for path, v in info.volumes.items()},
        "secrets": info.secrets,
        "model": m.SETTINGS.model,
        **_autoscaler(m.web),
        "loaded": sorted(n for n in ("vllm", "modal_service.server") if n in sys.modules),
    }


def _describe_with(env: dict[str, str]) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ANANKE_")}
    code = "import json; from tests.test_modal_app import describe; print(json.dumps(describe()))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- deploy settings (pure) ----------------------------------------------------------------


def test_settings_defaults() -> None:
    s = DeploySettings.from_env({})
    assert (s.gpu, s.model) == ("H100", "Qwen/Qwen2.5-Coder-7B-Instruct")
    assert (s.scaledown_secs, s.min_containers, s.max_inputs, s.proxy_auth) == (300, 0, 32, False)
    assert s.gpu_count == 1 and s.max_model_len is None


def test_settings_from_env() -> None:
    env = {
        "ANANKE_GPU": "A100-80GB:2",
        "ANANKE_MODEL": "Qwen/Qwen2.5-Coder-32B-Instruct",
        "ANANKE_SCALEDOWN_SECS": "120",
        "ANANKE_MIN_CONTAINERS": "1",
        "ANANKE_MAX_INPUTS": "64",
        "ANANKE_PROXY_AUTH": "1",
        "ANANKE_MAX_MODEL_LEN": "16384",
        "UNRELATED": "x",
    }
    s = DeploySettings.from_env(env)
    assert (s.gpu, s.gpu_count, s.model) == ("A100-80GB:2", 2, "Qwen/Qwen2.5-Coder-32B-Instruct")
    assert (s.scaledown_secs, s.min_containers, s.max_inputs, s.proxy_auth) == (120, 1, 64, True)
    assert s.max_model_len == 16384
    assert DeploySettings.from_env(s.to_env()) == s  # what the container re-reads is what was deployed
    assert DeploySettings.from_env({"ANANKE_PROXY_AUTH": "0"}).proxy_auth is False
    assert DeploySettings.from_env({"ANANKE_GPU": "  "}).gpu == "H100"  # blank means unset


@pytest.mark.parametrize(
    ("var", "value"),
    [("ANANKE_MAX_INPUTS", "many"), ("ANANKE_SCALEDOWN_SECS", "1"), ("ANANKE_MIN_CONTAINERS", "-1")],
)
def test_bad_settings_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(SettingsError, match=var):
        DeploySettings.from_env({var: value})


def test_function_options_follow_the_settings() -> None:
    s = DeploySettings.from_env({"ANANKE_GPU": "L40S", "ANANKE_SCALEDOWN_SECS": "60", "ANANKE_MIN_CONTAINERS": "2"})
    options = function_options(s)
    assert options["gpu"] == "L40S"
    assert (options["scaledown_window"], options["min_containers"]) == (60, 2)
    assert options["env"]["ANANKE_MODEL"] == s.model  # the container serves the model the deploy chose


def test_image_installs_exactly_the_checked_releases() -> None:
    # one place for the pins: what tests/test_vllm_contract.py reads the source of is what is installed
    assert set(versions.GPU_PACKAGES) <= set(IMAGE_PACKAGES)
    assert all("==" in p for p in versions.GPU_PACKAGES)
    assert f"vllm=={versions.VLLM}" in IMAGE_PACKAGES and f"llguidance=={versions.LLGUIDANCE}" in IMAGE_PACKAGES
    for package in ("pydantic", "cachetools", "numpy", "httpx", "starlette", "uvicorn", "pygls", "lsprotocol"):
        assert any(p.startswith(package) for p in IMAGE_PACKAGES), package
    assert IMAGE_ENV["HF_HOME"].startswith(WEIGHTS_PATH + "/")  # weights are cached in the volume


# -- the Modal objects -----------------------------------------------------------------------


def test_app_declares_a_web_function_with_a_volume_and_the_secret() -> None:
    import modal_service.modal_app as m

    assert isinstance(m.app, modal.App) and m.app.name == APP_NAME == "ananke-inference"
    assert isinstance(m.web, modal.Function)
    info = m.web.info()
    assert info.web_info is not None  # an ASGI web endpoint
    assert isinstance(m.weights, modal.Volume)
    assert info.volumes[WEIGHTS_PATH].name == "ananke-weights"
    assert "modal.Secret.from_name('ananke-service')" in info.secrets
    assert isinstance(m.build_image(), modal.Image)


def test_defaults_as_modal_sees_them() -> None:
    d = _describe_with({})
    assert d["app"] == "ananke-inference"
    assert d["gpus"] == [["H100", 1]]
    assert (d["scaledown_window"], d["min_containers"], d["max_inputs"]) == (300, 0, 32)
    assert d["proxy_auth"] is False
    assert d["volumes"] == {"/weights": "ananke-weights"}
    assert "modal.Secret.from_name('ananke-service')" in d["secrets"]
    assert any("ANANKE_MODEL" in s for s in d["secrets"])  # deploy settings travel to the container
    assert d["loaded"] == []  # neither vLLM nor the service is imported to declare the app


def test_overrides_as_modal_sees_them() -> None:
    d = _describe_with(
        {
            "ANANKE_GPU": "A100-80GB",
            "ANANKE_SCALEDOWN_SECS": "900",
            "ANANKE_MIN_CONTAINERS": "1",
            "ANANKE_MAX_INPUTS": "8",
            "ANANKE_PROXY_AUTH": "1",
            "ANANKE_TIMEOUT_SECS": "1200",
            "ANANKE_MODEL": "Qwen/Qwen2.5-Coder-32B-Instruct",
        }
    )
    assert d["gpus"] == [["A100-80GB", 1]]
    assert (d["scaledown_window"], d["min_containers"], d["max_inputs"]) == (900, 1, 8)
    assert d["proxy_auth"] is True
    assert d["timeout"] == 1200
    assert d["model"] == "Qwen/Qwen2.5-Coder-32B-Instruct"


def test_the_web_function_serves_the_service_over_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the web function's body here: it builds the real service app over the vLLM engine. With
    no vLLM on this machine the engine cannot load, and /v1/health says so instead of hanging."""
    from starlette.testclient import TestClient

    import modal_service.modal_app as m

    monkeypatch.setenv("ANANKE_SERVICE_TOKEN", "s3cret")
    with warnings.catch_warnings():  # Modal warns that a local run has no volume: expected here
        warnings.simplefilter("ignore", UserWarning)
        asgi = m.web.local()
    auth = {"Authorization": "Bearer s3cret"}
    with TestClient(asgi) as client:
        assert client.get("/v1/health").status_code == 401  # the secret's token is enforced
        deadline = time.monotonic() + 10
        while (response := client.get("/v1/health", headers=auth)).json()["status"] == "loading":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    body = response.json()
    assert (body["engine"], body["model"]) == ("vllm", m.SETTINGS.model)
    if importlib.util.find_spec("vllm") is None:
        assert response.status_code == 503
        assert body["status"] == "unhealthy" and "No module named 'vllm'" in body["detail"]
