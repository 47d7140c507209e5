"""What one trial runs: a backbone, its LoRA, the DeepSpeed loop, and the Ray Tune trainable."""
