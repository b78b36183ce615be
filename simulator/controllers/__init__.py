"""In-process controllers of a simulated cluster: scheduler, kubelet, workloads, node lifecycle."""
