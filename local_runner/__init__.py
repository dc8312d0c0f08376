"""`make local`: the synthesized stack served on this machine, with moto for S3 and SQS.

See `python -m local_runner --help` and the README's "Running locally".
"""
