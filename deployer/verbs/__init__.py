"""The operator's verbs of deploy.py, one module per verb or small group (see deployer/__init__.py)."""
