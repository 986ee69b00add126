"""The deployer behind ``deploy.py``: ``python deploy.py ENV [VERB] [options]`` (``--help`` on any verb).

Layers, lowest first; a module imports only from its own layer or one below it (tests/deployer/test_layers.py
builds the import graph from the code and fails on a cycle or an import that runs up):

    errors, aws  <  engine  <  output, progress  <  context  <  verbs  <  cli

``deployer/engine/`` - the change-set engine and every AWS read or write: plain functions over boto3 clients,
so tests point them at LocalStack, moto or a botocore Stubber. It never imports the terminal: it prints
through the ``Reporter`` and feeds the ``Tracker`` that ``report`` defines, handed in by whoever runs it.

- ``plan``        which stacks, in which order, with which template, parameters and tags (no AWS)
- ``stack_status`` what each CloudFormation status means (busy, stable, succeeded, failed...), for everyone
- ``report``      the ``Reporter`` and ``Tracker`` shapes the engine speaks to, ``NULL``, the text tables
- ``stacks``      a stack as deployed (the one DescribeStacks reader), waiting, deleting, "unchanged?"
- ``changesets``  create / wait / describe / execute / delete a change set; S3 for big templates
- ``events``      stream a stack's events while it changes; feed a live view (``watch``); find the cause
- ``guard``       refuse a change that would break an export another stack imports
- ``stack_policy`` the policy that keeps stateful resources from replacement, and the refusal of a change set
- ``rollback_triggers`` the alarms an update is watched by, and which one rolled it back
- ``adoption``    bring resources an earlier destroy retained back into a new stack (IMPORT)
- ``preflight``   who and where we are, the image in ECR, the CI access stack's execution role
- ``image``       which image compute runs: one digest, decided once per run (given, kept or first create)
- ``outcome``     ``Mode`` (execute, review, diff) and ``Outcome`` of each stack, ``Result``
- ``flow``        one stack's deploy, and the one change-set flow (diff -> review -> confirm -> execute)
                  that deploy, adoption and rollback share
- ``schedule``    ``run_graph``: every stack at once, each as soon as the stacks it imports from are done
- ``drift``       drift detection on every stack at once, and its table
- ``ecs_service`` the API's ECS service: tasks, deployments, why a task stopped, its last log lines, target
                  health, a restart and its wait
- ``alarms``      the project's CloudWatch alarms as they stand
- ``logs``        the container log group (FilterLogEvents, follow)
- ``ecr``         the repository's recent tags (what a rollback can offer)
- ``risk``        the risk classes of a plan (data-loss, access, availability, cost): one rule table each
- ``cfn_events``  what CloudFormation's own validation found (DescribeEvents), by change set or operation
- ``plan_file``   the plan an approver reads and apply executes: its records, digest, Markdown, refusals
- ``ledger``      the release ledger: one locked record per executed release, read back
- ``promotion``   the promotion source's ledger (staging's, for prod): the succeeded release of a digest
- ``pricing``     the monthly estimate (no AWS): ``PRICED``, a table of what each resource type bills,
                  ``monthly_estimate(rendered, params)``, and ``prices.yaml``

``output`` (the ``Printer``: lines, tables, the step summary; ``progress(keys)``) and ``progress`` (on a
terminal, a live line per stack, drawn with rich from what the engine feeds it; the status colours).
``context``: a run's params, graph, printer, and its one AWS session.

``deployer/verbs/`` - what the operator runs, one module per verb (or small group), each declaring its
``Verb`` (help, options, examples): ``deploy`` (deploy, diff, list), ``status`` (status, outputs),
``release`` (plan, apply, releases),
``health``, ``logs``, ``rollback``, ``restart``, ``secrets``, ``destroy``, ``drift``, ``cost`` (prints the
monthly estimate). Verbs call the engine, never each other; ``verb`` is what a verb is and what several
verbs share (argument types, checks, a compute output, a restart).

``cli`` (argparse; ``VERBS`` is the table, one entry per verb); ``aws`` (the client factory: retries, region);
``errors`` (BadInput -> exit 2, DeployError -> exit 1).
"""
