"""Object detection (CenterNet-style, on EfficientNet-Lite0), packaged for SageMaker training and batch transform."""
