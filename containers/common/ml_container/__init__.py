"""What the SageMaker model containers share: the /opt/ml paths contract, the batch-transform
HTTP server and its JSON Lines parsing, training-job input validation and failure reporting,
the instance a training job runs on (instance.py), the embedding sketch, and (for the image
containers) the training device, which fails a GPU instance whose GPUs torch cannot use
(torch_runtime.py), image sources and the EfficientNet-Lite0 backbone.

Each module imports only what it needs, so the text container, which has no torch-vision
stack and no Pillow, can use the first few without installing the image containers' packages.
"""
