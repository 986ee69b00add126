"""The image repository's reads beyond the pre-flight's (engine/preflight.py checks the one tag a run deploys)."""

from __future__ import annotations


def recent_tags(ecr, repository: str, limit: int = 10) -> list[str]:
    """The newest ``limit`` tags, newest first: what a rollback to a tag not in ECR can offer instead."""
    images = [i for page in ecr.get_paginator("describe_images").paginate(repositoryName=repository,
                                                                          filter={"tagStatus": "TAGGED"})
              for i in page.get("imageDetails", [])]
    images.sort(key=lambda i: i.get("imagePushedAt") or 0, reverse=True)
    return [t for i in images for t in i.get("imageTags", [])][:limit]
