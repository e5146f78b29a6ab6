"""The autolabel CDK app: one stack composed of small constructs, no business logic."""
