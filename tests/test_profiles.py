"""Execution profiles: what each sets, how a request's sampling is chosen, and their effect on the
real tiny model through the Python API and the `ananke generate` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from ananke_lsp import Ananke, PyGenerationRequest
from ananke_lsp.config import load_config
from ananke_lsp.config.schema import ACTIONS, ActionProfiles, Profile
from ananke_lsp.profiles import DEFAULT_PROFILES, PROFILE_NAMES, PROFILES, regenerate, resolve
from ananke_lsp.server.settings import EditorSettings

PROMPT = "Write a short sentence about the sea."


def _settings(tmp_path: Path, text: str):
    (tmp_path / ".ananke.toml").write_text(text)
    return load_config(tmp_path / ".ananke.toml").settings.generation


# -- the table and its resolution ----------------------------------------------------------------


def test_the_table_is_the_one_the_schema_accepts():
    assert tuple(PROFILES) == PROFILE_NAMES == get_args(Profile)
    assert set(ActionProfiles.model_fields) == set(ACTIONS)  # [generation.profiles] has a key per action
    assert set(DEFAULT_PROFILES) == {*ACTIONS, "regenerate"}
    deterministic, balanced, creative = PROFILES["deterministic"], PROFILES["balanced"], PROFILES["creative"]
    assert (deterministic.temperature, deterministic.top_p, deterministic.seed) == (0.0, 1.0, 0)
    assert balanced.seed is not None and 0.0 < balanced.temperature < creative.temperature
    assert creative.seed is None  # a fresh one each call


def test_explicit_values_override_the_profile_which_overrides_the_default():
    assert resolve(action="inline_completion") == resolve("deterministic")
    assert resolve(action="implement_function").profile == "balanced"
    assert resolve(action="regenerate").profile == "creative"
    chosen = resolve("creative", action="inline_completion", temperature=0.1, top_p=0.5, seed=7)
    assert (chosen.profile, chosen.temperature, chosen.top_p, chosen.seed) == ("creative", 0.1, 0.5, 7)
    assert resolve("creative", temperature=0.0).top_p == PROFILES["creative"].top_p  # only what is given
    with pytest.raises(ValueError, match="unknown profile 'wild'"):
        resolve("wild")


def test_creative_draws_a_fresh_seed_every_call_the_others_a_fixed_one():
    assert len({resolve("creative").seed for _ in range(20)}) > 15
    assert {resolve("balanced").seed for _ in range(5)} == {PROFILES["balanced"].seed}


def test_project_profiles_per_action_then_for_every_action_then_the_default(tmp_path: Path):
    nothing = _settings(tmp_path, "")
    assert [nothing.sampling(a).profile for a in ACTIONS] == [DEFAULT_PROFILES[a] for a in ACTIONS]
    both = _settings(
        tmp_path, '[generation]\nprofile = "creative"\n[generation.profiles]\ngenerate = "deterministic"\n'
    )
    assert both.sampling("generate").profile == "deterministic"
    assert both.sampling("inline_completion").profile == "creative"  # the file's profile: every action
    assert both.sampling("generate", "balanced").profile == "balanced"  # the editor's setting wins
    assert both.sampling("inline_completion").seed != both.sampling("inline_completion").seed


def test_a_temperature_written_in_the_file_still_wins_for_the_code_actions(tmp_path: Path):
    # the default 0.2, not written: the profile's
    assert _settings(tmp_path, '[generation]\nprofile = "creative"\n').sampling("generate").temperature == 0.8
    written = _settings(tmp_path, '[generation]\nprofile = "creative"\ntemperature = 0.3\n')
    assert written.sampling("generate").temperature == 0.3
    assert written.sampling("implement_function", "deterministic").temperature == 0.3
    assert written.sampling("inline_completion").temperature == 0.8  # completions never read it
    assert _settings(tmp_path, "[generation]\ntemperature = 0.5\n").sampling("completion").temperature == 0.0


def test_regenerate_is_creative_and_never_cooler_than_before():
    assert (regenerate(0.0).profile, regenerate(0.0).temperature) == ("creative", PROFILES["creative"].temperature)
    assert regenerate(1.0).temperature == 1.0
    assert regenerate(0.0).seed != regenerate(0.0).seed


def test_a_request_names_only_a_known_profile_after_the_seed_fields():
    assert PyGenerationRequest(prompt="p").profile is None
    assert list(PyGenerationRequest.model_fields)[-1] == "profile"  # positional order kept
    with pytest.raises(ValidationError, match="profile"):
        PyGenerationRequest(prompt="p", profile="wild")


def test_the_editor_setting_names_only_a_known_profile():
    assert EditorSettings.model_validate({"profile": "creative"}).profile == "creative"
    assert EditorSettings().profile is None  # the project's profiles apply
    with pytest.raises(ValidationError, match="profile"):
        EditorSettings.model_validate({"profile": "wild"})


# -- on the real tiny model ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ananke(engine) -> Ananke:
    return Ananke.with_engine(engine)


async def _runs(ananke: Ananke, n: int, **fields):
    return [await ananke.generate(PyGenerationRequest(prompt=PROMPT, max_tokens=20, **fields)) for _ in range(n)]


async def test_deterministic_gives_the_same_text_every_run(ananke: Ananke):
    runs = await _runs(ananke, 3, profile="deterministic")
    assert len({r.code for r in runs}) == 1 and runs[0].code.strip()
    p = runs[0].provenance
    assert (p.profile, p.temperature, p.top_p, p.seed) == ("deterministic", 0.0, 1.0, 0)


async def test_balanced_samples_but_reproducibly(ananke: Ananke):
    runs = await _runs(ananke, 2, profile="balanced")
    assert runs[0].code == runs[1].code
    p = runs[0].provenance
    assert (p.profile, p.temperature, p.top_p, p.seed) == ("balanced", 0.2, 0.95, 0)


async def test_creative_varies_under_a_fixed_prompt(ananke: Ananke):
    runs = await _runs(ananke, 4, profile="creative")
    assert len({r.code for r in runs}) >= 2, [r.code for r in runs]
    assert len({r.provenance.seed for r in runs}) == 4
    assert {(r.provenance.profile, r.provenance.temperature, r.provenance.top_p) for r in runs} == {
        ("creative", 0.8, 0.95)
    }


async def test_an_explicit_temperature_overrides_the_profile(ananke: Ananke):
    [greedy] = await _runs(ananke, 1, profile="deterministic")
    cold = await _runs(ananke, 2, profile="creative", temperature=0.0)
    assert {r.code for r in cold} == {greedy.code}  # temperature 0 is greedy whatever the seed
    assert (cold[0].provenance.profile, cold[0].provenance.temperature) == ("creative", 0.0)
    assert cold[0].provenance.seed != cold[1].provenance.seed  # the rest is still the profile's


async def test_without_a_profile_as_before_and_the_provenance_says_what_was_used(ananke: Ananke):
    [run] = await _runs(ananke, 1)
    p = run.provenance
    assert (p.profile, p.temperature, p.top_p) == (None, 0.7, 1.0) and isinstance(p.seed, int)


# -- the command line ----------------------------------------------------------------------------


def _generate(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ananke_lsp", "generate", PROMPT, "--max-tokens", "16", "--json", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_cli_profile_flag_and_an_explicit_temperature():
    runs = [_generate("--profile", "deterministic") for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    first, second = (json.loads(r.stdout) for r in runs)
    assert first["code"] == second["code"]
    assert {k: first["provenance"][k] for k in ("profile", "temperature", "top_p", "seed")} == {
        "profile": "deterministic",
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": 0,
    }
    overridden = _generate("--profile", "creative", "--temperature", "0")
    assert overridden.returncode == 0, overridden.stderr
    provenance = json.loads(overridden.stdout)["provenance"]
    assert (provenance["profile"], provenance["temperature"], provenance["top_p"]) == ("creative", 0.0, 0.95)
    assert json.loads(overridden.stdout)["code"] == first["code"]
    bad = _generate("--profile", "wild")
    assert bad.returncode == 2 and "invalid choice: 'wild'" in bad.stderr
