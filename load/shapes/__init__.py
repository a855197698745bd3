"""Load shapes (LoadTestShape classes), one per file, combined with a profile: ``-f profile.py,shape.py``."""
