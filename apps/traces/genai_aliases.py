"""Data-driven alias tables for GenAI span normalization (OTel GenAI, OpenLLMetry, OpenInference, Langfuse).

Every table is ordered by precedence: the first key present wins. Renames in flight
(cache_creation -> cache_write, prompt_tokens -> input_tokens, gen_ai.system -> gen_ai.provider.name)
are handled by listing both names here rather than by code.
"""

from __future__ import annotations

# -- kind -------------------------------------------------------------------------------------

KINDS = (
    "llm",
    "embedding",
    "retrieval",
    "reranker",
    "tool",
    "agent",
    "chain",
    "guardrail",
    "evaluator",
    "other",
)

LANGFUSE_TYPE_KIND = {
    "generation": "llm",
    "span": "other",
    "event": "other",
    "agent": "agent",
    "tool": "tool",
    "chain": "chain",
    "retriever": "retrieval",
    "evaluator": "evaluator",
    "embedding": "embedding",
    "guardrail": "guardrail",
}

OPENINFERENCE_KIND = {
    "LLM": "llm",
    "EMBEDDING": "embedding",
    "CHAIN": "chain",
    "RETRIEVER": "retrieval",
    "RERANKER": "reranker",
    "TOOL": "tool",
    "AGENT": "agent",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "evaluator",
    "PROMPT": "chain",
}

OPERATION_KIND = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "completion": "llm",
    "generate": "llm",
    "embeddings": "embedding",
    "embedding": "embedding",
    "retrieval": "retrieval",
    "rerank": "reranker",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "plan": "agent",
    "invoke_workflow": "chain",
}

TRACELOOP_KIND = {
    "workflow": "chain",
    "task": "chain",
    "agent": "agent",
    "tool": "tool",
}

LLM_REQUEST_TYPE_KIND = {
    "chat": "llm",
    "completion": "llm",
    "embedding": "embedding",
    "rerank": "reranker",
}

# Presence of any of these marks a span as llm when nothing more specific was found.
MODEL_MARKER_KEYS = (
    "gen_ai.request.model",
    "gen_ai.response.model",
    "llm.model_name",
    "langfuse.observation.model.name",
)

# -- model --------------------------------------------------------------------------------------

MODEL_RESPONDED_KEYS = ("gen_ai.response.model", "llm.response.model_name")
MODEL_REQUESTED_KEYS = ("gen_ai.request.model", "llm.request.model_name", "langfuse.observation.model.name")
# OpenInference's llm.model_name is already "response ?? request"; embedding/reranker names are fallbacks.
MODEL_FALLBACK_KEYS = ("llm.model_name", "embedding.model_name", "reranker.model_name")

# -- provider -----------------------------------------------------------------------------------

# Lower-cased legacy / vendor spellings -> OTel gen_ai.provider.name vocabulary.
PROVIDER_ALIASES = {
    "az.ai.openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "xai": "x_ai",
    "gemini": "gcp.gemini",
    "aws": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "google": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "vertex_ai": "gcp.vertex_ai",
    "openrouter": "openrouter",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "watsonx": "ibm.watsonx.ai",
    "moonshot": "moonshot_ai",
}

PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system")

# -- usage (OTel-inclusive semantics) ----------------------------------------------------------

USAGE_ALIASES = {
    "input_tokens": (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
        "llm.usage.prompt_tokens",
    ),
    "output_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
        "llm.usage.completion_tokens",
    ),
    "total_tokens": (
        "gen_ai.usage.total_tokens",
        "llm.usage.total_tokens",
        "llm.token_count.total",
    ),
    "cache_read_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
        "llm.usage.cache_read_input_tokens",
    ),
    "cache_write_tokens": (
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
        "llm.usage.cache_creation_input_tokens",
    ),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
        "llm.usage.reasoning_tokens",
    ),
}

# Langfuse usage_details keys (disjoint buckets) that are sub-buckets of input / output.
LANGFUSE_CACHE_READ_KEYS = ("input_cached_tokens", "cache_read_input_tokens", "input_cache_read", "cached_tokens")
LANGFUSE_CACHE_WRITE_KEYS = ("input_cache_creation", "cache_creation_input_tokens", "input_cache_write")
LANGFUSE_REASONING_KEYS = ("output_reasoning_tokens", "output_reasoning", "reasoning_tokens")

# -- cost (reported only) ------------------------------------------------------------------------

COST_INPUT_KEYS = ("llm.cost.prompt",)
COST_OUTPUT_KEYS = ("llm.cost.completion",)
COST_TOTAL_KEYS = ("llm.cost.total", "gen_ai.usage.cost")

# -- context: route, prompt, environment, user, session, tags --------------------------------------

# Our own keys are looked up on the span first, then on the resource.
ROUTE_KEYS = ("sightline.route", "traceloop.workflow.name", "gen_ai.workflow.name", "http.route")
PROMPT_NAME_KEYS = (
    "sightline.prompt.name",
    "traceloop.prompt.key",
    "langfuse.observation.prompt.name",
    "langfuse.prompt.name",
)
PROMPT_VERSION_KEYS = (
    "sightline.prompt.version",
    "traceloop.prompt.version",
    "llm.prompt_template.version",
    "langfuse.observation.prompt.version",
    "langfuse.prompt.version",
)
ENVIRONMENT_KEYS = (
    "sightline.environment",
    "langfuse.environment",
    "deployment.environment.name",
    "deployment.environment",
)
RELEASE_KEYS = ("sightline.release", "langfuse.release", "langfuse.version", "service.version")
USER_KEYS = (
    "sightline.user.id",
    "user.id",
    "enduser.id",
    "langfuse.user.id",
    "traceloop.association.properties.user_id",
    "gen_ai.user",
    "llm.user",
)
SESSION_KEYS = (
    "sightline.session.id",
    "session.id",
    "gen_ai.conversation.id",
    "langfuse.session.id",
    "traceloop.association.properties.session_id",
)
TAG_KEYS = ("sightline.tags", "tag.tags", "langfuse.trace.tags")
TRACE_NAME_KEYS = ("sightline.trace.name", "langfuse.trace.name")

# -- finish reasons -----------------------------------------------------------------------------------

FINISH_REASON_ALIASES = {
    "tool_calls": "tool_call",
    "function_call": "tool_call",
    "tool_use": "tool_call",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "safety": "content_filter",
    "recitation": "content_filter",
    "finish_reason_unspecified": "",
}

# -- tool / retrieval ---------------------------------------------------------------------------------

TOOL_NAME_KEYS = ("gen_ai.tool.name", "tool.name")
TOOL_CALL_ID_KEYS = ("gen_ai.tool.call.id", "tool_call.id", "tool.id")
TOOL_TYPE_KEYS = ("gen_ai.tool.type",)
TOOL_ARGUMENTS_KEYS = ("gen_ai.tool.call.arguments",)
TOOL_RESULT_KEYS = ("gen_ai.tool.call.result",)
RETRIEVAL_QUERY_KEYS = ("gen_ai.retrieval.query.text", "reranker.query")

# Raw (untyped) input / output, in precedence order after Langfuse's observation input/output.
RAW_INPUT_KEYS = ("input.value", "traceloop.entity.input")
RAW_OUTPUT_KEYS = ("output.value", "traceloop.entity.output")

# -- request parameters -----------------------------------------------------------------------------

# Prefixes whose remainder becomes a request_params key (the model name is excluded separately).
REQUEST_PARAM_PREFIXES = ("gen_ai.request.", "gen_ai.openai.request.", "openai.request.")
REQUEST_PARAM_JSON_KEYS = ("llm.invocation_parameters", "langfuse.observation.model.parameters")
REQUEST_PARAM_FLAT_KEYS = {
    "gen_ai.is_streaming": "stream",
    "llm.is_streaming": "stream",
    "llm.frequency_penalty": "frequency_penalty",
    "llm.presence_penalty": "presence_penalty",
    "llm.top_k": "top_k",
}
