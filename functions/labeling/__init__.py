"""Lambda-side code of autolabel: thin handlers over plain labeling logic.

Uploaded to AWS Lambda as is (the folder `functions/` is the code asset);
its only dependencies are boto3 and Powertools for AWS Lambda with pydantic (the stack's
Powertools layer, infra/layers/powertools).
"""
