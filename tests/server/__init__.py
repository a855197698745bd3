"""Tests of the reference registry: a real server on a loopback port, real HTTP."""
