"""Models: finding pretrained ones, saved model directories and the forms they load as (torch, int8,
ONNX), running them over features, and their model cards."""
