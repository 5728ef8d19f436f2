"""Text-fidelity evaluation (report §5): reference reconstructions, the eval runner, and
the OmniDoc-TokenBench-style benchmark builder."""
