"""`python -m embedscope.ui`: the web interface as a service (settings from EMBEDSCOPE_UI_* and flags)."""

import argparse
import sys

from embedscope.cli import run
from embedscope.ui.cli import add_arguments, handle

parser = argparse.ArgumentParser(prog="python -m embedscope.ui", description="embedscope web interface")
add_arguments(parser)
parser.set_defaults(handler=handle)
sys.exit(run(parser.parse_args()))
