import pytest

import templates


@pytest.fixture(scope="session")
def bodies() -> dict[str, str]:
    """Stack key -> rendered YAML."""
    return {key: templates.render(t) for key, t in templates.build_all().items()}


@pytest.fixture(scope="session")
def docs(bodies) -> dict[str, dict]:
    """Stack key -> the template as CloudFormation would read it."""
    return {key: templates.load_yaml(body) for key, body in bodies.items()}
