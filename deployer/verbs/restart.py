"""`restart`: ECS force-new-deployment, then wait until the new tasks serve (the original
CDK design's `aws ecs update-service --force-new-deployment`). The ECS calls are in engine/ecs_service.py."""

from __future__ import annotations

from deployer.errors import EXIT_OK
from deployer.verbs.verb import Verb, restart_service


def restart_cmd(ctx, args) -> int:
    """The original CDK design's `aws ecs update-service --force-new-deployment`, waiting until the new tasks serve."""
    restart_service(ctx)
    ctx.out.line("restarted", colour="green")
    return EXIT_OK


RESTART = Verb("restart", restart_cmd, "ECS force-new-deployment, then wait until the service is stable",
               ("python deploy.py prod restart",),
               notes="Tasks read the app secret when they start: restart after changing it by hand.")
