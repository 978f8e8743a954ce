from engines.pbehavior.engine import PbehaviorEngine
from framework import run

run(PbehaviorEngine)
