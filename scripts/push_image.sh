#!/usr/bin/env bash
# The build job's push of the one image it built (local tag api:$IMAGE_TAG) to one registry:
# $REGISTRY/$REPOSITORY:$IMAGE_TAG, unless that immutable tag is already there (a re-run of the
# same commit); writes the digest the registry holds for it to $GITHUB_OUTPUT as digest=sha256:...
set -euo pipefail
: "${REGISTRY:?}" "${REPOSITORY:?}" "${IMAGE_TAG:?}" "${GITHUB_OUTPUT:?}"

digest() {
  aws ecr describe-images --repository-name "$REPOSITORY" --image-ids "imageTag=$IMAGE_TAG" \
    --query 'imageDetails[0].imageDigest' --output text
}

if existing=$(digest 2>/dev/null); then
  echo "$REPOSITORY:$IMAGE_TAG is already in ECR ($existing); not pushing it again"
else
  docker tag "api:$IMAGE_TAG" "$REGISTRY/$REPOSITORY:$IMAGE_TAG"
  docker push "$REGISTRY/$REPOSITORY:$IMAGE_TAG"
  existing=$(digest)
fi
echo "digest=$existing" >> "$GITHUB_OUTPUT"
