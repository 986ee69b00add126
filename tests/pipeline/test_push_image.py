"""scripts/push_image.sh, the build job's push to one registry, with fake ``docker`` and ``aws`` on PATH: it
pushes the one local image and reports the digest the registry holds, and on a re-run of the same commit
(the immutable tag already there) pushes nothing and reports the digest already there."""

from __future__ import annotations

import os
import subprocess

import pytest

from testkit.tools import ROOT

SCRIPT = ROOT / "scripts" / "push_image.sh"
DIGEST = "sha256:" + "ab" * 32

# aws ecr describe-images: the digest once pushed (the file "pushed" exists), AWS's error before.
FAKE_AWS = f'''#!/usr/bin/env bash
echo "aws $*" >> "$CALLS"
if [ -e "$STATE/pushed" ]; then echo {DIGEST}; exit 0; fi
echo "An error occurred (ImageNotFoundException) when calling the DescribeImages operation" >&2
exit 254
'''
FAKE_DOCKER = '''#!/usr/bin/env bash
echo "docker $*" >> "$CALLS"
if [ "$1" = push ]; then touch "$STATE/pushed"; fi
'''


@pytest.fixture
def world(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("aws", FAKE_AWS), ("docker", FAKE_DOCKER)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "STATE": str(tmp_path),
           "CALLS": str(tmp_path / "calls"), "GITHUB_OUTPUT": str(tmp_path / "output"),
           "REGISTRY": "111111111111.dkr.ecr.us-east-1.amazonaws.com", "REPOSITORY": "ia-comafi-staging-api",
           "IMAGE_TAG": "0123abc"}
    return tmp_path, env


def run(env):
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)


def calls(tmp):
    return (tmp / "calls").read_text().splitlines()


def test_pushes_the_local_image_and_reports_the_registrys_digest(world):
    tmp, env = world
    assert run(env).returncode == 0
    image = "111111111111.dkr.ecr.us-east-1.amazonaws.com/ia-comafi-staging-api:0123abc"
    docker = [c for c in calls(tmp) if c.startswith("docker")]
    assert docker == [f"docker tag api:0123abc {image}", f"docker push {image}"]
    assert (tmp / "output").read_text() == f"digest={DIGEST}\n"


def test_a_rerun_pushes_nothing_and_reports_the_digest_already_there(world):
    tmp, env = world
    (tmp / "pushed").touch()
    done = run(env)
    assert done.returncode == 0
    assert "already in ECR" in done.stdout
    assert not [c for c in calls(tmp) if c.startswith("docker")]
    assert (tmp / "output").read_text() == f"digest={DIGEST}\n"


def test_a_missing_input_stops_it_before_any_call(world):
    tmp, env = world
    del env["REPOSITORY"]
    assert run(env).returncode != 0
    assert not (tmp / "calls").exists()
