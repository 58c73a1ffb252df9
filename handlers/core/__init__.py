"""The workflow's core: configuration, key naming, image logic and AWS access, one module each."""
