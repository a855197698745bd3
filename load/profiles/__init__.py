"""One Locust workload per file; pass the file to ``locust -f`` (or run ``python -m load PROFILE``)."""
