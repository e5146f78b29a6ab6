"""Text classification on sentence embeddings, packaged for SageMaker training and batch transform."""
