"""Training: PaddleSeg models, our training loop and losses, export to Paddle inference and ONNX
(with parity checks), and Seg-Grad-CAM explanations on the trained weights."""
