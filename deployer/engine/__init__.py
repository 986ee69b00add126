"""The change-set engine: plain functions over boto3 clients (see deployer/__init__.py for the map)."""
