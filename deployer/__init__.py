"""The deployer behind ``deploy.py``: ``python deploy.py ENV [VERB] [options]`` (``--help`` on any verb).

Two layers, and the pieces they share. Imports go downwards only: verbs use the engine, never the reverse.

``deployer/engine/`` - the change-set engine: plain functions over boto3 clients, so tests point them at
LocalStack, moto or a botocore Stubber.

- ``plan``        which stacks, in which order, with which template, parameters and tags (no AWS)
- ``stacks``      a stack as deployed (the one DescribeStacks reader), waiting, deleting, "unchanged?"
- ``changesets``  create / wait / describe / execute / delete a change set; S3 for big templates
- ``events``      stream a stack's events while it changes; find the event that caused a failure
- ``guard``       refuse a change that would break an export another stack imports
- ``adoption``    bring resources an earlier destroy retained back into a new stack (IMPORT)
- ``preflight``   who and where we are, the image in ECR, the CI access stack's execution role
- ``outcome``     ``Mode`` (execute, review, diff) and ``Outcome`` of each stack, ``Result``
- ``flow``        one stack's deploy, and the one change-set flow (diff -> review -> confirm -> execute)
                  that deploy, adoption and rollback share
- ``schedule``    ``run_graph``: every stack at once, each as soon as the stacks it imports from are done

``deployer/verbs/`` - what the operator runs, one module per verb (or small group), each declaring its
``Verb`` (help, options, examples): ``deploy`` (deploy, diff, list), ``status`` (status, outputs),
``health``, ``logs``, ``rollback``, ``restart`` (with ``ecs_service``, the ECS reads and waits),
``secrets``, ``destroy``, ``cost`` (the monthly estimate, no AWS); ``verb`` is what a verb is and the checks
verbs share.

Shared: ``cli`` (argparse; ``VERBS`` is the table, one entry per verb), ``context`` (a run's params,
graph, printer, and its one AWS session), ``aws`` (the client factory: retries, region), ``output``
(printing), ``progress`` (on a terminal, a live line per stack while stacks change: ``out.progress(keys)``),
``errors`` (BadInput -> exit 2, DeployError -> exit 1).
"""
