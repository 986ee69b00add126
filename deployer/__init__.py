"""The change-set deployer behind ``deploy.py``.

Plain functions over boto3 clients, one small module per concern:

- ``aws``        the one client factory (retry mode, region, endpoint from the environment)
- ``plan``       which stacks, in which order, with which template/parameters/tags
- ``stacks``     a stack's current state: describe, wait, recover, "unchanged?"
- ``changesets`` create / wait / describe / execute / delete a change set; S3 for big templates
- ``events``     stream a stack's events while it changes; find the event that caused a failure
- ``guard``      refuse a change that would remove or alter an export another stack imports
- ``preflight``  credentials, account, region, and the image in ECR
- ``engine``     runs the stacks in graph order, independent ones at the same time
- ``output``     terminal / CI / GitHub step summary printing
- ``commands``   the verbs (deploy, diff, list); ``cli`` maps argv to them
"""
