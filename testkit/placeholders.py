"""params files' placeholders (templates/params.py ``placeholder``) filled in, for runs that test something else.

params/prod.yaml ships placeholders so that it renders on a fresh clone, and deploy.py refuses every verb
that calls AWS while one is left. A test of status, logs, a deploy... runs prod as an operator would once
they are set: ``run([*PROD, "status"])``. The values name nothing real either (RFC 2606's .test, a zone id
of Route 53's shape). A placeholder added to the schema without a value here fails every such run (KeyError).
"""

from __future__ import annotations

from templates import params

FILLED = {
    "domain_name": "api.ia-comafi.test",
    "hosted_zone_id": "Z0123456789TESTZONE",
    "account_id": "123456789012",
    "alarm_email": "oncall@ia-comafi.test",  # moto's; the harness pins LocalStack's own where it runs
}


def filled(env: str) -> list[str]:
    """``env`` and one ``-p key=value`` for each placeholder its params file still holds."""
    left = params.placeholders_left(params.load_params(env).values)
    return [env, *(arg for key in left for arg in ("-p", f"{key}={FILLED[key]}"))]


PROD = filled("prod")
STAGING = filled("staging")
