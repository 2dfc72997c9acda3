"""Execution profiles: named sets of sampling parameters (temperature, top-p, seed), chosen per
action. Values set explicitly (a request's ``temperature``, ``--temperature``, ``[generation]
temperature`` written in ``.ananke.toml``) override the profile's; the profile chosen (a request's,
the editor's ``profile`` setting, ``[generation.profiles]`` for the action, ``[generation] profile``)
overrides the action's default."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal, get_args

ProfileName = Literal["deterministic", "balanced", "creative"]
PROFILE_NAMES: tuple[str, ...] = get_args(ProfileName)
# A fresh seed is drawn below this: every engine takes it (the service refuses negative seeds,
# llama.cpp's server keeps 32 bits).
SEED_LIMIT = 2**31


@dataclass(frozen=True)
class Profile:
    temperature: float
    top_p: float
    seed: int | None  # None: a fresh random seed for every request
    summary: str


PROFILES: dict[str, Profile] = {
    "deterministic": Profile(0.0, 1.0, 0, "greedy: the model's most likely text, the same every time"),
    "balanced": Profile(0.2, 0.95, 0, "a little sampling from a fixed seed: the same input gives the same text"),
    "creative": Profile(0.8, 0.95, None, "varied: a fresh random seed for every request"),
}

# Each action's profile when nothing chooses one. "regenerate" is always creative: it exists to
# give a different answer.
DEFAULT_PROFILES: dict[str, ProfileName] = {
    "inline_completion": "deterministic",
    "completion": "deterministic",
    "implement_function": "balanced",
    "generate": "balanced",
    "add_docstring": "balanced",
    "fill_json": "balanced",
    "regenerate": "creative",
}
# The actions that `[generation] temperature` applies to (completions never read it).
GENERATION_ACTIONS = frozenset({"implement_function", "generate", "add_docstring", "fill_json"})


@dataclass(frozen=True)
class Sampling:
    """The sampling parameters of one request, and the profile they came from (None: none)."""

    profile: str | None
    temperature: float
    top_p: float
    seed: int

    def fields(self) -> dict[str, float | int]:
        """As ``EngineRequest`` fields (``request.model_copy(update=sampling.fields())``)."""
        return {"temperature": self.temperature, "top_p": self.top_p, "seed": self.seed}


def fresh_seed() -> int:
    return secrets.randbelow(SEED_LIMIT)


def resolve(
    profile: str | None = None,
    *,
    action: str | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> Sampling:
    """The sampling for one request: explicit values, else ``profile``'s, else those of
    ``action``'s default profile. A profile without a seed draws a fresh one each call."""
    name = profile if profile is not None else DEFAULT_PROFILES.get(action or "")
    if name is None:
        raise ValueError(f"no profile: name one of {', '.join(PROFILE_NAMES)}, or an action")
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; expected one of {', '.join(PROFILE_NAMES)}")
    base = PROFILES[name]
    chosen_seed = seed if seed is not None else base.seed
    return Sampling(
        profile=name,
        temperature=base.temperature if temperature is None else temperature,
        top_p=base.top_p if top_p is None else top_p,
        seed=fresh_seed() if chosen_seed is None else chosen_seed,
    )


def regenerate(previous_temperature: float) -> Sampling:
    """*Regenerate*: the creative profile, never cooler than the text it replaces, a fresh seed."""
    creative = resolve("creative")
    return Sampling("creative", max(previous_temperature, creative.temperature), creative.top_p, creative.seed)
