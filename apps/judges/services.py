"""Writes for judges: pinned configurations, their secrets, and building the client for one."""

from __future__ import annotations

import os

from django.core.exceptions import ValidationError

from apps.judges.llm import JudgeConfig, OpenAIJudge
from apps.judges.models import Judge
from apps.judges.secrets import secret_decrypt, secret_encrypt
from apps.projects.models import Project


def judge_create(
    *,
    project: Project,
    name: str,
    base_url: str,
    model: str,
    api_key: str = "",
    api_key_env: str = "",
    timeout_s: float = 30.0,
    input_price_per_mtok: float | None = None,
    output_price_per_mtok: float | None = None,
) -> Judge:
    """Pin a judge: endpoint, exact model, and where its API key comes from (env var, or stored encrypted)."""
    if not model.strip():
        raise ValidationError({"model": "pin the judge's model exactly, e.g. gpt-4o-2024-08-06"})
    if Judge.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"a judge named {name!r} exists already"})
    if timeout_s <= 0:
        raise ValidationError({"timeout_s": "must be positive"})
    return Judge.objects.create(
        project=project,
        name=name,
        base_url=base_url.rstrip("/"),
        model=model.strip(),
        api_key_env=api_key_env.strip(),
        api_key_encrypted=secret_encrypt(api_key) if api_key else "",
        timeout_s=timeout_s,
        input_price_per_mtok=input_price_per_mtok,
        output_price_per_mtok=output_price_per_mtok,
    )


def judge_api_key(judge: Judge) -> str:
    """Return the judge's API key: the named environment variable wins over the stored secret."""
    if judge.api_key_env and os.environ.get(judge.api_key_env):
        return os.environ[judge.api_key_env]
    if judge.api_key_encrypted:
        return secret_decrypt(judge.api_key_encrypted)
    return ""


def judge_client_for(judge: Judge) -> OpenAIJudge:
    """Build the OpenAI-compatible client for a pinned judge."""
    config = JudgeConfig(
        base_url=judge.base_url,
        api_key=judge_api_key(judge) or "no-key",
        model=judge.model,
        timeout_s=judge.timeout_s,
        input_price_per_mtok=judge.input_price_per_mtok,
        output_price_per_mtok=judge.output_price_per_mtok,
    )
    return OpenAIJudge(config)
