"""Image classification by fine-tuning EfficientNet-Lite0, packaged for SageMaker training and batch transform."""
