"""Configuration read from the environment (names as in the ECS task definition)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the container gets from the task definition.

    The first nine names are the plain environment variables of the task
    definition, the next four come from Secrets Manager as environment
    variables too. The rest are optional knobs with production defaults.
    """

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    aws_default_region: str = "us-east-1"
    bedrock_model_id: str = "anthropic.claude-3-haiku-20240307-v1:0"
    cache_ttl_default: int = Field(default=3600, gt=0, description="TTL (s) of cached answers")
    cache_ttl_benefits: int = Field(default=86400, gt=0, description="TTL (s) of cached catalogue queries")
    cache_enabled: bool = True
    s3_bucket_unhandled: str | None = None
    # LangSmith tracing: LangChain reads these from the environment by itself; app.tracing
    # builds the client they describe, with the redacting anonymizer, and installs it.
    # Defaults as in the task definition, except tracing (contract.LOCAL_DEFAULTS_DIFFER).
    langchain_tracing_v2: bool = False
    langchain_endpoint: str | None = "https://api.smith.langchain.com"
    langchain_project: str | None = "ia-comafi"
    langchain_api_key: SecretStr | None = None

    redis_host: str | None = None
    redis_port: int = Field(default=6379, gt=0, lt=65536)
    redis_password: SecretStr | None = None
    # TLS with certificate verification (the task's REDIS_SSL; the Redis host is outside
    # the VPC). On by default, as in prod: a plaintext local Redis needs REDIS_SSL=false.
    redis_ssl: bool = True
    # PEM file of the CAs that may sign the Redis server's certificate; unset: the
    # system's trust store (the image's ca-certificates), else certifi's.
    redis_ca_bundle: str | None = None
    redis_timeout_seconds: float = Field(default=0.5, gt=0)
    # After a Redis failure, requests skip Redis for this long before trying
    # again, so an outage does not add a timeout to every request.
    redis_retry_seconds: float = Field(default=5.0, ge=0)

    # A request body must arrive whole within this (app.middleware; a slow body gets a 408).
    request_body_timeout_seconds: float = Field(default=10.0, gt=0, lt=60)
    model_timeout_seconds: float = Field(default=25.0, gt=0)
    model_max_tokens: int = Field(default=600, gt=0)
    max_benefits_in_prompt: int = Field(default=8, gt=0)
    # /docs, /redoc and /openapi.json: off in the task (the schema is public otherwise).
    api_docs: bool = False

    @field_validator("redis_host", "s3_bucket_unhandled", "langchain_endpoint", "langchain_project",
                     "redis_ca_bundle", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("redis_password", "langchain_api_key", mode="before")
    @classmethod
    def _blank_secret_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value:
            return None
        return value

    @property
    def cache_configured(self) -> bool:
        return self.cache_enabled and self.redis_host is not None

