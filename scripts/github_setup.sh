#!/usr/bin/env bash
# The GitHub side of the pipeline's trust, applied idempotently with gh (run it again at will):
# one GitHub environment per release environment (contract.RELEASE_ENVIRONMENTS) and one for prod's plan
# job (contract.plan_environment: prod-plan, no reviewers), each deployable only from the branch its
# params file names (github_branch: master), and prod's apply job held for a reviewer who is not the one
# who pushed (prevent_self_review).
#
#   bash scripts/github_setup.sh ORG/REPO user:LOGIN [team:SLUG ...]
#
# Needs gh logged in as a repository admin. In a private repository, required reviewers need GitHub
# Enterprise (Cloud or Server); GitHub Pro or Team gives environments and their branch rule only.
# The deploy and plan roles trust exactly these environments' jobs of .github/workflows/deploy.yml on that branch
# (templates/github_oidc.py); tests/pipeline/test_github_setup.py holds the three to the same names.
set -euo pipefail

if [ $# -lt 2 ] || [[ "$1" != */* ]]; then
  echo "usage: $0 ORG/REPO user:LOGIN|team:SLUG [...]  (prod's required reviewers)" >&2
  exit 2
fi
repo=$1
shift
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}

reviewers=()
for who in "$@"; do
  case $who in
    user:*) reviewers+=("{\"type\":\"User\",\"id\":$(gh api "users/${who#user:}" --jq .id)}") ;;
    team:*) reviewers+=("{\"type\":\"Team\",\"id\":$(gh api "orgs/${repo%%/*}/teams/${who#team:}" --jq .id)}") ;;
    *) echo "$0: reviewer '$who' is not user:LOGIN or team:SLUG" >&2; exit 2 ;;
  esac
done

# "env branch protected" per release environment, read from the params files and contract.py.
environments=$(cd "$here" && "$python" -c '
import contract
from templates import params
for env in contract.RELEASE_ENVIRONMENTS:
    p = params.load_params(env)
    print(p["github_environment"], p["github_branch"], int(env == contract.PRODUCTION))
    if env == contract.PRODUCTION:  # its plan job: reviewers approve the apply, not the plan
        print(contract.plan_environment(p["github_environment"]), p["github_branch"], 0)
')

while read -r environment branch protected; do
  policy='"deployment_branch_policy":{"protected_branches":false,"custom_branch_policies":true}'
  if [ "$protected" = 1 ]; then
    list=$(IFS=,; echo "${reviewers[*]}")
    body="{\"wait_timer\":0,\"prevent_self_review\":true,\"reviewers\":[$list],$policy}"
  else
    body="{\"wait_timer\":0,\"prevent_self_review\":false,\"reviewers\":[],$policy}"
  fi
  echo "environment $environment: deployable from $branch only$([ "$protected" = 1 ] && echo ", required reviewers, no self-review")"
  gh api --method PUT "repos/$repo/environments/$environment" --input - <<<"$body" >/dev/null

  # Exactly one branch policy: the deploy branch (others removed, the missing one added).
  policies=$(gh api "repos/$repo/environments/$environment/deployment-branch-policies" \
    --jq '.branch_policies[] | "\(.id) \(.type // "branch") \(.name)"')
  have=0
  while read -r id type name; do
    [ -z "${id:-}" ] && continue
    if [ "$type" = branch ] && [ "$name" = "$branch" ]; then
      have=1
    else
      gh api --method DELETE "repos/$repo/environments/$environment/deployment-branch-policies/$id" >/dev/null
    fi
  done <<<"$policies"
  if [ "$have" = 0 ]; then
    gh api --method POST "repos/$repo/environments/$environment/deployment-branch-policies" \
      -f name="$branch" -f type=branch >/dev/null
  fi
done <<<"$environments"
