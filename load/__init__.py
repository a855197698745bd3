"""Load profiles for container registries, run with Locust (imported only in locust processes).

``python -m load PROFILE`` runs one profile (see ``load.cli``); ``python -m load.bench`` compares
two registries side by side. Modules without Locust (measure, recorder, summary, slo, images,
workloads, seeding) are importable anywhere.
"""
