"""A small Kubernetes emulator for tests: API server, kubelet and a container runtime."""
