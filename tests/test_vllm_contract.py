"""The vLLM adapter (modal_service/vllm_engine.py) against the source of the vLLM release the Modal
image installs (modal_service/versions.py): every class, field and keyword the adapter uses exists
there with that meaning, and the request our constraint plan makes for each constraint kind is one
vLLM accepts, checked by running vLLM's own structured-output code with the llguidance it gets.

vLLM needs CUDA, so its wheel is downloaded once (`pip download --no-deps`, cached under
~/.cache/ananke-lsp/contract/) and read as source, never installed or imported. Offline, these
tests skip and say so."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import llguidance
import pytest
from packaging.requirements import Requirement

from ananke_lsp.api_types import PyConstraintIR
from ananke_lsp.constraints import compile_constraints
from ananke_lsp.constraints.plan import structured_plan
from ananke_lsp.engines.base import EngineRequest
from modal_service import versions, vllm_engine
from modal_service.modal_app import IMAGE_ENV

from .contract_sources import (
    VLLM_PLATFORM,
    Wheel,
    class_default,
    class_fields,
    method,
    parameters,
    top_level,
    wheel,
)

ROOT = Path(__file__).resolve().parent.parent
ADAPTER = ROOT / "modal_service" / "vllm_engine.py"
PROBE = Path(__file__).with_name("vllm_probe.py")


@pytest.fixture(scope="module")
def vllm() -> Wheel:
    return wheel("vllm", versions.VLLM, VLLM_PLATFORM)


def _class(source: Wheel, module: str, name: str) -> ast.ClassDef:
    where, node = source.definition(module, name)
    assert isinstance(node, ast.ClassDef), f"{where}.{name} is not a class"
    return node


# -- versions ----------------------------------------------------------------------------------


def test_the_image_pins_are_what_vllm_declares(vllm: Wheel) -> None:
    assert vllm.path.name.startswith(f"vllm-{versions.VLLM}-")
    requires = vllm.requires()
    for name, pin in [
        ("torch", versions.TORCH),
        ("llguidance", versions.LLGUIDANCE),
        ("transformers", versions.TRANSFORMERS),
    ]:
        requirement = Requirement(requires[name])
        assert requirement.specifier.contains(pin), f"vLLM {versions.VLLM} wants {requirement}, the image pins {pin}"


# -- classes, fields and keywords ----------------------------------------------------------------


def _vllm_imports() -> list[tuple[str, str]]:
    """Every `from vllm... import X` in the adapter (they sit inside its methods)."""
    found = []
    for node in ast.walk(ast.parse(ADAPTER.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "vllm":
            found += [(node.module, alias.name) for alias in node.names]
    return found


def test_every_vllm_name_the_adapter_imports_exists(vllm: Wheel) -> None:
    imported = _vllm_imports()
    assert {name for _, name in imported} >= {"SamplingParams", "AsyncEngineArgs", "AsyncLLM"}
    for module, name in imported:
        _class(vllm, module, name)


def test_the_engine_wide_structured_output_config_has_only_real_fields(vllm: Wheel) -> None:
    config = _class(vllm, "vllm.config", "StructuredOutputsConfig")
    fields = class_fields(config)
    unknown = set(vllm_engine.STRUCTURED_OUTPUTS_CONFIG) - set(fields)
    assert not unknown, f"StructuredOutputsConfig has no field {sorted(unknown)} (its fields: {sorted(fields)})"
    # ...and an unknown one would not be ignored: vLLM's @config makes a pydantic dataclass that forbids extras.
    assert any(ast.unparse(d) == "config" for d in config.decorator_list)
    assert "ConfigDict(extra='forbid')" in ast.unparse(vllm.tree("vllm.config.utils"))
    _, backends = vllm.definition("vllm.config.structured_outputs", fields["backend"])
    assert "'guidance'" in ast.unparse(backends)  # llguidance, the library our constraints compile with
    assert fields["disable_any_whitespace"] == "bool"


def _branch(function: ast.AST, test: str) -> ast.If:
    for node in ast.walk(function):
        if isinstance(node, ast.If) and ast.unparse(node.test) == test:
            return node
    raise AssertionError(f"no `if {test}:` any more")


def test_the_guidance_backend_never_falls_back_to_another(vllm: Wheel) -> None:
    """Why the config needs no fallback switch: only `auto` picks another backend for a request."""
    params = _class(vllm, "vllm.sampling_params", "SamplingParams")
    validate = method(params, "_validate_structured_outputs")
    guidance = _branch(validate, "backend.startswith('guidance')")
    sets_backend = [
        n
        for n in ast.walk(ast.Module(body=guidance.body, type_ignores=[]))
        if isinstance(n, ast.Assign) and any(ast.unparse(t).endswith("._backend") for t in n.targets)
    ]
    assert not sets_backend, "vLLM now switches backends under `guidance`: review STRUCTURED_OUTPUTS_CONFIG"
    assert "validate_guidance_grammar" in ast.unparse(guidance)  # a grammar it cannot take is refused


def test_engine_args_take_every_keyword_the_adapter_passes(vllm: Wheel) -> None:
    args = _class(vllm, "vllm.engine.arg_utils", "AsyncEngineArgs")
    assert [ast.unparse(b) for b in args.bases] == ["EngineArgs"]
    fields = class_fields(args) | class_fields(_class(vllm, "vllm.engine.arg_utils", "EngineArgs"))
    kwargs = vllm_engine.engine_kwargs(
        "m", download_dir="/d", gpu_memory_utilization=0.5, max_model_len=4096, tensor_parallel_size=2
    )
    assert set(kwargs) <= set(fields), sorted(set(kwargs) - set(fields))
    # a config object, not a dict: create_engine_config sets attributes on it
    assert fields["structured_outputs_config"] == "StructuredOutputsConfig"


def test_sampling_params_take_every_keyword_the_adapter_passes(vllm: Wheel) -> None:
    params = _class(vllm, "vllm.sampling_params", "SamplingParams")
    fields = class_fields(params)
    kwargs = vllm_engine.sampling_kwargs(EngineRequest(prompt="p", stop=["x"], seed=1), structured_plan(None))
    assert set(kwargs) | {"structured_outputs"} <= set(fields)
    assert fields["structured_outputs"] == "StructuredOutputsParams | None"
    # A msgspec.Struct: an unknown keyword (a removed `guided_*` one) is a TypeError, never ignored.
    assert "msgspec.Struct" in [ast.unparse(b) for b in params.bases]
    assert not [f for f in fields if f.startswith("guided")]
    # The adapter turns cumulative outputs into deltas (text_delta): that is the default kind.
    assert class_default(params, "output_kind") == "RequestOutputKind.CUMULATIVE"
    structured = class_fields(_class(vllm, "vllm.sampling_params", "StructuredOutputsParams"))
    assert {"json", "regex", "grammar"} <= set(structured)


def _attributes_used_on(names: set[str]) -> set[str]:
    used = set()
    for node in ast.walk(ast.parse(ADAPTER.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in names:
            used.add(node.attr)
    return used


ASYNC_LLM_CALLS = {  # method → the parameters the adapter passes, in order after self/cls
    "from_engine_args": ["engine_args"],
    "generate": ["prompt", "sampling_params", "request_id"],
    "abort": ["request_id"],
    "check_health": [],
    "get_tokenizer": [],
}


def test_async_llm_has_every_method_the_adapter_calls(vllm: Wheel) -> None:
    assert _attributes_used_on({"llm", "AsyncLLM"}) == set(ASYNC_LLM_CALLS), "update ASYNC_LLM_CALLS"
    llm = _class(vllm, "vllm.v1.engine.async_llm", "AsyncLLM")
    for name, passed in ASYNC_LLM_CALLS.items():
        names, _ = parameters(method(llm, name))
        assert names[1 : 1 + len(passed)] == passed, f"AsyncLLM.{name}{tuple(names)}"
    assert any(ast.unparse(d) == "classmethod" for d in method(llm, "from_engine_args").decorator_list)


def test_async_llm_may_be_built_off_the_event_loop(vllm: Wheel) -> None:
    """The adapter builds it in a worker thread (loading takes minutes; /v1/health must answer):
    vLLM's constructor expects no running loop there and starts its output handler on the first request."""
    llm = _class(vllm, "vllm.v1.engine.async_llm", "AsyncLLM")
    init = ast.unparse(method(llm, "__init__"))
    assert "asyncio.get_running_loop()" in init and "except RuntimeError" in init
    assert "self._run_output_handler()" in ast.unparse(method(llm, "add_request"))


def test_outputs_have_what_the_adapter_reads(vllm: Wheel) -> None:
    assert _attributes_used_on({"out"}) == {"outputs"}
    assert _attributes_used_on({"last"}) == {"text", "token_ids", "finish_reason"}
    names, _ = parameters(method(_class(vllm, "vllm.outputs", "RequestOutput"), "__init__"))
    assert "outputs" in names
    assert {"text", "token_ids", "finish_reason"} <= set(class_fields(_class(vllm, "vllm.outputs", "CompletionOutput")))
    assert "prompt_token_ids" in class_fields(_class(vllm, "vllm.inputs", "TokensPrompt"))


def test_every_finish_reason_vllm_reports_is_mapped_or_an_error(vllm: Wheel) -> None:
    node = top_level(vllm.tree("vllm.v1.engine"), "FINISH_REASON_STRINGS")
    assert isinstance(node, ast.Assign)
    reasons = set(ast.literal_eval(node.value))
    # "error" is vLLM failing the request; "repetition" needs repetition detection, which we never ask for.
    assert reasons - set(vllm_engine._FINISH) == {"error", "repetition"}


def test_the_tokenizer_calls_exist(vllm: Wheel) -> None:
    protocol = _class(vllm, "vllm.tokenizers.protocol", "TokenizerLike")
    assert "add_special_tokens" in parameters(method(protocol, "encode"))[0]
    _, forwards = parameters(method(protocol, "apply_chat_template"))
    assert forwards  # tokenize= and add_generation_prompt= go on to transformers
    hf = wheel("transformers", versions.TRANSFORMERS)
    base = _class(hf, "transformers.tokenization_utils_base", "PreTrainedTokenizerBase")
    names, _ = parameters(method(base, "apply_chat_template"))
    assert {"tokenize", "add_generation_prompt"} <= set(names)
    assert "add_special_tokens" in parameters(method(base, "encode"))[0]
    assert "self.chat_template" in ast.unparse(method(base, "__init__"))


def test_the_first_start_has_time_to_load(vllm: Wheel) -> None:
    """vLLM gives its engine VLLM_ENGINE_READY_TIMEOUT_S to start, weights download included on a
    first start; the image raises it above vLLM's default."""
    envs = ast.unparse(vllm.tree("vllm.envs"))
    assert "os.environ.get('VLLM_ENGINE_READY_TIMEOUT_S', '600')" in envs
    assert int(IMAGE_ENV["VLLM_ENGINE_READY_TIMEOUT_S"]) > 600


# -- requests, through vLLM's own structured-output code ----------------------------------------

POINT = {
    "type": "object",
    "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
    "required": ["x", "y"],
}

# name, constraints, texts the grammar vLLM compiles must accept, texts it must refuse
CASES: list[tuple[str, list[PyConstraintIR], list[str], list[str]]] = [
    (
        "json",
        [PyConstraintIR(name="point", json_schema=json.dumps(POINT))],
        ['{"x":1,"y":2}'],
        ['{"x": 1, "y": 2}', '{"x":1}', '{"x":1,"y":2,"z":3}'],  # compact, required, closed
    ),
    ("regex", [PyConstraintIR(name="ident", regex_patterns=[r"[a-z_][a-z0-9_]*"])], ["snake_1"], ["Snake"]),
    ("lark start", [PyConstraintIR(name="yn", grammar='start: "yes" | "no"')], ["yes"], ["maybe"]),
    ("lark ?start", [PyConstraintIR(name="ab", grammar='?start: item+\nitem: "a" | "b"')], ["abba"], ["abc"]),
    ("lark !start", [PyConstraintIR(name="onoff", grammar='!start: "on" | "off"')], ["off"], ["of"]),
    (
        "lark %json",
        [PyConstraintIR(name="tagged", grammar=f'start: "point=" obj\nobj: %json{json.dumps(POINT)}')],
        ['point={"x":1,"y":2}'],
        ['point={"x":1}'],
    ),
    (
        "regex intersection",
        [
            PyConstraintIR(name="snake", regex_patterns=[r"[a-z_]+"]),
            PyConstraintIR(name="short", regex_patterns=[r".{1,8}"]),
        ],
        ["snake_ok"],
        ["far_too_long", "Caps"],
    ),
]


def _nested(depth: int) -> dict[str, Any]:
    """A schema whose JSON document nests objects ``depth`` levels deep."""
    schema: dict[str, Any] = {"type": "integer"}
    for _ in range(depth - 1):
        schema = {"type": "array", "items": schema}
    return schema


def _structured_outputs(constraints: list[PyConstraintIR]) -> dict[str, Any]:
    kwargs = vllm_engine.sampling_kwargs(EngineRequest(prompt="p"), structured_plan(compile_constraints(constraints)))
    return kwargs["structured_outputs"]


def _python_with_vllms_llguidance() -> str:
    """A Python whose llguidance is the one the image pins: ours when it matches, else a throwaway
    venv under /tmp; if that cannot be made, ours, with a warning saying so."""
    if llguidance.__version__ == versions.LLGUIDANCE:
        return sys.executable
    venv = Path("/tmp") / f"ananke-contract-llguidance-{versions.LLGUIDANCE}"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import llguidance; print(llguidance.__version__)"]
    if python.exists() and subprocess.run(probe, capture_output=True, text=True).stdout.strip() == versions.LLGUIDANCE:
        return str(python)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "-q", f"llguidance=={versions.LLGUIDANCE}"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            warnings.warn(
                f"llguidance {versions.LLGUIDANCE} (vLLM's) could not be installed into {venv}; "
                f"checked with this environment's llguidance {llguidance.__version__} instead",
                stacklevel=2,
            )
            return sys.executable
    return str(python)


def _vllm_code(vllm: Wheel) -> str:
    """vLLM's structured-output request path, as source taken from the wheel."""
    return "\n\n".join(
        [
            vllm.extract("vllm.v1.structured_output.backend_types", ["StructuredOutputOptions"]),
            vllm.extract("vllm.v1.structured_output.request", ["get_structured_output_key"]),
            vllm.extract(
                "vllm.sampling_params",
                [
                    "MAX_STRUCTURED_OUTPUT_JSON_NESTING",
                    "STRUCTURAL_TAG_WRAPPER_NESTING",
                    "StructuredOutputsParams",
                    "_exceeds_json_nesting",
                    "check_json_nesting",
                ],
            ),
            vllm.extract(
                "vllm.v1.structured_output.backend_guidance",
                [
                    "_SCHEMA_MAP_KEYWORDS",
                    "_SUBSCHEMA_KEYWORDS",
                    "_walk_json_for_additional_properties",
                    "process_for_additional_properties",
                    "serialize_guidance_grammar",
                    "validate_guidance_grammar",
                ],
            ),
        ]
    )


def _probe(vllm: Wheel, cases: list[dict[str, Any]]) -> dict[str, Any]:
    request = {"vllm_code": _vllm_code(vllm), "config": vllm_engine.STRUCTURED_OUTPUTS_CONFIG, "cases": cases}
    done = subprocess.run(
        [_python_with_vllms_llguidance(), str(PROBE)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_every_constraint_kind_makes_a_request_vllm_accepts_and_enforces(vllm: Wheel) -> None:
    cases = [
        {"name": name, "structured_outputs": _structured_outputs(constraints), "accept": accept, "reject": reject}
        for name, constraints, accept, reject in CASES
    ]
    answer = _probe(vllm, cases)
    assert answer["llguidance"] in (versions.LLGUIDANCE, llguidance.__version__)
    failures = []
    for case, result in zip(cases, answer["results"], strict=True):
        if result["refused"] or result["grammar_error"]:
            failures.append(f"{case['name']}: {result['refused'] or result['grammar_error']}")
            continue
        wrong = [t for t, ok in result["accepted"].items() if ok != (t in case["accept"])]
        if wrong:
            failures.append(f"{case['name']}: vLLM's grammar judges {wrong} the other way")
    assert not failures, "\n".join(failures)


def test_the_adapter_refuses_exactly_the_schemas_vllm_refuses_as_too_deep(vllm: Wheel) -> None:
    node = top_level(vllm.tree("vllm.sampling_params"), "MAX_STRUCTURED_OUTPUT_JSON_NESTING")
    assert isinstance(node, ast.Assign) and ast.literal_eval(node.value) == vllm_engine.VLLM_MAX_JSON_NESTING
    limit = vllm_engine.VLLM_MAX_JSON_NESTING
    cases = [{"name": str(depth), "structured_outputs": {"json": _nested(depth)}} for depth in (limit, limit + 1)]
    at_limit, beyond = _probe(vllm, cases)["results"]
    assert at_limit["refused"] is None and at_limit["grammar_error"] is None
    assert "nested too deeply" in beyond["refused"]
    assert vllm_engine.json_nesting(_nested(limit)) == limit  # what the adapter lets through, vLLM takes
