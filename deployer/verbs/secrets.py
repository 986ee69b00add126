"""`secrets set KEY=VALUE ...` and `secrets keys`: the app secret's JSON, changed one key at a time.

The original CDK design's `put-secret-value --secret-string '{...}'` replaces the whole JSON: a key left out is gone,
and ECS then refuses to start any task (the task definition reads every key). Here a set reads the
current JSON, changes only the keys named, writes it back, and restarts the service so tasks read it.

Which keys are allowed comes from one place, ``templates.contract.SECRET_KEYS`` (the keys the task
definition reads). No value is ever printed, logged or put in an error message.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass

import contract
from deployer.engine import ecs_service
from deployer.errors import EXIT_OK, BadInput, DeployError
from deployer.output import table
from deployer.verbs.verb import Verb, restart_service

FROM_STDIN = "-"


@dataclass(frozen=True)
class Assignment:
    key: str
    value: str | None  # None: read from stdin (KEY=-)


def allowed_text() -> str:
    return ", ".join(contract.SECRET_KEYS)


def parse_assignment(text: str) -> Assignment:
    """"KEY=VALUE" or "KEY=-". Raises BadInput naming the key (never the value) and the allowed keys."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise BadInput(f"secrets set: {key or text[:40]!r} is not KEY=VALUE (or KEY=- to read the value from stdin);"
                       f" keys: {allowed_text()}")
    if key not in contract.SECRET_KEYS:
        raise BadInput(f"secrets set: unknown key {key!r}: the task definition does not read it; "
                       f"allowed: {allowed_text()}")
    return Assignment(key, None if value == FROM_STDIN else value)


def parse_assignments(texts: list[str]) -> list[Assignment]:
    if not texts:
        raise BadInput(f"secrets set needs at least one KEY=VALUE (or KEY=-); keys: {allowed_text()}")
    parsed = [parse_assignment(t) for t in texts]
    keys = [a.key for a in parsed]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise BadInput(f"secrets set: {', '.join(twice)} given more than once; allowed: each key once")
    from_stdin = [a.key for a in parsed if a.value is None]
    if len(from_stdin) > 1:
        # Standard input holds one value: which line is whose would be a guess.
        raise BadInput(f"secrets set: {', '.join(from_stdin)} all read from stdin; allowed: one KEY=- per run")
    return parsed


def read_stdin_value(key: str, stdin=None, prompt: Callable[[str], str] | None = None) -> str:
    """The value of KEY=-: typed without echo on a terminal, else all of stdin minus its final newline."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        try:
            value = (prompt or getpass.getpass)(f"{key} (not echoed): ")
        except EOFError:
            value = ""
    else:
        value = stdin.read()
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
    if value == "":
        # Almost always a mistake (an unset variable piped in); to set an empty value, say KEY= explicitly.
        raise BadInput(f"secrets set: {key}=- read an empty value from stdin; allowed: a non-empty value, "
                       f"or {key}= to set it empty on purpose")
    return value


def resolve(assignments: list[Assignment], stdin=None, prompt: Callable[[str], str] | None = None
            ) -> dict[str, str]:
    return {a.key: a.value if a.value is not None else read_stdin_value(a.key, stdin, prompt)
            for a in assignments}


def secret_id(project: str) -> str:
    return contract.resource_name("secret", project)


def read(sm, secret: str) -> dict[str, str]:
    try:
        text = sm.get_secret_value(SecretId=secret)["SecretString"]
    except sm.exceptions.ResourceNotFoundException:
        raise DeployError(f"secret {secret} does not exist; deploy the data stack first") from None
    except KeyError:
        raise DeployError(f"secret {secret} holds binary data, not a JSON object; fix it in the console") from None
    try:
        current = json.loads(text)
    except ValueError:
        current = None  # the parser's message quotes the text: never show it
    if not isinstance(current, dict):
        raise DeployError(f"secret {secret} is not a JSON object; refusing to overwrite it (fix it in the console)")
    return current


def merge(current: dict[str, str], updates: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The current object with ``updates`` applied (every other key kept) and the keys whose value changed."""
    merged = dict(current)
    changed = [k for k, v in updates.items() if current.get(k) != v]
    merged.update(updates)
    return merged, changed


def set_values(sm, secret: str, updates: dict[str, str]) -> list[str]:
    """Merge ``updates`` into the secret's JSON; returns the keys that changed (nothing written if none)."""
    merged, changed = merge(read(sm, secret), updates)
    if changed:
        sm.put_secret_value(SecretId=secret, SecretString=json.dumps(merged, sort_keys=True))
    return changed


def template_values() -> dict[str, str]:
    """The values the data stack's template puts in the secret at creation (placeholders), by key."""
    return {key: value for key, value in contract.SECRET_KEYS.items() if value is not None}


def key_rows(current: dict[str, str]) -> list[list[str]]:
    """[key, state] for the keys the task definition reads and any other key present. Never a value."""
    initial = template_values()
    rows = []
    for key in contract.SECRET_KEYS:
        if key not in current:
            state = "MISSING: ECS cannot start a task until it is set"
        elif key in initial and current[key] == initial[key]:
            state = "still the template's initial value (never set)"
        elif current[key] == "":
            state = "set (empty)"
        else:
            state = "set"
        rows.append([key, state])
    unread = sorted(set(current) - set(contract.SECRET_KEYS))
    rows += [[key, "present, not read by the task definition"] for key in unread]
    return rows


# The secret's REDIS_PORT is where the app connects; params' redis_port is the only port the tasks' security
# group lets out to besides 443 (templates/compute.py). They are set apart, so they can drift apart.
REDIS_PORT_KEY = "REDIS_PORT"
REDIS_PORT_PARAM = "redis_port"


def redis_port_warning(secret_value: str | None, params) -> str | None:
    """A warning when the secret's REDIS_PORT is not params' redis_port (the egress rule); None when they agree
    or the secret holds no port yet. Like every secret value, the secret's port is not printed."""
    if secret_value is None:
        return None
    expected = str(params[REDIS_PORT_PARAM])
    if secret_value.strip() == expected:
        return None
    return (f"warning: the secret's {REDIS_PORT_KEY} is not params/{params.env}.yaml's {REDIS_PORT_PARAM} "
            f"({expected}): the tasks' security group lets out only port {expected} (and 443), so the app cannot "
            f"reach Redis on another; set them alike (secrets set {REDIS_PORT_KEY}={expected}, or change "
            f"{REDIS_PORT_PARAM} and deploy)")


# ---- the verb ----

def secrets_cmd(ctx, args) -> int:
    if args.action is None:  # optional for argparse only, so that every verb of cli's table parses with ENV alone
        raise BadInput("secrets needs an action; allowed: set KEY=VALUE ... (KEY=- reads stdin), keys")
    if args.action == "keys":
        if args.assignments:
            raise BadInput(f"secrets keys takes no arguments, got {len(args.assignments)}; "
                           "to change values: secrets set KEY=VALUE ...")
    else:
        updates = resolve(parse_assignments(args.assignments))
    secret = secret_id(ctx.params.project)
    sm = ctx.aws().client("secretsmanager")
    if args.action == "keys":
        current = read(sm, secret)
        ctx.out.line(f"secret {secret} (names only; values are never printed):")
        ctx.out.block(table(["Key", "State"], key_rows(current)))
        _warn_redis_port(ctx, current.get(REDIS_PORT_KEY))
        return EXIT_OK
    if REDIS_PORT_KEY in updates:  # a warning, not a refusal: the operator may be about to change redis_port too
        _warn_redis_port(ctx, updates[REDIS_PORT_KEY])
    changed = set_values(sm, secret, updates)
    unchanged = sorted(set(updates) - set(changed))
    if unchanged:
        ctx.out.line(f"already set to that value: {', '.join(unchanged)}")
    if not changed:
        ctx.out.line("nothing changed: secret not written, service not restarted")
        return EXIT_OK
    ctx.out.line(f"secret {secret}: set {', '.join(changed)} (other keys kept)", colour="green")
    if args.no_restart:
        ctx.out.line(f"not restarted: running tasks keep the old values until `deploy.py {ctx.params.env} restart`")
        return EXIT_OK
    cluster, service = ecs_service.names(ctx.params.project)
    if ecs_service.describe(ctx.aws().client("ecs"), cluster, service) is None:
        ctx.out.line(f"service {service} is not deployed: its first tasks will read the new values")
        return EXIT_OK
    ctx.out.line("restarting so the tasks read the new values")
    restart_service(ctx)
    ctx.out.line("restarted", colour="green")
    return EXIT_OK


def _warn_redis_port(ctx, value: str | None) -> None:
    warning = redis_port_warning(value, ctx.params)
    if warning:
        ctx.out.line(warning, colour="yellow")


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("set", "keys"), help="set KEY=VALUE ... | keys")
    parser.add_argument("assignments", nargs="*", metavar="KEY=VALUE",
                        help="KEY=- reads the value from stdin (not echoed on a terminal)")
    parser.add_argument("--no-restart", action="store_true",
                        help="do not restart the service (tasks keep the old values until restart)")


SECRETS = Verb("secrets", secrets_cmd, "secrets set KEY=VALUE|KEY=- ... (merge, then restart) / secrets keys",
               ("python deploy.py prod secrets set REDIS_PASSWORD=-", "python deploy.py prod secrets keys"),
               _options, notes="Values are never printed. Allowed keys: " + ", ".join(contract.SECRET_KEYS) + ".")
