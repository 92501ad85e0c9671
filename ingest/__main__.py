"""`python -m embedscope.ingest`: the ingestion worker as a service (settings from EMBEDSCOPE_INGEST_* and flags)."""

import argparse
import sys

from embedscope.cli import run
from embedscope.ingest.cli import add_arguments, handle

parser = argparse.ArgumentParser(prog="python -m embedscope.ingest", description="embedscope ingestion worker")
add_arguments(parser)
parser.set_defaults(handler=handle)
sys.exit(run(parser.parse_args()))
